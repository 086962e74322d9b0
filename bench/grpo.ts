/**
 * `reasonrl bench grpo`: GRPO steps of the demo's configuration (recipes/demo.yaml:
 * its model shape, prompts per step, group size, max tokens, temperature, beta,
 * rewards), timed and split into generation / rewards / training.
 *
 * The model is made from scratch (random weights), so every completion runs to
 * maxTokens: the slowest case of the demo's steps. Comparison point, measured
 * in the same run on the same batch: one plain SFT step (forward + backward +
 * AdamW, no rollouts, no reference pass), i.e. what the training part of
 * a GRPO step would cost if it were only next-token training.
 *
 * The run store's overhead: each step's metrics and rollouts are written to a
 * run store (src/track/store.ts) as a run writes them, timed apart from the
 * step (store_s, and store_frac: its share of the step with the write).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadProblems } from "../src/data/problems.ts";
import { DEMO_RECIPE } from "../src/demo/grpo-demo.ts";
import { AdamW, Engine } from "../src/engine/index.ts";
import { LocalGenerator } from "../src/generate/local.ts";
import { frozenCopy, trainableParameters } from "../src/model/llama.ts";
import { loadModel } from "../src/model/load.ts";
import { Tokenizer } from "../src/model/tokenizer.ts";
import { rewardFunction } from "../src/rewards/reward-function.ts";
import type { RewardFunction } from "../src/rewards/types.ts";
import { GrpoOptions, type GrpoStepInput, grpoStep } from "../src/rl/grpo-step.ts";
import { loadRecipe } from "../src/rl/recipe.ts";
import { ensureModelDir, trainingPrompts } from "../src/rl/run-setup.ts";
import { type SftExample, sftStep } from "../src/sft/sft-step.ts";
import { type RolloutRow, RunStore } from "../src/track/store.ts";
import type { TrainModels } from "../src/train/models.ts";
import { VerifierPool } from "../src/verify/pool.ts";

export interface GrpoBenchResult {
  bench: "grpo";
  steps: number;
  completions_per_step: number;
  /** Median wall time of a GRPO step. */
  step_s: number;
  gen_frac: number;
  reward_frac: number;
  train_frac: number;
  /** Prompt + completion tokens of a step's batch per second of the whole step. */
  tokens_per_s: number;
  /** Training part of the GRPO step: tokens per second (reference pass, loss, backward, AdamW). */
  train_tokens_per_s: number;
  /** The comparison point: one SFT step on the same sequences, tokens per second. */
  sft_tokens_per_s: number;
  /** Median time of writing a step's metrics and rollouts to the run store (one transaction). */
  store_s: number;
  /** The store's writes as a share of the steps with them (target: under 0.05). */
  store_frac: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export interface GrpoBenchOptions {
  /** Timed steps (after one warm-up step). */
  steps?: number;
  threads?: number;
  /** Compute device ("cpu", "vulkan:0", ...). */
  device?: string;
  log?: (line: string) => void;
}

/** The timings of one GRPO step. */
interface StepTimes {
  step: number;
  gen: number;
  reward: number;
  train: number;
  /** Prompt + completion tokens of the step's batch. */
  tokens: number;
  /** Writing the step to the run store. */
  store: number;
}

export async function benchGrpo(options: GrpoBenchOptions): Promise<GrpoBenchResult> {
  const log = options.log ?? (() => {});
  const recipe = await loadRecipe(DEMO_RECIPE);
  const g = recipe.grpo;
  if (!g || !("synthetic" in recipe.data.train)) throw new Error("bench grpo: the demo recipe changed shape");
  const dir = await mkdtemp(join(tmpdir(), "reasonrl-bench-grpo-"));
  const verifier = new VerifierPool();
  const store = RunStore.open(join(dir, "store", "run.sqlite"), { kind: "train", name: "bench-grpo" });
  try {
    await ensureModelDir({ ...recipe.model, path: dir });
    const tok = Tokenizer.fromDir(dir);
    const engine = new Engine({ threads: options.threads, device: options.device });
    const { config, weights } = await loadModel(engine, dir, { trainable: true });
    const models: TrainModels = {
      engine,
      config,
      policy: weights,
      reference: frozenCopy(engine, weights),
      generator: new LocalGenerator(engine, config, weights, { eosIds: [...tok.eosIds] }, tok),
      optimizer: new AdamW(engine, trainableParameters(weights), g.optimizer),
    };
    const train = await loadProblems(recipe.data.train, "train");
    const prompts = trainingPrompts(tok, recipe.prompt, train, g.maxPromptTokens, () => {});
    const reward = await rewardFunction(g.rewards, { verifier, warn: () => {} });
    const {
      steps: _s,
      promptsPerStep,
      maxPromptTokens: _m,
      rewards: _r,
      optimizer,
      schedule: _c,
      ...step
    } = g;
    log(
      `demo configuration: ${promptsPerStep} prompts x ${g.groupSize} completions, up to ${g.maxTokens} tokens`,
    );

    const times: StepTimes[] = [];
    let lastBatch: SftExample[] = [];
    for (let s = 0; s <= (options.steps ?? 3); s++) {
      const picked = Array.from(
        { length: promptsPerStep },
        (_, i) => prompts[(s * promptsPerStep + i) % prompts.length],
      );
      const timed = await timedStep(models, reward, GrpoOptions.parse(step), {
        prompts: picked,
        lr: optimizer.lr,
        seed: s,
      });
      timed.times.store = timedStoreWrite(store, s, timed.metrics, timed.samples);
      // step 0 warms up (graph shapes, allocations)
      if (s > 0) {
        times.push(timed.times);
        const t = timed.times;
        log(
          `step ${s}: ${t.step.toFixed(2)} s (generate ${t.gen.toFixed(2)}, reward ${t.reward.toFixed(2)}, train ${t.train.toFixed(2)}), ${t.tokens} tokens; store ${(1000 * t.store).toFixed(1)} ms`,
        );
      }
      lastBatch = timed.batch;
    }
    const sftTokensPerS = await sftComparison(models, lastBatch, g.chunkRows);
    return summarise(times, promptsPerStep * g.groupSize, sftTokensPerS);
  } finally {
    store.close();
    await verifier.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** One GRPO step, timed, with its batch (every completion and its prompt) as the reward function saw it. */
async function timedStep(
  models: TrainModels,
  reward: RewardFunction,
  options: GrpoOptions,
  input: GrpoStepInput,
): Promise<{ times: StepTimes; batch: SftExample[]; metrics: object; samples: readonly RolloutRow[] }> {
  let batch: SftExample[] = [];
  const recording: RewardFunction = async (inputs) => {
    batch = inputs.map((c, i) => ({
      prompt: input.prompts[Math.floor(i / options.groupSize)].ids,
      completion: Int32Array.from(c.completion.tokenIds),
    }));
    return reward(inputs);
  };
  const t0 = performance.now();
  const { metrics: m, samples } = await grpoStep(models, recording, options, input);
  const step = (performance.now() - t0) / 1000;
  const tokens = batch.reduce((n, b) => n + b.prompt.length + b.completion.length, 0);
  const times = { step, gen: m.generate_s, reward: m.reward_s, train: m.train_s, tokens, store: 0 };
  return { times, batch, metrics: m, samples };
}

/** Writes step `step` (its metrics and rollouts, one transaction) to the run store, as a run does; returns the seconds it took. */
function timedStoreWrite(
  store: RunStore,
  step: number,
  metrics: object,
  rollouts: readonly RolloutRow[],
): number {
  const t0 = performance.now();
  store.writeStep({ stage: "grpo", step, metrics, rollouts });
  return (performance.now() - t0) / 1000;
}

/** The comparison point: SFT steps (lr 0) on the last GRPO batch's sequences, tokens per second. */
async function sftComparison(models: TrainModels, batch: SftExample[], chunkRows: number): Promise<number> {
  const seconds: number[] = [];
  for (let k = 0; k < 3; k++) {
    const t0 = performance.now();
    await sftStep(models, batch, { lr: 0, chunkRows });
    if (k > 0) seconds.push((performance.now() - t0) / 1000);
  }
  return batch.reduce((n, b) => n + b.prompt.length + b.completion.length, 0) / median(seconds);
}

function summarise(times: StepTimes[], completions: number, sftTokensPerS: number): GrpoBenchResult {
  const sum = (f: (t: StepTimes) => number) => times.reduce((a, t) => a + f(t), 0);
  const total = sum((t) => t.step);
  return {
    bench: "grpo",
    steps: times.length,
    completions_per_step: completions,
    step_s: round(median(times.map((t) => t.step))),
    gen_frac: round(sum((t) => t.gen) / total),
    reward_frac: round(sum((t) => t.reward) / total),
    train_frac: round(sum((t) => t.train) / total),
    tokens_per_s: round(sum((t) => t.tokens) / total, 0),
    train_tokens_per_s: round(sum((t) => t.tokens) / sum((t) => t.train), 0),
    sft_tokens_per_s: round(sftTokensPerS, 0),
    store_s: round(median(times.map((t) => t.store)), 4),
    store_frac: round(sum((t) => t.store) / (total + sum((t) => t.store)), 4),
  };
}

function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function describeGrpoBench(r: GrpoBenchResult): string {
  return (
    `GRPO step ${r.step_s} s for ${r.completions_per_step} completions: generation ${(100 * r.gen_frac).toFixed(0)}%, ` +
    `rewards ${(100 * r.reward_frac).toFixed(0)}%, training ${(100 * r.train_frac).toFixed(0)}%; ${r.tokens_per_s} tokens/s overall; ` +
    `training ${r.train_tokens_per_s} tokens/s vs a plain SFT step ${r.sft_tokens_per_s} tokens/s; ` +
    `run store ${(1000 * r.store_s).toFixed(1)} ms a step (${(100 * r.store_frac).toFixed(2)}%)`
  );
}
