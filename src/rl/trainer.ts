/**
 * The GRPO training loop around grpoStep: prompts drawn in a seeded order,
 * the learning-rate schedule, one line of metrics per step in
 * `<runDir>/metrics.jsonl`, periodic held-out evaluation, checkpoints every N
 * steps (last K kept) and resume from the latest one. Everything a step
 * depends on (its prompts, its sampling seed, the weights and optimizer state)
 * is a function of the step number and the checkpoint, so a resumed run
 * continues exactly as an uninterrupted one.
 */
import { z } from "zod";
import { itemsOfStep } from "../train/data-order.ts";
import { learningRate, ScheduleOptions } from "../train/schedule.ts";
import { type StepHooks, TrainingStage } from "../train/stage.ts";
import {
  type GrpoModels,
  type GrpoStepMetrics,
  GrpoStepOptions,
  grpoStep,
  type ScoredCompletion,
} from "./grpo-step.ts";

export const TrainerOptions = z.object({
  /** Folder of the run: metrics.jsonl, checkpoints/grpo/. */
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
  /** Call hooks.evaluate every this many steps, and after the last one (0: only after the last). */
  evalEvery: z.number().int().nonnegative().default(0),
  /** Seed of the prompt order and of the rollouts. */
  seed: z.number().int().default(0),
});
export type TrainerOptions = z.input<typeof TrainerOptions>;

/** What a reward function may give back: the scores, or the scores and metrics to log (e.g. each reward's mean). */
export type RewardResult =
  | ArrayLike<number>
  | { rewards: ArrayLike<number>; metrics?: Record<string, number> };

/** Scores completions; `prompt` is an index into the trainer's prompts. */
export type TrainerRewardFn = (completions: ScoredCompletion[]) => Promise<RewardResult> | RewardResult;

export interface StepRecord extends GrpoStepMetrics {
  stage: "grpo";
  step: number;
  /** Reward metrics (means per reward) and evaluation results, when given. */
  [extra: string]: unknown;
}

export interface TrainerHooks extends StepHooks<StepRecord> {
  warn?: (message: string) => void;
  /** Held-out evaluation after step `step` (every evalEvery steps); its numbers join the step's record. */
  evaluate?: (step: number) => Promise<Record<string, number>>;
}

/** The seed of the extra prompts drawn for dynamic sampling, apart from the step's own order. */
const REFILL_SEED = 104729;

/**
 * Trains until `steps`, resuming from the run's latest checkpoint if there is
 * one. `prompts` are token ids; `reward` scores completions of prompt indices
 * into it. A step whose gradient is not finite leaves the weights unchanged and
 * is reported to `warn`.
 */
export async function trainGrpo(
  models: GrpoModels,
  prompts: Int32Array[],
  reward: TrainerRewardFn,
  options: TrainerOptions,
  hooks: TrainerHooks = {},
): Promise<StepRecord[]> {
  const o = TrainerOptions.parse(options);
  const warn = hooks.warn ?? console.warn;
  const stage = await TrainingStage.open(
    { ...o, name: "grpo", metricStages: ["grpo", "eval"] },
    models.optimizer,
  );

  const records: StepRecord[] = [];
  for (let step = stage.start; step < o.steps; step++) {
    // Prompt indices of this step: its own slice of the order, then refills (dynamic sampling).
    const picked = itemsOfStep(prompts.length, o.promptsPerStep, step, o.seed);
    const refill = (round: number, count: number) => {
      const more = itemsOfStep(prompts.length, count, step * 64 + round, o.seed + REFILL_SEED);
      picked.push(...more);
      return more.map((i) => prompts[i]);
    };
    const rewardMetrics = new WeightedMeans();
    const lr = learningRate(step, { ...o.schedule, totalSteps: o.steps });
    const metrics = await grpoStep(
      models,
      picked.map((i) => prompts[i]),
      async (cs) => {
        const result = await reward(cs.map((c) => ({ ...c, prompt: picked[c.prompt] })));
        if ("rewards" in result) {
          rewardMetrics.add(result.metrics ?? {}, cs.length);
          return result.rewards;
        }
        return result;
      },
      { ...o.grpo, lr, seed: o.seed * 1000003 + step },
      refill,
    );
    if (metrics.skipped) {
      warn(
        `step ${step + 1}: ${metrics.skip_reason ?? `non-finite gradient (norm ${metrics.grad_norm})`}; weights left unchanged`,
      );
    }
    const record: StepRecord = { stage: "grpo", step: step + 1, ...metrics, ...rewardMetrics.means() };
    const last = step + 1 === o.steps;
    if (hooks.evaluate && (last || (o.evalEvery > 0 && (step + 1) % o.evalEvery === 0))) {
      Object.assign(record, await hooks.evaluate(step + 1));
    }
    records.push(record);
    if (await stage.endStep(step + 1, record, hooks)) break;
  }
  return records;
}

/** Means of named numbers over several batches, weighted by batch size. */
class WeightedMeans {
  private sums = new Map<string, { sum: number; weight: number }>();

  add(values: Record<string, number>, weight: number): void {
    for (const [k, v] of Object.entries(values)) {
      if (!Number.isFinite(v)) continue;
      const s = this.sums.get(k) ?? { sum: 0, weight: 0 };
      s.sum += v * weight;
      s.weight += weight;
      this.sums.set(k, s);
    }
  }

  means(): Record<string, number> {
    return Object.fromEntries([...this.sums].map(([k, s]) => [k, s.sum / s.weight]));
  }
}
