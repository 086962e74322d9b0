/**
 * The GRPO training loop around a GRPO step's two halves (grpo-step.ts): prompts drawn in a seeded order,
 * the learning-rate schedule, one line of metrics per step in the run's
 * metrics.jsonl, periodic held-out evaluation, checkpoints every N steps (last
 * K kept) and resume from the latest one. Everything a step depends on (its
 * prompts, its sampling seed, the weights and optimizer state) is a function
 * of the step number and the checkpoint, so a resumed run continues exactly as
 * an uninterrupted one.
 *
 * One-step-off-policy mode (offPolicy 1, as TRL's async GRPO, verl and
 * PipelineRL do it): step t+1's rollout (generation and rewards) is started
 * before step t's update, from the weights before it, and trained on at step
 * t+1, one version behind (policy_lag 1; TIS, grpo.loss.tis, corrects for it).
 * With a remote generator (GrpoRun.remoteGenerator: a fleet of inference
 * servers) it runs while step t trains, so a step takes about the longer of
 * the two instead of their sum. The local generator shares the trainer's
 * engine, which computes one graph at a time and whose tensors cannot be
 * written while any is queued: there, the next rollout is generated first and
 * the step trains after it, the same batches with no overlap, so the mode
 * only helps with a remote generator. A resumed run generates the pending
 * rollout again, from the restored weights (one version newer than the
 * uninterrupted run sampled it from): with offPolicy 1 a resumed run does not
 * repeat an uninterrupted one exactly.
 */
import { z } from "zod";
import type { RewardFunction } from "../rewards/types.ts";
import type { TrainModels } from "../train/models.ts";
import type { RunFolder } from "../train/run-folder.ts";
import { learningRate, ScheduleOptions } from "../train/schedule.ts";
import { runSeeds } from "../train/seeds.ts";
import { type StepHooks, TrainingStage } from "../train/stage.ts";
import { GrpoOptions, type GrpoStepMetrics, grpoRollout, grpoTrain, type StepRollout } from "./grpo-step.ts";
import { promptsOfStep, type TrainingPrompt } from "./prompts.ts";
import type { RolloutSample } from "./rollout-samples.ts";

/** The options of the GRPO loop, with the step's under `grpo`. */
export const GrpoTrainingOptions = z.object({
  /** Optimizer steps (the paper: 50-100 useful ones). */
  steps: z.number().int().positive(),
  /** Distinct prompts per step (the paper: 12, each sampled G = 6 times). */
  promptsPerStep: z.number().int().positive(),
  grpo: GrpoOptions,
  schedule: ScheduleOptions.omit({ totalSteps: true }),
  /** Save a checkpoint every this many steps (and at the end). */
  checkpointEvery: z.number().int().positive().default(50),
  keepLast: z.number().int().positive().default(2),
  /** Call hooks.evaluate every this many steps, and after the last one (0: only after the last). */
  evalEvery: z.number().int().nonnegative().default(0),
  /** The run's seed: prompt order and rollouts (src/train/seeds.ts). */
  seed: z.number().int().default(0),
  /**
   * 1: one-step-off-policy, step t+1's rollout sampled before step t's update (see above);
   * unset or 0: on-policy, each rollout sampled by the weights it trains.
   */
  offPolicy: z.union([z.literal(0), z.literal(1)]).optional(),
});
export type GrpoTrainingOptions = z.output<typeof GrpoTrainingOptions>;
export type GrpoTrainingOptionsInput = z.input<typeof GrpoTrainingOptions>;

/** What a GRPO run trains with. */
export interface GrpoRun {
  models: TrainModels;
  /** The training prompts, each with its text and dataset row. */
  prompts: readonly TrainingPrompt[];
  reward: RewardFunction;
  /** Where metrics and checkpoints go. */
  folder: RunFolder;
  /**
   * True when models.generator samples elsewhere, from its own copy of the weights (a fleet
   * that hooks.afterUpdate syncs), not with the trainer's engine: with offPolicy 1 the next
   * rollout then runs while the step trains.
   */
  remoteGenerator?: boolean;
}

/** A line of metrics.jsonl for a GRPO step. */
export interface GrpoRecord extends GrpoStepMetrics {
  stage: "grpo";
  step: number;
  /** Held-out accuracy, on the steps evaluated. */
  heldout_accuracy?: number;
}

export interface GrpoHooks extends StepHooks<GrpoRecord> {
  warn?: (message: string) => void;
  /**
   * Sees every completion step `step` (1-based) rewarded, before the step's record is written;
   * its numbers (metrics of the rollouts) join that record.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: lets a hook with no numbers be a plain `async () => {}`
  onSamples?: (step: number, samples: readonly RolloutSample[]) => Promise<Record<string, number> | void>;
  /** Held-out evaluation after step `step` (every evalEvery steps); its numbers join the step's record. */
  evaluate?: (step: number) => Promise<Record<string, number>>;
  /**
   * Weight sync to a generator that samples from its own copy of the policy (a fleet of
   * inference servers). Called once, with the step the run starts from (0, or the resumed
   * checkpoint's), before any rollout: push the weights the run starts with.
   */
  beforeFirstStep?: (start: number) => Promise<void>;
  /**
   * Called after step `step`'s (1-based) optimizer update, also when the step skipped it
   * (the weights are then unchanged), and before any rollout that must see the new weights
   * starts: with offPolicy 0, before step `step + 1`'s rollout; with offPolicy 1, before step
   * `step + 2`'s (step `step + 1`'s was sampled before this update, and has finished by now,
   * so the weights it sampled from may be dropped). Its numbers (e.g. `sync_s`) join the
   * step's record.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: lets a hook with no numbers be a plain `async () => {}`
  afterUpdate?: (step: number) => Promise<Record<string, number> | void>;
}

/**
 * Trains until `steps` (options parsed: GrpoTrainingOptions.parse), resuming
 * from the run's latest checkpoint if there is one. A step whose gradient is
 * not finite leaves the weights unchanged and is reported to `warn`.
 */
export async function trainGrpo(
  run: GrpoRun,
  o: GrpoTrainingOptions,
  hooks: GrpoHooks = {},
): Promise<GrpoRecord[]> {
  const warn = hooks.warn ?? console.warn;
  const stage = await TrainingStage.open(
    { run: run.folder, name: "grpo", metricStages: ["grpo", "eval"], ...o },
    run.models.optimizer,
  );
  const records: GrpoRecord[] = [];
  const rollOutStep = (step: number, policyVersion: number) => {
    const { prompts, source } = promptsOfStep(run.prompts, o.promptsPerStep, step, o.seed);
    const seed = runSeeds.step(o.seed, step);
    return grpoRollout(run.models, run.reward, o.grpo, { prompts, source, seed, policyVersion });
  };
  // The weights start a step at version `step` (the steps whose updates they have seen).
  let next: Promise<StepRollout> | null = null;
  await hooks.beforeFirstStep?.(stage.start);
  try {
    for (let step = stage.start; step < o.steps; step++) {
      // 1. this step's rollout: sampled now, or (offPolicy 1) during the last step by its weights
      const rolled = await (next ?? rollOutStep(step, step));
      next = null;

      // 2. offPolicy 1: the next step's rollout, sampled by these weights before their update
      if (o.offPolicy === 1 && step + 1 < o.steps) {
        next = rollOutStep(step + 1, step);
        next.catch(() => undefined); // a failure is thrown where it is awaited
        if (!run.remoteGenerator) await next; // it shares the engine (see above)
      }

      // 3. the update, on this step's rollout
      const lr = learningRate(step, { ...o.schedule, totalSteps: o.steps });
      const metrics = await grpoTrain(run.models, o.grpo, rolled, { lr, policyVersion: step });
      await next; // no rollout samples from the old weights any more: they may be replaced
      const synced = (await hooks.afterUpdate?.(step + 1)) ?? {};

      // 4. the step's record, evaluation and checkpoint
      const seen = (await hooks.onSamples?.(step + 1, rolled.samples)) ?? {};
      if (metrics.skipped) {
        warn(`step ${step + 1}: ${metrics.skip_reason ?? "non-finite gradient"}; weights left unchanged`);
      }
      const record: GrpoRecord = { stage: "grpo", step: step + 1, ...metrics, ...seen, ...synced };
      const last = step + 1 === o.steps;
      if (hooks.evaluate && (last || (o.evalEvery > 0 && (step + 1) % o.evalEvery === 0))) {
        Object.assign(record, await hooks.evaluate(step + 1));
      }
      records.push(record);
      if (await stage.endStep(step + 1, record, hooks)) break;
    }
  } finally {
    await next?.catch(() => undefined); // nothing of the loop runs on after it
  }
  return records;
}
