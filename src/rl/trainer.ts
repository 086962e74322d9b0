/**
 * The GRPO training loop around grpoStep: prompts drawn in a seeded order,
 * the learning-rate schedule, one line of metrics per step in
 * `<runDir>/metrics.jsonl`, checkpoints every N steps (last K kept) and resume
 * from the latest one. Everything a step depends on (its prompts, its sampling
 * seed, the weights and optimizer state) is a function of the step number and
 * the checkpoint, so a resumed run continues exactly as an uninterrupted one.
 */
import { appendFile, mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { seededRandom } from "../model/random.ts";
import { writeFileAtomic } from "../model/safetensors-write.ts";
import { listCheckpoints, loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";
import {
  type GrpoModels,
  type GrpoStepMetrics,
  GrpoStepOptions,
  grpoStep,
  type RewardFn,
} from "./grpo-step.ts";
import { learningRate, ScheduleOptions } from "./schedule.ts";

export const TrainerOptions = z.object({
  /** Folder of the run: metrics.jsonl, checkpoints/. */
  runDir: z.string(),
  /** Optimizer steps (the paper: 50-100 useful ones). */
  steps: z.number().int().positive(),
  /** Distinct prompts per step (the paper: 12, each sampled G = 6 times). */
  promptsPerStep: z.number().int().positive(),
  grpo: GrpoStepOptions,
  schedule: ScheduleOptions.omit({ totalSteps: true }),
  /** Save a checkpoint every this many steps (and at the end). */
  checkpointEvery: z.number().int().positive().default(50),
  keepLast: z.number().int().positive().default(2),
  /** Seed of the prompt order and of the rollouts. */
  seed: z.number().int().default(0),
});
export type TrainerOptions = z.input<typeof TrainerOptions>;

export interface StepRecord extends GrpoStepMetrics {
  step: number;
}

/** The prompts of step `step`: consecutive slices of a seeded shuffle of the data, one shuffle per epoch. */
export function promptsOfStep(count: number, perStep: number, step: number, seed: number): number[] {
  const out: number[] = [];
  for (let k = step * perStep; k < (step + 1) * perStep; k++) {
    const epoch = Math.floor(k / count);
    out.push(shuffled(count, seed * 7919 + epoch)[k % count]);
  }
  return out;
}

const shuffles = new Map<string, number[]>();
function shuffled(count: number, seed: number): number[] {
  const key = `${count}:${seed}`;
  let order = shuffles.get(key);
  if (!order) {
    const rand = seededRandom(seed);
    order = Array.from({ length: count }, (_, i) => i);
    for (let i = count - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    shuffles.set(key, order);
  }
  return order;
}

/**
 * Trains until `steps`, resuming from the run's latest checkpoint if there is
 * one. `prompts` are token ids; `reward` scores completions of prompt indices
 * into it. `onStep` sees each step's metrics (progress display). `stop()`
 * returning true ends the loop after the current step with a checkpoint. A step
 * whose gradient is not finite leaves the weights unchanged and is reported to `warn`.
 */
export async function trainGrpo(
  models: GrpoModels,
  prompts: Int32Array[],
  reward: RewardFn,
  options: TrainerOptions,
  hooks: { onStep?: (r: StepRecord) => void; stop?: () => boolean; warn?: (message: string) => void } = {},
): Promise<StepRecord[]> {
  const o = TrainerOptions.parse(options);
  const ckptDir = join(o.runDir, "checkpoints");
  const metricsPath = join(o.runDir, "metrics.jsonl");
  await mkdir(ckptDir, { recursive: true });
  const tensors = models.optimizer.parameters.map((t, i) => [`${i}:${t.name}`, t] as const);

  let start = 0;
  const latest = (await listCheckpoints(ckptDir)).at(-1);
  if (latest) {
    start = (await loadCheckpoint(latest, tensors, models.optimizer)).step;
    await truncateMetrics(metricsPath, start);
  }
  const records: StepRecord[] = [];
  for (let step = start; step < o.steps; step++) {
    const picked = promptsOfStep(prompts.length, o.promptsPerStep, step, o.seed);
    const lr = learningRate(step, { ...o.schedule, totalSteps: o.steps });
    const metrics = await grpoStep(
      models,
      picked.map((i) => prompts[i]),
      (cs) => reward(cs.map((c) => ({ ...c, prompt: picked[c.prompt] }))),
      { ...o.grpo, lr, seed: o.seed * 1000003 + step },
    );
    const record = { step: step + 1, ...metrics };
    if (metrics.skipped) {
      (hooks.warn ?? console.warn)(
        `step ${step + 1}: non-finite gradient (norm ${metrics.grad_norm}); weights left unchanged`,
      );
    }
    records.push(record);
    await appendFile(metricsPath, `${JSON.stringify(record)}\n`);
    hooks.onStep?.(record);
    const last = step + 1 === o.steps;
    const stopping = hooks.stop?.() ?? false;
    if (last || stopping || (step + 1) % o.checkpointEvery === 0) {
      await saveCheckpoint(
        ckptDir,
        tensors,
        models.optimizer,
        { step: step + 1, extra: {} },
        { keepLast: o.keepLast },
      );
    }
    if (stopping) break;
  }
  return records;
}

/** Drops metrics lines past `step` (written after the checkpoint a run resumes from) and any torn last line. */
async function truncateMetrics(path: string, step: number): Promise<void> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return;
  }
  const kept = text.split("\n").filter((line) => {
    try {
      return JSON.parse(line).step <= step;
    } catch {
      return false;
    }
  });
  await writeFileAtomic(path, kept.map((l) => `${l}\n`).join(""));
}
