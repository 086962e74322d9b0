/**
 * Learning-rate schedules, as transformers defines them (the paper uses
 * "cosine_with_min_lr": linear warm-up over warmup_ratio of the steps, then a
 * half cosine from lr down to lr * min_lr_rate).
 */
import { z } from "zod";

export const ScheduleOptions = z.object({
  /** Peak learning rate (the paper: 1e-6). */
  lr: z.number().nonnegative(),
  /** Optimizer steps in the run. */
  totalSteps: z.number().int().positive(),
  /** Share of the steps spent warming up linearly from 0 (the paper: 0.1). */
  warmupRatio: z.number().min(0).max(1).default(0),
  /** "cosine_with_min_lr" (the paper), "cosine" (to 0), "linear" (to 0) or "constant" (after warm-up). */
  kind: z.enum(["cosine_with_min_lr", "cosine", "linear", "constant"]).default("cosine_with_min_lr"),
  /** Final learning rate as a share of lr, for cosine_with_min_lr (the paper: 0.1). */
  minLrRate: z.number().min(0).max(1).default(0.1),
});
export type ScheduleOptions = z.input<typeof ScheduleOptions>;

/** The learning rate of optimizer step `step` (0-based), as transformers' LambdaLR gives it. */
export function learningRate(step: number, options: ScheduleOptions): number {
  const o = ScheduleOptions.parse(options);
  const warmup = Math.ceil(o.warmupRatio * o.totalSteps);
  if (step < warmup) return (o.lr * step) / Math.max(1, warmup);
  const progress = (step - warmup) / Math.max(1, o.totalSteps - warmup);
  switch (o.kind) {
    case "constant":
      return o.lr;
    case "linear":
      return o.lr * Math.max(0, 1 - progress);
    case "cosine":
      return o.lr * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
    case "cosine_with_min_lr": {
      const cosine = 0.5 * (1 + Math.cos(Math.PI * progress));
      return o.lr * (cosine * (1 - o.minLrRate) + o.minLrRate);
    }
  }
}
