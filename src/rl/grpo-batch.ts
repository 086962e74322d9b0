/**
 * The training batch of a GRPO step, on the host. `trainingRows` turns scored
 * groups into rows (a completion with its prompt, its advantage and the loss
 * weight of each token); `microBatches` cuts the rows into consecutive runs of
 * at most `microBatch` rows (one forward/backward pass each); `buildGrpoBatch`
 * lays a run of rows out right-padded to its longest. Position t of a row reads
 * token t and predicts token t + 1; the positions that predict a completion
 * token carry that token's loss weight and the completion's advantage, every
 * other position (prompt, padding) zeros.
 *
 * The loss weights are normalised once, over all the rows of the step, before
 * any cut: the losses of the micro-batches then add up to the loss of the whole
 * batch, and their gradients (accumulated by the engine) to its gradient,
 * whatever the micro-batch size. (TRL at the paper's commit normalised "bnpo"
 * per micro-batch instead, by that micro-batch's tokens, and divided by the
 * number of micro-batches: its update depended on how the rows were cut.)
 */
import type { z } from "zod";
import type { Completion } from "../generate/types.ts";
import { type AdvantageOptions, groupAdvantages } from "./advantages.ts";
import { type GrpoLossOptions, lossWeights } from "./grpo-loss.ts";

/** A prompt's G completions and their rewards. */
export interface ScoredGroup {
  prompt: Int32Array;
  completions: Completion[];
  rewards: Float32Array;
}

/** What trainingRows reads of the step's options (see GrpoStepOptions). */
export interface TrainingRowOptions {
  groupSize: number;
  scaleRewards: z.output<typeof AdvantageOptions>["scale"];
  lossType: GrpoLossOptions["lossType"];
  maxTokens: number;
  overlongFilter: boolean;
}

/** One row of the batch: a completion with the prompt it answers. */
export interface GrpoRow {
  prompt: Int32Array;
  completion: Int32Array;
  /** The completion's advantage, the same on each of its tokens. */
  advantage: number;
  /** The loss weight of each completion token (see completionWeights). */
  weights: Float32Array;
}

/** The padded batch: B rows of T positions, every array [B*T], row after row. */
export interface GrpoBatch {
  rows: number;
  positions: number;
  /** The token read at each position (0 in the padding). */
  ids: Int32Array;
  /** The token each position predicts (0 in the padding). */
  targets: Int32Array;
  /** Loss weight of each prediction: > 0 exactly on the completion tokens that are trained. */
  weights: Float32Array;
  /** The advantage of the completion each prediction belongs to (0 elsewhere). */
  advantages: Float32Array;
}

/**
 * The batch rows of the groups to train on: advantages within each group, loss
 * weights over all their completions. A completion masked by overlong filtering
 * (cut at maxTokens) has weight 0 on every token, adds nothing to the loss or its
 * gradient, and is left out (it still counts in the normalisers, see completionWeights).
 */
export function trainingRows(groups: readonly ScoredGroup[], o: TrainingRowOptions): GrpoRow[] {
  const G = o.groupSize;
  const completions = groups.flatMap((g) => g.completions);
  const rewards = Float32Array.from(groups.flatMap((g) => Array.from(g.rewards)));
  const advantages = groupAdvantages(rewards, { groupSize: G, scale: o.scaleRewards });
  const masked = completions.map((c) => o.overlongFilter && c.finishReason === "length");
  const lengths = completions.map((c) => c.ids.length);
  const weights = completionWeights(lengths, masked, o.lossType, o.maxTokens);
  const rows = completions.map((c, i) => ({
    prompt: groups[Math.floor(i / G)].prompt,
    completion: c.ids,
    advantage: advantages[i],
    weights: weights[i],
  }));
  return rows.filter((_, i) => !masked[i]);
}

/**
 * The loss weights of each completion's tokens under the chosen loss type
 * (`lossWeights`), where completions whose `masked` flag is set (overlong
 * filtering) get weight 0 and count as empty, as masked completions do in
 * TRL: they add no tokens to the "bnpo" and "dapo" normalisers, but still
 * count as sequences for "grpo" and "dr_grpo".
 */
export function completionWeights(
  lengths: readonly number[],
  masked: readonly boolean[],
  lossType: GrpoLossOptions["lossType"],
  maxLength: number,
): Float32Array[] {
  const counted = lengths.map((len, i) => (masked[i] ? 0 : len));
  const flat = lossWeights(counted, lossType, { maxLength });
  let at = 0;
  return lengths.map((len, i) => {
    if (masked[i]) return new Float32Array(len);
    at += len;
    return flat.subarray(at - len, at);
  });
}

/**
 * The rows cut into consecutive micro-batches of `size` rows (the last one
 * may be shorter); one micro-batch of all rows when `size` is undefined.
 */
export function microBatches<Row>(rows: readonly Row[], size?: number): Row[][] {
  if (size !== undefined && !(Number.isInteger(size) && size > 0)) {
    throw new Error(`micro-batches: the size must be a positive integer, got ${size}`);
  }
  const step = size ?? Math.max(rows.length, 1);
  const out: Row[][] = [];
  for (let start = 0; start < rows.length; start += step) out.push(rows.slice(start, start + step));
  return out;
}

/** Lays the rows out as one right-padded batch [B, T], T = the longest row's length - 1. */
export function buildGrpoBatch(rows: readonly GrpoRow[]): GrpoBatch {
  if (rows.length === 0) throw new Error("grpo batch: no rows");
  const B = rows.length;
  const T = Math.max(...rows.map((r) => r.prompt.length + r.completion.length)) - 1;
  const batch: GrpoBatch = {
    rows: B,
    positions: T,
    ids: new Int32Array(B * T),
    targets: new Int32Array(B * T),
    weights: new Float32Array(B * T),
    advantages: new Float32Array(B * T),
  };
  for (const [b, row] of rows.entries()) {
    if (row.weights.length !== row.completion.length) {
      throw new Error(
        `grpo batch: row ${b} has ${row.weights.length} weights for ${row.completion.length} tokens`,
      );
    }
    const full = [...row.prompt, ...row.completion];
    for (let t = 0; t < full.length - 1; t++) {
      batch.ids[b * T + t] = full[t];
      batch.targets[b * T + t] = full[t + 1];
    }
    // Completion token j sits at full[P + j] and is predicted at position P + j - 1.
    const first = b * T + row.prompt.length - 1;
    batch.weights.set(row.weights, first);
    batch.advantages.fill(row.advantage, first, first + row.completion.length);
  }
  return batch;
}
