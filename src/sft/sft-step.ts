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
import type { AdamW, Engine } from "../engine/index.ts";
import { chunkedTokenLoss } from "../model/chunked-loss.ts";
import type { LlamaConfig, LlamaWeights } from "../model/llama.ts";

export interface SftExample {
  prompt: Int32Array;
  completion: Int32Array;
}

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

type SftModels = { engine: Engine; config: LlamaConfig; weights: LlamaWeights; optimizer: AdamW };

/** One optimizer step on a batch of examples, in micro-batches of `microBatch` examples. */
export async function sftStep(
  m: SftModels,
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
  const size = o.microBatch ?? examples.length;
  let loss = 0;
  for (let start = 0; start < examples.length; start += size) {
    loss += await lossPass(m, examples.slice(start, start + size), 1 / tokens, o.chunkRows);
  }
  const step = await m.optimizer.step({ lr: o.lr });
  return { loss, tokens, grad_norm: step.gradNorm, lr: step.lr, skipped: step.skipped };
}

/**
 * Forward and backward of -sum(tokenWeight * log p(completion token)) over
 * `examples`, right-padded into one [B, T] batch: the gradient is added to the
 * weights' accumulators. Returns the loss.
 */
async function lossPass(
  m: SftModels,
  examples: SftExample[],
  tokenWeight: number,
  chunkRows: number,
): Promise<number> {
  const B = examples.length;
  const T = Math.max(...examples.map((e) => e.prompt.length + e.completion.length)) - 1;
  const ids = new Int32Array(B * T); // the token read at each position
  const targets = new Int32Array(B * T); // the token it predicts
  const mask = new Float32Array(B * T); // tokenWeight where that token is a completion token
  for (const [b, e] of examples.entries()) {
    const full = [...e.prompt, ...e.completion];
    for (let t = 0; t < full.length - 1; t++) {
      ids[b * T + t] = full[t];
      targets[b * T + t] = full[t + 1];
      if (t + 1 >= e.prompt.length) mask[b * T + t] = tokenWeight;
    }
  }
  const { engine } = m;
  const idsT = engine.tensor([B, T], { dtype: "i32", data: ids });
  const positions = engine.tensor([T], { dtype: "i32", data: Int32Array.from({ length: T }, (_, i) => i) });
  const weights = engine.tensor([B * T], { data: mask });
  try {
    const { loss } = await chunkedTokenLoss(
      engine,
      m.config,
      m.weights,
      { ids: idsT, positions, targets },
      (g, lp, start) => g.neg(g.sum(g.mul(lp, g.narrow(weights, 0, start, lp.size)))),
      { chunkRows },
    );
    return loss;
  } finally {
    for (const t of [idsT, positions, weights]) t.free();
  }
}
