/**
 * The plan of a GRPO run before it starts: the memory of each part (from the
 * recipe's model config, dtype, LoRA, batch, G and lengths; see
 * src/model/memory-plan.ts) and, from a short measured probe on the device
 * (src/model/probe.ts), an estimated time per step. `assertRunFits` refuses a
 * run that cannot fit, naming the settings to change, so a run is not killed
 * mid-step.
 */
import { join } from "node:path";
import { Engine, type EngineOptions } from "../engine/index.ts";
import { readHfConfig } from "../model/hf-config.ts";
import type { LlamaConfig } from "../model/llama.ts";
import { toLlamaConfig } from "../model/load.ts";
import { formatGiB, type MemoryPlan, MemoryPlanInput, memoryPlan } from "../model/memory-plan.ts";
import { layerFlops, type ProbeTimes, probeModel } from "../model/probe.ts";
import type { Recipe } from "./recipe.ts";

/** Prompt tokens assumed when the recipe sets no grpo.maxPromptTokens. */
export const ASSUMED_PROMPT_TOKENS = 512;

/** Sequences the local generator decodes together (LocalGenerator's maxBatch default). */
const DECODE_BATCH = 32;

export interface StepTime {
  /** Rollouts: every completion decoded to maxTokens (the slowest case). */
  generation_s: number;
  /** Reference and old-policy log-probs, the loss pass, forward and backward. */
  training_s: number;
  step_s: number;
  /** The probe's measurements the estimate scales from. */
  probe: ProbeTimes;
}

export interface RunPlan {
  recipe: string;
  device: string;
  model: { path: string; config: LlamaConfig };
  /** What the memory model was given (micro-batch rows, tokens per row, ...). */
  input: MemoryPlanInput & { rows: number; tokens: number };
  memory: MemoryPlan;
  /** Completions per step (prompts x G), and rows per training pass. */
  completions: number;
  /** Notes on assumptions (e.g. an assumed prompt length). */
  notes: string[];
  time: StepTime | null;
}

export interface PlanOptions {
  /** Device to plan for (default: the recipe's model.device, else cpu). */
  device?: string;
  /** Measure a probe on the device for the time estimate (default true). */
  probe?: boolean;
  /** Compute threads of the probe. */
  threads?: number;
}

/** The memory and (with a probe) time plan of the recipe's GRPO stage. */
export async function planRun(recipe: Recipe, options: PlanOptions = {}): Promise<RunPlan> {
  const g = recipe.grpo;
  if (!g) throw new Error(`plan: recipe ${recipe.name} has no grpo section (the plan covers GRPO runs)`);
  const path = recipe.model.path;
  const hf = await readHfConfig(join(path, "config.json")).catch((err: Error) => {
    throw new Error(
      `plan: model.path ${path}: ${err.message} (the plan reads the model's config.json; make a model with \`reasonrl model init\`)`,
    );
  });
  const config = toLlamaConfig(hf);
  const device = options.device ?? (recipe.model as { device?: string }).device ?? "cpu";
  const notes: string[] = [];
  let promptTokens = g.maxPromptTokens;
  if (promptTokens === undefined) {
    promptTokens = ASSUMED_PROMPT_TOKENS;
    notes.push(`prompts assumed ${ASSUMED_PROMPT_TOKENS} tokens (set grpo.maxPromptTokens to bound them)`);
  }
  const completions = g.promptsPerStep * g.groupSize;
  const lora = recipe.model.lora
    ? { rank: recipe.model.lora.rank, targets: recipe.model.lora.targets }
    : null;
  const dtype = (recipe.model as { dtype?: MemoryPlanInput["dtype"] }).dtype ?? "f32";
  const input = {
    dtype,
    lora,
    reference: g.loss.beta > 0,
    rows: g.microBatch ?? completions,
    tokens: promptTokens + g.maxTokens,
    chunkRows: g.chunkRows,
    kvSequences: Math.min(completions, DECODE_BATCH),
    kvPositions: promptTokens + g.maxTokens,
  };
  const memory = memoryPlan(config, input);
  let time: StepTime | null = null;
  if (options.probe ?? true) {
    const engine = new Engine({ threads: options.threads, device } as EngineOptions);
    const probe = await probeModel(engine, config, { dtype, lora, decodeRows: input.kvSequences });
    time = stepTime(config, probe, {
      completions,
      tokens: input.tokens,
      maxTokens: g.maxTokens,
      passes: 1 + (g.loss.beta > 0 ? 1 : 0) + (g.numIterations > 1 ? 1 : 0),
      iterations: g.numIterations,
    });
  }
  return { recipe: recipe.name, device, model: { path, config }, input, memory, completions, notes, time };
}

/**
 * A step's time from the probe: decoding `maxTokens` tokens for the
 * completions in batches of the probe's decode rows; training as `passes`
 * forward passes (the checkpointed loss pass's own, the reference's, the old
 * policy's) and `iterations` backward passes over every row, each layer
 * scaled from the probe by its FLOPs (so attention's T^2 is counted).
 */
export function stepTime(
  c: LlamaConfig,
  probe: ProbeTimes,
  s: { completions: number; tokens: number; maxTokens: number; passes: number; iterations: number },
): StepTime {
  const rounds = Math.ceil(s.completions / probe.decodeRows);
  const generation = rounds * s.maxTokens * (c.layers * probe.decodeLayer + probe.decodeHead);
  const scale = layerFlops(c, s.tokens) / layerFlops(c, probe.tokens); // one row vs the probe's
  const headScale = s.tokens / probe.tokens;
  const perRow =
    c.layers * scale * (s.passes * probe.layerForward + s.iterations * probe.layerTrain) +
    headScale * ((s.passes - 1) * probe.headForward + s.iterations * probe.headTrain);
  const training = s.completions * perRow;
  return { generation_s: generation, training_s: training, step_s: generation + training, probe };
}

/**
 * Throws, with the numbers and the settings to change, when the plan's peak
 * memory exceeds `availableBytes`.
 */
export function assertRunFits(plan: RunPlan, availableBytes: number): void {
  const m = plan.memory;
  if (m.total <= availableBytes) return;
  const fixes: string[] = [];
  const parsed = MemoryPlanInput.parse(plan.input);
  const fits = (change: Partial<typeof parsed>) =>
    memoryPlan(plan.model.config, { ...parsed, ...change }).total <= availableBytes;
  if (m.activations >= m.kvCache) {
    let rows = parsed.rows - 1;
    while (rows >= 1 && !fits({ rows })) rows--;
    if (rows >= 1) fixes.push(`grpo.microBatch: ${rows} (rows per training pass; now ${parsed.rows})`);
    for (const chunkRows of [256, 64]) {
      if (chunkRows < parsed.chunkRows && fits({ chunkRows })) {
        fixes.push(
          `grpo.chunkRows: ${chunkRows} (rows of the output projection at a time; now ${parsed.chunkRows})`,
        );
        break;
      }
    }
  } else {
    let kvSequences = parsed.kvSequences - 1;
    while (kvSequences >= 1 && !fits({ kvSequences })) kvSequences--;
    if (kvSequences >= 1)
      fixes.push(`at most ${kvSequences} completions decoded together (grpo.promptsPerStep x groupSize)`);
  }
  for (const dtype of ["bf16", "q8_0"] as const) {
    if (parsed.dtype !== dtype && parsed.dtype !== "q8_0" && fits({ dtype })) {
      fixes.push(`model.dtype: ${dtype} (frozen matrices; now ${parsed.dtype})`);
      break;
    }
  }
  if (!parsed.lora && fits({ lora: { rank: 16, targets: ["q", "k", "v", "o", "gate", "up", "down"] } }))
    fixes.push("model.lora: { rank: 16 } (train adapters instead of every weight)");
  if (fixes.length === 0) fixes.push("a shorter grpo.maxTokens or a smaller model");
  throw new Error(
    `plan: recipe ${plan.recipe} needs ${formatGiB(m.total)} at its peak, ${formatGiB(availableBytes)} is available ` +
      `(weights ${formatGiB(m.weights)}, adapters ${formatGiB(m.adapters)}, optimizer ${formatGiB(m.optimizer)}, ` +
      `reference ${formatGiB(m.reference)}, KV cache ${formatGiB(m.kvCache)}, activations ${formatGiB(m.activations)} ` +
      `per micro-batch of ${parsed.rows} x ${parsed.tokens} tokens). Change: ${fixes.join("; or ")}`,
  );
}
