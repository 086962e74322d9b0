/**
 * The GRPO loss per token, as engine ops, and the loss normalisations.
 *
 *   ratio_t = exp(lp_t - old_t)
 *   surr_t  = -min(ratio_t * A, clip(ratio_t, 1 - eps_low, 1 + eps_high) * A)
 *   kl_t    = exp(ref_t - lp_t) - (ref_t - lp_t) - 1            (k3, >= 0)
 *   loss    = sum_t w_t * (surr_t + beta * kl_t)
 *
 * where w_t (host side, `lossWeights`) carries the completion mask and the
 * normalisation of the chosen loss type.
 *
 * `old` are the policy's log-probs before the step's first update, computed
 * once and stored. At the first update they equal lp in value: the ratio is 1
 * and the gradient is -A * w * d lp (REINFORCE with a group baseline), as in
 * TRL. With numIterations > 1 the later updates of the step reuse the stored
 * old log-probs on the updated policy: the ratio leaves 1 and the clip binds.
 * With numIterations 1 there is no later update, and, as TRL does, no pass
 * computes `old`: the ratio is then taken as 1 with gradient d lp (lp over
 * lp detached), which the graph writes as surr_t = -A * lp_t. Its gradient is
 * the ratio form's; its value is not, so the step reports the ratio form's
 * value, computed on the host (`lossAtRatioOne`).
 *
 * The normalisation is computed once over the whole step's batch: lossWeights
 * is given every completion of the step, however many micro-batches the loss
 * is then computed in, so the micro-batches' losses and gradients add up to
 * the one-pass ones and results do not depend on the micro-batch size.
 *
 * Truncated importance sampling (TIS, off by default and in the paper
 * recipes): the completions were sampled by a generator (another engine, a
 * server, or the policy one step earlier with offPolicy 1) whose log-probs
 * lp_sampler differ from the trainer's own lp_old of the same weights; the
 * surrogate of each token is then weighted by
 *
 *   tis_t = min(exp(old_t - sampler_t), C)                (a constant: no gradient)
 *   loss  = sum_t w_t * (tis_t * surr_t + beta * kl_t)
 *
 * as Yao et al. 2025 ("Your efficient RL framework secretly brings you
 * off-policy RL training", fengyao.notion.site/off-policy-rl) propose and verl
 * and TRL implement: the KL term is not reweighted. The weights are computed on
 * the host (`truncatedImportanceWeights`) from the old log-probs before the
 * step's first update.
 *
 * TRL at the paper's commit (69ad852e, grpo_trainer.py:916) took the token
 * mean of each micro-batch on each process; the Trainer then divided it by
 * the gradient accumulation steps and DeepSpeed averaged the processes. In the
 * paper's layout (3 processes x 6 completions, G = 6, 4 accumulation steps) a
 * micro-batch is exactly one group, so each of the step's 12 groups weighed
 * 1/12 of the step whatever its length: that is "bnpo_per_group", which the
 * paper recipes use. "bnpo" here is the token mean over the whole step
 * (TRL's bnpo when the whole step is one micro-batch): a long group weighs more.
 */
import { z } from "zod";
import type { Graph, Tensor } from "../engine/index.ts";

export const GrpoLossOptions = z.object({
  /** Lower clip range: ratios below 1 - epsLow stop pulling (TRL epsilon, 0.2). */
  epsLow: z.number().nonnegative().default(0.2),
  /** Upper clip range (clip-higher: DAPO uses 0.28; default = epsLow). */
  epsHigh: z.number().nonnegative().optional(),
  /** KL coefficient to the reference model (the paper: 0.04; 0 = no reference). */
  beta: z.number().nonnegative().default(0.04),
  /**
   * How token terms are averaged, computed over the whole step's batch (see above):
   * "bnpo" sum / the step's tokens; "bnpo_per_group" each group's token mean, averaged
   * over the groups (the paper's TRL, where a micro-batch was one group); "grpo" mean
   * per sequence then over sequences; "dr_grpo" sum / (sequences x max length); "dapo"
   * sum / tokens of the whole generation batch.
   */
  lossType: z.enum(["grpo", "bnpo", "bnpo_per_group", "dr_grpo", "dapo"]).default("bnpo"),
  /**
   * Truncated importance sampling (see above): false (the paper), or { cap } to weight each
   * token's surrogate by min(exp(old - sampler), cap) (the literature's C = 2). Needs the
   * trainer's log-probs at the sampler's temperature: logitsAtSamplingTemperature, or
   * temperature 1. With numIterations 1 it costs one more forward pass (the old log-probs).
   */
  tis: z.union([z.literal(false), z.object({ cap: z.number().positive().default(2) })]).default(false),
});
export type GrpoLossOptions = z.output<typeof GrpoLossOptions>;

/** Per-token inputs of a chunk of tokens (all [n] tensors, f32). */
export interface GrpoTokenInputs {
  /**
   * The policy's log-probs before the step's first update ("old"); equal to lp at that update.
   * Omit when numIterations is 1: the ratio is then 1 with gradient d lp (see above).
   */
  old?: Tensor;
  /** Reference model log-probs; omit when beta = 0. */
  ref?: Tensor;
  /** The completion's advantage, repeated on each of its tokens. */
  advantages: Tensor;
  /** Normalised mask from lossWeights(). */
  weights: Tensor;
  /** The TIS weights, min(exp(old - sampler), C); omit without TIS. */
  tis?: Tensor;
}

/** The GRPO loss of the tokens with log-probs lp [n] (with gradient): a scalar. */
export function grpoTokenLoss(g: Graph, lp: Tensor, inp: GrpoTokenInputs, options: GrpoLossOptions): Tensor {
  let perToken = inp.old
    ? clippedSurrogate(g, lp, inp.old, inp.advantages, options)
    : g.neg(g.mul(lp, inp.advantages)); // [n]
  if (inp.tis) perToken = g.mul(perToken, inp.tis); // [n]
  if (options.beta > 0) {
    if (!inp.ref) throw new Error("grpo loss: beta > 0 needs reference log-probs");
    perToken = g.add(perToken, g.scale(k3(g, lp, inp.ref), options.beta));
  }
  return g.sum(g.mul(perToken, inp.weights));
}

/** -min(ratio * A, clip(ratio, 1 - epsLow, 1 + epsHigh) * A) per token, ratio = exp(lp - old): [n]. */
function clippedSurrogate(
  g: Graph,
  lp: Tensor,
  old: Tensor,
  advantages: Tensor,
  options: GrpoLossOptions,
): Tensor {
  const epsHigh = options.epsHigh ?? options.epsLow;
  const ratio = g.exp(g.sub(lp, old)); // [n]
  const unclipped = g.mul(ratio, advantages);
  const clipped = g.mul(g.clamp(ratio, 1 - options.epsLow, 1 + epsHigh), advantages);
  return g.neg(g.minimum(unclipped, clipped));
}

/**
 * The loss at ratio 1 on the host, sum_t w_t * (-A_t * tis_t + beta * kl_t): the
 * value of the first update's loss (all arrays [N]; `ref` null when beta = 0,
 * `tis` null without TIS).
 */
export function lossAtRatioOne(
  lp: Float32Array,
  ref: Float32Array | null,
  advantages: Float32Array,
  weights: Float32Array,
  beta: number,
  tis: Float32Array | null = null,
): number {
  let loss = 0;
  for (let i = 0; i < weights.length; i++) {
    if (weights[i] === 0) continue;
    const surrogate = -advantages[i] * (tis ? tis[i] : 1);
    loss += weights[i] * (surrogate + (ref && beta > 0 ? beta * k3Value(lp[i], ref[i]) : 0));
  }
  return loss;
}

/**
 * The TIS weight of each token, min(exp(old - sampler), cap), where the loss
 * weight is > 0 (1 elsewhere; all arrays [N]).
 */
export function truncatedImportanceWeights(
  old: Float32Array,
  sampler: Float32Array,
  weights: Float32Array,
  cap: number,
): Float32Array {
  const out = new Float32Array(weights.length).fill(1);
  for (let i = 0; i < weights.length; i++) {
    if (weights[i] > 0) out[i] = Math.min(Math.exp(old[i] - sampler[i]), cap);
  }
  return out;
}

/** The k3 estimator of KL(policy || reference) per token: exp(d) - d - 1 with d = ref - lp. */
export function k3(g: Graph, lp: Tensor, ref: Tensor): Tensor {
  const d = g.sub(ref, lp);
  return g.sub(g.scale(g.exp(d), 1, -1), d);
}

/** The k3 estimator on the host, for the metrics: exp(d) - d - 1 with d = ref - lp. */
export function k3Value(lp: number, ref: number): number {
  const d = ref - lp;
  return Math.exp(d) - d - 1;
}

/**
 * Per-token loss weights for completions with the given lengths (tokens that
 * count, EOS included), laid out one completion after another.
 * `maxLength` is the max completion length (dr_grpo); `batchTokens` the tokens
 * of the whole generation batch (dapo; default: these completions');
 * `groupSize` the completions per group, consecutive (bnpo_per_group).
 */
export function lossWeights(
  lengths: readonly number[],
  lossType: GrpoLossOptions["lossType"],
  opts: { maxLength?: number; batchTokens?: number; groupSize?: number } = {},
): Float32Array {
  const total = lengths.reduce((a, b) => a + b, 0);
  const out = new Float32Array(total);
  const perGroup = lossType === "bnpo_per_group" ? groupTokens(lengths, opts.groupSize) : null;
  let at = 0;
  for (const [i, len] of lengths.entries()) {
    let w: number;
    if (lossType === "grpo") w = 1 / (len * lengths.length);
    else if (lossType === "bnpo") w = 1 / total;
    else if (perGroup) w = 1 / (perGroup.groups * perGroup.tokens[i]);
    else if (lossType === "dr_grpo") {
      if (!opts.maxLength) throw new Error("lossWeights: dr_grpo needs maxLength");
      w = 1 / (lengths.length * opts.maxLength);
    } else w = 1 / (opts.batchTokens ?? total);
    out.fill(len > 0 ? w : 0, at, at + len);
    at += len;
  }
  return out;
}

/** The number of groups of `groupSize` consecutive completions, and the tokens of each completion's group. */
function groupTokens(lengths: readonly number[], groupSize: number | undefined) {
  if (!groupSize) throw new Error("lossWeights: bnpo_per_group needs groupSize");
  if (lengths.length % groupSize !== 0)
    throw new Error(`lossWeights: ${lengths.length} completions are not whole groups of ${groupSize}`);
  const tokens = lengths.map((_, i) => {
    const from = i - (i % groupSize);
    return lengths.slice(from, from + groupSize).reduce((a, b) => a + b, 0);
  });
  return { groups: lengths.length / groupSize, tokens };
}
