/**
 * The SFT loop around sftStep, with the same run folder as GRPO: examples in a
 * seeded order, the learning-rate schedule, a line per step in metrics.jsonl
 * (stage "sft"), checkpoints in checkpoints/sft/ and exact resume.
 */
import { z } from "zod";
import type { AdamW, Engine } from "../engine/index.ts";
import type { LlamaConfig, LlamaWeights } from "../model/llama.ts";
import { itemsOfStep } from "../train/data-order.ts";
import { learningRate, ScheduleOptions } from "../train/schedule.ts";
import { type StepHooks, TrainingStage } from "../train/stage.ts";
import { type SftExample, type SftStepMetrics, sftStep } from "./sft-step.ts";

export const SftTrainerOptions = z.object({
  /** Folder of the run: metrics.jsonl, checkpoints/sft/. */
  runDir: z.string(),
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
export type SftTrainerOptions = z.input<typeof SftTrainerOptions>;

export interface SftRecord extends SftStepMetrics {
  stage: "sft";
  step: number;
  step_s: number;
}

export interface SftModels {
  engine: Engine;
  config: LlamaConfig;
  weights: LlamaWeights;
  optimizer: AdamW;
}

/** Trains until `steps`, resuming from the latest SFT checkpoint of the run if there is one. */
export async function trainSft(
  models: SftModels,
  examples: SftExample[],
  options: SftTrainerOptions,
  hooks: StepHooks<SftRecord> & { warn?: (message: string) => void } = {},
): Promise<SftRecord[]> {
  const o = SftTrainerOptions.parse(options);
  const stage = await TrainingStage.open({ ...o, name: "sft", metricStages: ["sft"] }, models.optimizer);

  const records: SftRecord[] = [];
  for (let step = stage.start; step < o.steps; step++) {
    const t0 = performance.now();
    const batch = itemsOfStep(examples.length, o.batchSize, step, o.seed).map((i) => examples[i]);
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
