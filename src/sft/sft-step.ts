/**
 * Supervised fine-tuning step: next-token cross-entropy on prompt/completion
 * pairs, loss on completion tokens only (averaged over them), chunked over the
 * vocabulary like GRPO's loss. The cold start for models that do not yet
 * produce the answer format, and distillation from traces.
 */
import type { AdamW, Engine } from "../engine/index.ts";
import { chunkedTokenLoss } from "../model/chunked-loss.ts";
import type { LlamaConfig, LlamaWeights } from "../model/llama.ts";

export interface SftExample {
  prompt: Int32Array;
  completion: Int32Array;
}

export interface SftStepMetrics {
  /** Mean negative log-likelihood per completion token. */
  loss: number;
  tokens: number;
  grad_norm: number;
  lr: number;
  skipped: boolean;
}

/** One optimizer step on a batch of examples (right-padded into one [B, T] batch). */
export async function sftStep(
  m: { engine: Engine; config: LlamaConfig; weights: LlamaWeights; optimizer: AdamW },
  examples: SftExample[],
  options: { lr: number; chunkRows?: number },
): Promise<SftStepMetrics> {
  if (examples.length === 0) throw new Error("sft: empty batch");
  for (const [i, ex] of examples.entries()) {
    if (ex.prompt.length === 0 || ex.completion.length === 0)
      throw new Error(`sft: example ${i} has an empty prompt or completion`);
  }
  const B = examples.length;
  const T = Math.max(...examples.map((e) => e.prompt.length + e.completion.length)) - 1;
  const ids = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  const mask = new Float32Array(B * T);
  const tokens = examples.reduce((n, e) => n + e.completion.length, 0);
  for (const [b, e] of examples.entries()) {
    const full = [...e.prompt, ...e.completion];
    for (let t = 0; t < full.length - 1; t++) {
      ids[b * T + t] = full[t];
      targets[b * T + t] = full[t + 1];
      if (t + 1 >= e.prompt.length) mask[b * T + t] = 1 / tokens;
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
      { chunkRows: options.chunkRows },
    );
    const step = await m.optimizer.step({ lr: options.lr });
    return { loss, tokens, grad_norm: step.gradNorm, lr: step.lr, skipped: step.skipped };
  } finally {
    for (const t of [idsT, positions, weights]) t.free();
  }
}
