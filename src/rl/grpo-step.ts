/**
 * One GRPO step, as data: prompts -> G completions each from the current
 * policy -> rewards -> group-relative advantages -> policy (old) and reference
 * log-probs on the same tokens -> clipped-surrogate + k3 loss, chunked over
 * the vocabulary -> AdamW. Each batch is used once (TRL's num_iterations = 1),
 * so "old" log-probs are the policy's own before the update.
 */
import { z } from "zod";
import type { AdamW, Engine, Tensor } from "../engine/index.ts";
import type { Generator } from "../generate/types.ts";
import { chunkedTokenLoss, tokenLogProbs } from "../model/chunked-loss.ts";
import type { LlamaConfig, LlamaWeights } from "../model/llama.ts";
import { AdvantageOptions, groupAdvantages, meanGroupStd } from "./advantages.ts";
import { GrpoLossOptions, grpoTokenLoss, lossWeights } from "./grpo-loss.ts";

export const GrpoStepOptions = z.object({
  /** Completions per prompt (G; the paper: 6). */
  groupSize: z.number().int().min(2),
  /** Sampling temperature of the rollouts (the paper: 0.7). */
  temperature: z.number().min(0).default(0.7),
  /** Max completion tokens (the paper: 4096 / 3584). */
  maxTokens: z.number().int().positive(),
  scaleRewards: AdvantageOptions.shape.scale,
  loss: GrpoLossOptions.default(GrpoLossOptions.parse({})),
  /** Rows of the vocabulary projection computed at once. */
  chunkRows: z.number().int().positive().default(1024),
});
export type GrpoStepOptions = z.input<typeof GrpoStepOptions>;

/** One completion to score: which prompt it answers, its text and token ids. */
export interface ScoredCompletion {
  prompt: number;
  text: string;
  ids: Int32Array;
}

/** Scores a batch of completions (the caller composes reward functions, e.g. with src/rewards). */
export type RewardFn = (completions: ScoredCompletion[]) => Promise<ArrayLike<number>> | ArrayLike<number>;

export interface GrpoModels {
  engine: Engine;
  config: LlamaConfig;
  policy: LlamaWeights;
  /** The frozen reference model (needed when beta > 0). */
  reference?: LlamaWeights;
  generator: Generator;
  optimizer: AdamW;
}

export interface GrpoStepMetrics {
  reward: number;
  reward_std: number;
  completion_length: number;
  completion_length_max: number;
  /** Share of completions cut at maxTokens. */
  clipped_fraction: number;
  /** Mean k3 KL to the reference over completion tokens (0 without a reference). */
  kl: number;
  loss: number;
  grad_norm: number;
  lr: number;
  skipped: boolean;
  generate_s: number;
  score_s: number;
  train_s: number;
}

/** Runs one step on `prompts` (token ids) with learning rate `lr`. */
export async function grpoStep(
  m: GrpoModels,
  prompts: Int32Array[],
  reward: RewardFn,
  options: GrpoStepOptions & { lr: number; seed: number },
): Promise<GrpoStepMetrics> {
  const o = GrpoStepOptions.parse(options);
  const G = o.groupSize;
  const t0 = performance.now();
  const groups = await m.generator.generate(prompts, {
    n: G,
    temperature: o.temperature,
    maxTokens: o.maxTokens,
    seed: options.seed,
  });
  const completions = groups.flat();
  const t1 = performance.now();
  const scored = await reward(
    completions.map((c, i) => ({ prompt: Math.floor(i / G), text: c.text, ids: c.ids })),
  );
  const rewards = Float32Array.from(scored);
  if (rewards.length !== completions.length || !rewards.every(Number.isFinite)) {
    throw new Error(
      `grpo: the reward function gave ${rewards.length} finite scores for ${completions.length} completions`,
    );
  }
  const advantages = groupAdvantages(rewards, { groupSize: G, scale: o.scaleRewards });

  // The training batch: prompt ++ completion per row, right-padded; targets are the next tokens.
  const seqs = completions.map((c, i) => ({ prompt: prompts[Math.floor(i / G)], completion: c.ids }));
  const T = Math.max(...seqs.map((s) => s.prompt.length + s.completion.length)) - 1;
  const B = seqs.length;
  const ids = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  const weights = new Float32Array(B * T);
  const tokenAdvantages = new Float32Array(B * T);
  const lengths = seqs.map((s) => s.completion.length);
  const perToken = lossWeights(lengths, o.loss.lossType, { maxLength: o.maxTokens });
  let at = 0;
  for (const [b, s] of seqs.entries()) {
    const full = [...s.prompt, ...s.completion];
    for (let t = 0; t < Math.min(T, full.length - 1); t++) {
      ids[b * T + t] = full[t];
      targets[b * T + t] = full[t + 1];
      if (t + 1 >= s.prompt.length) {
        // predicts a completion token
        weights[b * T + t] = perToken[at++];
        tokenAdvantages[b * T + t] = advantages[b];
      }
    }
  }
  const persistent: Tensor[] = [];
  const tensor = (shape: number[], data: Float32Array | Int32Array, dtype: "f32" | "i32" = "f32") => {
    const t = m.engine.tensor(shape, { data, dtype });
    persistent.push(t);
    return t;
  };
  try {
    const batch = {
      ids: tensor([B, T], ids, "i32"),
      positions: tensor(
        [T],
        Int32Array.from({ length: T }, (_, i) => i),
        "i32",
      ),
      targets,
    };
    const old = await tokenLogProbs(m.engine, m.config, m.policy, batch, { chunkRows: o.chunkRows });
    const needRef = o.loss.beta > 0;
    if (needRef && !m.reference) throw new Error("grpo: beta > 0 needs a reference model");
    const ref = needRef
      ? await tokenLogProbs(m.engine, m.config, m.reference as LlamaWeights, batch, o)
      : null;
    const t2 = performance.now();

    const oldT = tensor([B * T], old);
    const refT = ref ? tensor([B * T], ref) : undefined;
    const advT = tensor([B * T], tokenAdvantages);
    const wT = tensor([B * T], weights);
    const { loss } = await chunkedTokenLoss(
      m.engine,
      m.config,
      m.policy,
      batch,
      (g, lp, start) => {
        const slice = (t: Tensor) => g.narrow(t, 0, start, lp.size);
        const inputs = {
          old: slice(oldT),
          ref: refT && slice(refT),
          advantages: slice(advT),
          weights: slice(wT),
        };
        return grpoTokenLoss(g, lp, inputs, o.loss);
      },
      { chunkRows: o.chunkRows },
    );
    const step = await m.optimizer.step({ lr: options.lr });
    const t3 = performance.now();

    let kl = 0;
    let counted = 0;
    if (ref) {
      for (let i = 0; i < B * T; i++) {
        if (weights[i] === 0) continue;
        const d = ref[i] - old[i];
        kl += Math.exp(d) - d - 1;
        counted++;
      }
    }
    return {
      reward: rewards.reduce((a, b) => a + b, 0) / B,
      reward_std: meanGroupStd(rewards, G),
      completion_length: lengths.reduce((a, b) => a + b, 0) / B,
      completion_length_max: Math.max(...lengths),
      clipped_fraction: completions.filter((c) => c.finishReason === "length").length / B,
      kl: counted ? kl / counted : 0,
      loss,
      grad_norm: step.gradNorm,
      lr: step.lr,
      skipped: step.skipped,
      generate_s: (t1 - t0) / 1000,
      score_s: (t2 - t1) / 1000,
      train_s: (t3 - t2) / 1000,
    };
  } finally {
    for (const t of persistent) t.free();
  }
}
