/**
 * The SFT loop around sftStep, with the same run folder as GRPO: examples in a
 * seeded order, the learning-rate schedule, a line per step in metrics.jsonl
 * (stage "sft"), checkpoints in checkpoints/sft/ and exact resume.
 */
import { z } from "zod";
import { itemsOfStep } from "../train/data-order.ts";
import type { TrainModels } from "../train/models.ts";
import type { RunFolder } from "../train/run-folder.ts";
import { learningRate, ScheduleOptions } from "../train/schedule.ts";
import { runSeeds } from "../train/seeds.ts";
import { type StepHooks, TrainingStage } from "../train/stage.ts";
import { type SftExample, type SftStepMetrics, sftStep } from "./sft-step.ts";

export const SftTrainingOptions = z.object({
  steps: z.number().int().positive(),
  /** Examples per optimizer step. */
  batchSize: z.number().int().positive(),
  schedule: ScheduleOptions.omit({ totalSteps: true }),
  checkpointEvery: z.number().int().positive().default(50),
  keepLast: z.number().int().positive().default(2),
  seed: z.number().int().default(0),
  /** Rows of the vocabulary projection computed at once. */
  chunkRows: z.number().int().positive().default(1024),
  /** Examples per forward/backward pass; gradients accumulate over a step's passes (default: all at once). */
  microBatch: z.number().int().positive().optional(),
});
export type SftTrainingOptions = z.output<typeof SftTrainingOptions>;

export interface SftRecord extends SftStepMetrics {
  stage: "sft";
  step: number;
  step_s: number;
}

/** What an SFT run trains with. */
export interface SftRun {
  models: TrainModels;
  examples: readonly SftExample[];
  /** Where metrics and checkpoints go. */
  folder: RunFolder;
}

/**
 * Trains until `steps` (options parsed: SftTrainingOptions.parse), resuming
 * from the latest SFT checkpoint of the run if there is one.
 */
export async function trainSft(
  run: SftRun,
  o: SftTrainingOptions,
  hooks: StepHooks<SftRecord> & { warn?: (message: string) => void } = {},
): Promise<SftRecord[]> {
  const { models, examples } = run;
  const stage = await TrainingStage.open(
    { run: run.folder, name: "sft", metricStages: ["sft"], ...o },
    models.optimizer,
  );

  const records: SftRecord[] = [];
  for (let step = stage.start; step < o.steps; step++) {
    const t0 = performance.now();
    const batch = itemsOfStep(examples.length, o.batchSize, step, runSeeds.dataOrder(o.seed)).map(
      (i) => examples[i],
    );
    const lr = learningRate(step, { ...o.schedule, totalSteps: o.steps });
    const metrics = await sftStep(models, batch, { lr, chunkRows: o.chunkRows, microBatch: o.microBatch });
    if (metrics.skipped) {
      (hooks.warn ?? console.warn)(`sft step ${step + 1}: non-finite gradient; weights left unchanged`);
    }
    const record: SftRecord = {
      stage: "sft",
      step: step + 1,
      ...metrics,
      step_s: (performance.now() - t0) / 1000,
    };
    records.push(record);
    if (await stage.endStep(step + 1, record, hooks)) break;
  }
  return records;
}
