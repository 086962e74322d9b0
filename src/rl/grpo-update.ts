/**
 * The training half of a GRPO step: the optimizer updates on the step's rows,
 * in micro-batches (gradient accumulation).
 *
 *   1. the rows are cut into consecutive micro-batches of `microBatch` rows
 *      (all rows in one when unset), each padded to its own longest row;
 *   2. scoring: for each micro-batch, the policy's log-probs before any update
 *      ("old") and, when beta > 0, the reference's, kept on the host;
 *   3. numIterations times: the loss forward and backward of each micro-batch
 *      (gradients add up in the parameters' accumulators), then ONE AdamW step,
 *      clipping the accumulated gradient.
 *
 * The rows' loss weights are normalised over the whole step (see grpo-batch.ts),
 * so the micro-batches' losses add up to the one-pass loss and their gradients
 * to its gradient: the update does not depend on the micro-batch size. Only the
 * size of the graphs does: a pass holds microBatch rows x their longest length.
 */
import type { AdamW, Engine, Tensor } from "../engine/index.ts";
import { chunkedTokenLoss, type TokenBatch, tokenLogProbs } from "../model/chunked-loss.ts";
import type { LlamaConfig, LlamaWeights } from "../model/llama.ts";
import { buildGrpoBatch, type GrpoBatch, type GrpoRow, microBatches } from "./grpo-batch.ts";
import { type GrpoLossOptions, grpoTokenLoss, k3Value } from "./grpo-loss.ts";

/** The models the updates use. */
export interface GrpoUpdateModels {
  engine: Engine;
  config: LlamaConfig;
  policy: LlamaWeights;
  /** The frozen reference model (needed when beta > 0). */
  reference?: LlamaWeights;
  optimizer: AdamW;
}

/** What the updates read of the step's options (see GrpoStepOptions). */
export interface GrpoUpdateOptions {
  loss: GrpoLossOptions;
  chunkRows: number;
  numIterations: number;
  /** Rows per forward/backward pass; undefined = all rows in one pass. */
  microBatch?: number;
}

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
}

/** A micro-batch with its log-probs before the first update, all arrays [B*T] on the host. */
interface MicroBatch {
  batch: GrpoBatch;
  /** The policy's log-probs before the first update: the "old" ones of every update. */
  old: Float32Array;
  /** The reference model's log-probs (null when beta = 0). */
  ref: Float32Array | null;
}

/** Sums over the trained completion tokens (loss weight > 0) of one update's micro-batches. */
interface TokenSums {
  tokens: number;
  kl: number;
  entropy: number;
  clipped: number;
}

/** Scores the rows, then makes numIterations optimizer updates on them, micro-batch by micro-batch. */
export async function grpoUpdates(
  m: GrpoUpdateModels,
  rows: readonly GrpoRow[],
  o: GrpoUpdateOptions,
  lr: number,
): Promise<{ metrics: GrpoUpdateMetrics; logProbSeconds: number; trainSeconds: number }> {
  if (o.loss.beta > 0 && !m.reference) throw new Error("grpo: beta > 0 needs a reference model");
  const t0 = performance.now();
  const parts: MicroBatch[] = [];
  for (const slice of microBatches(rows, o.microBatch)) parts.push(await score(m, buildGrpoBatch(slice), o));
  const t1 = performance.now();

  const means = { kl: 0, entropy: 0, clipped: 0 };
  let last = { loss: 0, gradNorm: 0, lr };
  let skipped = false;
  for (let update = 0; update < o.numIterations; update++) {
    const sums: TokenSums = { tokens: 0, kl: 0, entropy: 0, clipped: 0 };
    let loss = 0;
    for (const part of parts) {
      // The first update runs on the weights that gave `old`: its ratio is 1 (up to rounding).
      loss += await lossPass(m, part, o, sums, update > 0);
    }
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
    metrics: {
      kl: means.kl / mu,
      entropy: means.entropy / mu,
      clip_ratio: means.clipped / mu,
      loss: last.loss,
      grad_norm: last.gradNorm,
      lr: last.lr,
      skipped,
      ...(skipped ? { skip_reason: "non-finite gradient" as const } : {}),
    },
    logProbSeconds: (t1 - t0) / 1000,
    trainSeconds: (performance.now() - t1) / 1000,
  };
}

/** The policy's (and with beta > 0 the reference's) log-probs of a micro-batch, before any update. */
async function score(m: GrpoUpdateModels, batch: GrpoBatch, o: GrpoUpdateOptions): Promise<MicroBatch> {
  const device = new DeviceTensors(m.engine);
  try {
    const tokens = device.tokens(batch);
    const options = { chunkRows: o.chunkRows };
    const old = await tokenLogProbs(m.engine, m.config, m.policy, tokens, options);
    const ref =
      m.reference && o.loss.beta > 0
        ? await tokenLogProbs(m.engine, m.config, m.reference, tokens, options)
        : null;
    return { batch, old, ref };
  } finally {
    device.free();
  }
}

/**
 * The loss forward and backward of one micro-batch: its gradient is added to
 * the parameters' accumulators, its metrics to `sums` (the clip only when
 * `countClips`). Returns its loss.
 */
async function lossPass(
  m: GrpoUpdateModels,
  part: MicroBatch,
  o: GrpoUpdateOptions,
  sums: TokenSums,
  countClips: boolean,
): Promise<number> {
  const { batch, old, ref } = part;
  const N = batch.rows * batch.positions;
  const device = new DeviceTensors(m.engine);
  try {
    const tokens = device.tokens(batch);
    const oldT = device.f32([N], old);
    const refT = ref ? device.f32([N], ref) : undefined;
    const advT = device.f32([N], batch.advantages);
    const wT = device.f32([N], batch.weights);
    // The loss pass also returns the log-probs and entropies it computed, those of the
    // policy before this update: the metrics need no forward pass of their own.
    const pass = await chunkedTokenLoss(
      m.engine,
      m.config,
      m.policy,
      tokens,
      (g, lp, start) => {
        const slice = (t: Tensor) => g.narrow(t, 0, start, lp.size); // [n] of [N]
        const inputs = {
          old: slice(oldT),
          ref: refT && slice(refT),
          advantages: slice(advT),
          weights: slice(wT),
        };
        return grpoTokenLoss(g, lp, inputs, o.loss);
      },
      { chunkRows: o.chunkRows, entropy: true },
    );
    const lp = pass.logProbs;
    const entropy = pass.entropy as Float32Array;
    const epsLow = o.loss.epsLow;
    const epsHigh = o.loss.epsHigh ?? epsLow;
    for (let i = 0; i < N; i++) {
      if (!(batch.weights[i] > 0)) continue;
      sums.tokens++;
      sums.entropy += entropy[i];
      if (ref) sums.kl += k3Value(lp[i], ref[i]);
      if (countClips) {
        // TRL's clip_ratio: clipped on the side where the clip binds for this advantage.
        const ratio = Math.exp(lp[i] - old[i]);
        const a = batch.advantages[i];
        if ((ratio < 1 - epsLow && a < 0) || (ratio > 1 + epsHigh && a > 0)) sums.clipped++;
      }
    }
    return pass.loss;
  } finally {
    device.free();
  }
}

/** Device copies of host arrays for one pass, freed together. */
class DeviceTensors {
  readonly #made: Tensor[] = [];
  constructor(readonly engine: Engine) {}

  /** The batch's token ids [B, T], positions [T] and targets (host). */
  tokens(batch: GrpoBatch): TokenBatch {
    const T = batch.positions;
    return {
      ids: this.#keep(this.engine.tensor([batch.rows, T], { data: batch.ids, dtype: "i32" })),
      positions: this.#keep(
        this.engine.tensor([T], { data: Int32Array.from({ length: T }, (_, i) => i), dtype: "i32" }),
      ),
      targets: batch.targets,
    };
  }

  /** An f32 tensor of the given shape holding `data`. */
  f32(shape: number[], data: Float32Array): Tensor {
    return this.#keep(this.engine.tensor(shape, { data }));
  }

  free(): void {
    for (const t of this.#made) t.free();
  }

  #keep(t: Tensor): Tensor {
    this.#made.push(t);
    return t;
  }
}
