/**
 * Supervised fine-tuning step: next-token cross-entropy on prompt/completion
 * pairs, loss on completion tokens only (averaged over them), chunked over the
 * vocabulary like GRPO's loss. The cold start for models that do not yet
 * produce the answer format, and distillation from traces.
 *
 * The examples may be run in micro-batches (gradient accumulation): consecutive
 * runs of `microBatch` examples, each padded to its own longest, one forward and
 * backward pass each, then one optimizer step. Every completion token weighs
 * 1 / (completion tokens of the whole step), so the micro-batches' losses and
 * gradients add up to those of one pass over all examples.
 */
import { z } from "zod";
import type { TrainModels } from "../train/models.ts";
import { atCompletionTokens, microBatches, padBatch, type Sequence } from "../train/token-batch.ts";
import { tokenLossPass } from "../train/token-loss.ts";

/** A prompt and the completion to learn (token ids, EOS included). */
export type SftExample = Sequence;

export const SftStepOptions = z.object({
  /** Learning rate of the step. */
  lr: z.number().nonnegative(),
  /** Rows of the vocabulary projection computed at once. */
  chunkRows: z.number().int().positive().default(1024),
  /** Examples per forward/backward pass; unset = all in one. The update does not depend on it. */
  microBatch: z.number().int().positive().optional(),
});
export type SftStepOptions = z.input<typeof SftStepOptions>;

export interface SftStepMetrics {
  /** Mean negative log-likelihood per completion token (over all micro-batches). */
  loss: number;
  tokens: number;
  grad_norm: number;
  lr: number;
  skipped: boolean;
}

/** One optimizer step of the policy on a batch of examples, in micro-batches of `microBatch` examples. */
export async function sftStep(
  m: Pick<TrainModels, "engine" | "config" | "policy" | "optimizer">,
  examples: SftExample[],
  options: SftStepOptions,
): Promise<SftStepMetrics> {
  const o = SftStepOptions.parse(options);
  if (examples.length === 0) throw new Error("sft: empty batch");
  for (const [i, ex] of examples.entries()) {
    if (ex.prompt.length === 0 || ex.completion.length === 0)
      throw new Error(`sft: example ${i} has an empty prompt or completion`);
  }
  // The weight of every completion token, normalised over the whole step.
  const tokens = examples.reduce((n, e) => n + e.completion.length, 0);
  const policy = { engine: m.engine, config: m.config, weights: m.policy };
  let loss = 0;
  for (const part of microBatches(examples, o.microBatch)) {
    // -sum(weight * log p(completion token)) over the micro-batch, right-padded into [B, T]
    const batch = padBatch(part);
    const weights = atCompletionTokens(batch, () => 1 / tokens); // [B*T]
    const pass = await tokenLossPass(
      policy,
      batch,
      { weights },
      (g, lp, t) => g.neg(g.sum(g.mul(lp, t.weights))),
      { chunkRows: o.chunkRows },
    );
    loss += pass.loss;
  }
  const step = await m.optimizer.step({ lr: o.lr });
  return { loss, tokens, grad_norm: step.gradNorm, lr: step.lr, skipped: step.skipped };
}
