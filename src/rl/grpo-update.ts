/**
 * The training half of a GRPO step, on micro-batches of its rows (each padded
 * to its own longest row; gradient accumulation):
 *
 *   1. `fixedLogProbs`: the log-probs that stay fixed through the step's
 *      updates, kept on the host: the frozen reference's (when beta > 0) and
 *      the policy's before any update, the "old" ones (only when
 *      numIterations > 1 or with TIS: with one update they equal the policy's
 *      own, and the loss takes them as such, as TRL does), from which TIS
 *      weighs each token (grpo-loss.ts);
 *   2. `grpoUpdates`: numIterations times, the loss forward and backward of
 *      each micro-batch (gradients add up in the parameters' accumulators),
 *      then ONE AdamW step, clipping the accumulated gradient.
 *
 * The rows' loss weights are normalised over the whole step (grpo-batch.ts),
 * so the micro-batches' losses add up to the one-pass loss and their gradients
 * to its gradient: the update does not depend on the micro-batch size. Only the
 * size of the graphs does: a pass holds microBatch rows x their longest length.
 *
 * Every pass recomputes its log-probs from the logits at temperature 1, as the
 * paper's TRL did, or at the sampling temperature with logitsAtSamplingTemperature
 * (TRL >= 0.16). The sampler's own log-probs (Completion.logprobs, at its
 * temperature) serve TIS and the sampler/trainer mismatch metrics only.
 *
 * The mismatch metrics (verl's rollout-probs-diff and Yao et al. 2025,
 * fengyao.notion.site/off-policy-rl, report it as the gap between the
 * inference engine's and the trainer's probabilities of the same tokens) compare, over the
 * trained completion tokens, the sampler's log-probs with the trainer's of the
 * weights before the update: those the first update's loss pass computes
 * anyway, so they cost nothing. They only mean something when both are at the
 * same temperature: with temperature 1 or logitsAtSamplingTemperature. Otherwise
 * the trainer's pass is at temperature 1 and the sampler's at another, and the
 * metrics are left out (computing the trainer's at the sampling temperature
 * would take another pass over the vocabulary projection).
 */
import type { TrainModels } from "../train/models.ts";
import { atCompletionTokens, type PaddedBatch, padBatch } from "../train/token-batch.ts";
import { batchLogProbs, tokenLossPass } from "../train/token-loss.ts";
import type { GrpoRow } from "./grpo-batch.ts";
import {
  type GrpoLossOptions,
  grpoTokenLoss,
  k3Value,
  lossAtRatioOne,
  truncatedImportanceWeights,
} from "./grpo-loss.ts";

/** What the updates read of the step's options (see GrpoOptions). */
export interface GrpoUpdateOptions {
  loss: GrpoLossOptions;
  chunkRows: number;
  numIterations: number;
  temperature: number;
  logitsAtSamplingTemperature: boolean;
}

/** The temperature of every log-prob pass: the sampling one (TRL >= 0.16) or 1 (the paper's TRL). */
function passTemperature(o: GrpoUpdateOptions): number {
  return o.logitsAtSamplingTemperature ? o.temperature : 1;
}

/** A micro-batch of rows, padded, with its per-token inputs of the loss (all [B*T], on the host). */
export interface LossBatch {
  batch: PaddedBatch;
  /** Loss weight of each prediction: > 0 exactly on the completion tokens that are trained. */
  weights: Float32Array;
  /** The advantage of the completion each prediction belongs to (0 elsewhere). */
  advantages: Float32Array;
  /** The sampler's log-prob of each completion token, at the sampling temperature (0 elsewhere). */
  sampler: Float32Array;
  /** The policy's log-probs before the first update (null when numIterations is 1). */
  old: Float32Array | null;
  /** The reference model's log-probs (null when beta = 0). */
  ref: Float32Array | null;
  /** The TIS weight of each token, min(exp(old - sampler), C) (null without TIS). */
  tis: Float32Array | null;
}

/** The parts of a LossBatch known before any pass of the model. */
export type RowsBatch = Omit<LossBatch, "old" | "ref" | "tis">;

/** The training metrics of a step (documented on GrpoStepMetrics). */
export interface GrpoUpdateMetrics {
  kl: number;
  entropy: number;
  clip_ratio: number;
  loss: number;
  grad_norm: number;
  lr: number;
  skipped: boolean;
  skip_reason?: "non-finite gradient";
  /** Mean |lp_train - lp_sampler| over the trained tokens (absent at different temperatures, see above). */
  logprob_diff_mean?: number;
  /** Max |lp_train - lp_sampler| over the trained tokens. */
  logprob_diff_max?: number;
  /** Mean exp(lp_train - lp_sampler) over the trained tokens: the importance ratio, 1 without mismatch. */
  logprob_ratio_mean?: number;
  /** With TIS: the mean TIS weight over the trained tokens. */
  tis_weight_mean?: number;
  /** With TIS: the share of the trained tokens whose weight was cut at the cap. */
  tis_capped_fraction?: number;
}

/** Sums over the trained completion tokens (loss weight > 0) of one update's micro-batches. */
interface TokenSums {
  tokens: number;
  kl: number;
  entropy: number;
  clipped: number;
}

/** Sums over the trained tokens of the first update: the sampler/trainer mismatch, the TIS weights. */
interface SamplerSums {
  tokens: number;
  diff: number;
  diffMax: number;
  ratio: number;
  tis: number;
  capped: number;
}

/** The rows of one micro-batch, padded, with their weights and advantages at their tokens. */
export function lossBatch(rows: readonly GrpoRow[]): RowsBatch {
  const batch = padBatch(rows);
  return {
    batch,
    weights: atCompletionTokens(batch, (b) => rows[b].weights),
    advantages: atCompletionTokens(batch, (b) => rows[b].advantage),
    sampler: atCompletionTokens(batch, (b) => rows[b].samplerLogProbs),
  };
}

/** True when the trainer's log-probs are at the sampler's temperature (TIS and the mismatch metrics need it). */
export function samplerComparable(o: Pick<GrpoUpdateOptions, "temperature" | "logitsAtSamplingTemperature">) {
  return o.logitsAtSamplingTemperature || o.temperature === 1;
}

/** Adds to each micro-batch the log-probs that stay fixed through the updates (see above). */
export async function fixedLogProbs(
  m: TrainModels,
  parts: readonly RowsBatch[],
  o: GrpoUpdateOptions,
): Promise<LossBatch[]> {
  if (o.loss.beta > 0 && !m.reference) throw new Error("grpo: beta > 0 needs a reference model");
  if (o.loss.tis && !samplerComparable(o))
    throw new Error("grpo.loss.tis needs logitsAtSamplingTemperature or temperature 1");
  const policy = { engine: m.engine, config: m.config, weights: m.policy };
  const reference = m.reference && { engine: m.engine, config: m.config, weights: m.reference };
  const tis = o.loss.tis;
  const out: LossBatch[] = [];
  for (const part of parts) {
    const pass = { chunkRows: o.chunkRows, temperature: passTemperature(o) };
    const old = o.numIterations > 1 || tis ? await batchLogProbs(policy, part.batch, pass) : null;
    const ref = reference && o.loss.beta > 0 ? await batchLogProbs(reference, part.batch, pass) : null;
    out.push({
      ...part,
      old: o.numIterations > 1 ? old : null,
      ref,
      tis: tis && old ? truncatedImportanceWeights(old, part.sampler, part.weights, tis.cap) : null,
    });
  }
  return out;
}

/** numIterations optimizer updates at learning rate `lr`, each over every micro-batch. */
export async function grpoUpdates(
  m: TrainModels,
  parts: readonly LossBatch[],
  o: GrpoUpdateOptions,
  lr: number,
): Promise<GrpoUpdateMetrics> {
  const means = { kl: 0, entropy: 0, clipped: 0 };
  const sampler: SamplerSums = { tokens: 0, diff: 0, diffMax: 0, ratio: 0, tis: 0, capped: 0 };
  let last = { loss: 0, gradNorm: 0, lr };
  let skipped = false;
  for (let update = 0; update < o.numIterations; update++) {
    const sums: TokenSums = { tokens: 0, kl: 0, entropy: 0, clipped: 0 };
    let loss = 0;
    for (const part of parts) loss += await lossPass(m, part, o, sums, update === 0 ? sampler : null);
    const perToken = (sum: number) => (sums.tokens > 0 ? sum / sums.tokens : 0);
    means.kl += perToken(sums.kl);
    means.entropy += perToken(sums.entropy);
    means.clipped += perToken(sums.clipped);
    const step = await m.optimizer.step({ lr });
    skipped ||= step.skipped;
    last = { loss, gradNorm: step.gradNorm, lr: step.lr };
  }
  const mu = o.numIterations;
  return {
    kl: means.kl / mu,
    entropy: means.entropy / mu,
    clip_ratio: means.clipped / mu,
    loss: last.loss,
    grad_norm: last.gradNorm,
    lr: last.lr,
    skipped,
    ...(skipped ? { skip_reason: "non-finite gradient" as const } : {}),
    ...samplerMetrics(sampler, o),
  };
}

/** The mismatch metrics (when the temperatures compare) and the TIS ones (with TIS). */
function samplerMetrics(s: SamplerSums, o: GrpoUpdateOptions): Partial<GrpoUpdateMetrics> {
  if (s.tokens === 0 || !samplerComparable(o)) return {};
  const mismatch = {
    logprob_diff_mean: s.diff / s.tokens,
    logprob_diff_max: s.diffMax,
    logprob_ratio_mean: s.ratio / s.tokens,
  };
  if (!o.loss.tis) return mismatch;
  return { ...mismatch, tis_weight_mean: s.tis / s.tokens, tis_capped_fraction: s.capped / s.tokens };
}

/**
 * The loss forward and backward of one micro-batch: its gradient is added to
 * the parameters' accumulators, its metrics to `sums`. At the first update
 * (`first` given) the ratio is 1, so no clip is counted, and the log-probs
 * before any update are compared with the sampler's into `first`. Returns its loss.
 */
async function lossPass(
  m: TrainModels,
  part: LossBatch,
  o: GrpoUpdateOptions,
  sums: TokenSums,
  first: SamplerSums | null,
): Promise<number> {
  const { old, ref, advantages, weights, tis } = part;
  const inputs = {
    advantages,
    weights,
    ...(old ? { old } : {}),
    ...(ref ? { ref } : {}),
    ...(tis ? { tis } : {}),
  };
  // The pass also returns the log-probs and entropies it computed, those of the
  // policy before this update: the metrics need no forward pass of their own.
  const pass = await tokenLossPass(
    { engine: m.engine, config: m.config, weights: m.policy },
    part.batch,
    inputs as Record<"advantages" | "weights" | "old" | "ref" | "tis", Float32Array>,
    (g, lp, t) => grpoTokenLoss(g, lp, t, o.loss),
    { chunkRows: o.chunkRows, entropy: true, temperature: passTemperature(o) },
  );
  const lp = pass.logProbs;
  const entropy = pass.entropy as Float32Array;
  const epsLow = o.loss.epsLow;
  const epsHigh = o.loss.epsHigh ?? epsLow;
  for (let i = 0; i < weights.length; i++) {
    if (!(weights[i] > 0)) continue;
    sums.tokens++;
    sums.entropy += entropy[i];
    if (ref) sums.kl += k3Value(lp[i], ref[i]);
    if (first) addSamplerSums(first, lp[i], part.sampler[i], tis ? tis[i] : 1, o.loss.tis);
    if (!first && old) {
      // TRL's clip_ratio: clipped on the side where the clip binds for this advantage.
      const ratio = Math.exp(lp[i] - old[i]);
      const a = advantages[i];
      if ((ratio < 1 - epsLow && a < 0) || (ratio > 1 + epsHigh && a > 0)) sums.clipped++;
    }
  }
  return old ? pass.loss : lossAtRatioOne(lp, ref, advantages, weights, o.loss.beta, tis);
}

/** Adds a trained token's trainer log-prob `lp`, sampler log-prob and TIS weight to `s`. */
function addSamplerSums(s: SamplerSums, lp: number, sampler: number, tis: number, o: GrpoLossOptions["tis"]) {
  const diff = lp - sampler;
  s.tokens++;
  s.diff += Math.abs(diff);
  s.diffMax = Math.max(s.diffMax, Math.abs(diff));
  s.ratio += Math.exp(diff);
  s.tis += tis;
  if (o && tis >= o.cap) s.capped++;
}
