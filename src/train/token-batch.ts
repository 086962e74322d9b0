/**
 * Training batches on the host, shared by the SFT and GRPO steps: sequences
 * (a prompt and its completion) cut into micro-batches and laid out
 * right-padded as [B, T] arrays. Position t of a row reads token t and
 * predicts token t + 1, so the completion token j of a row with a P-token
 * prompt is predicted at position P - 1 + j; per-token values of the loss
 * (weights, advantages, ...) sit at those positions and are 0 everywhere else
 * (prompt, padding).
 */

/** A prompt and the completion that follows it (token ids). */
export interface Sequence {
  prompt: Int32Array;
  completion: Int32Array;
}

/** Sequences right-padded to the longest: B rows of T positions, every array [B*T], row after row. */
export interface PaddedBatch {
  /** B */
  rows: number;
  /** T: the longest sequence's length - 1. */
  positions: number;
  /** The token read at each position (0 in the padding). */
  ids: Int32Array;
  /** The token each position predicts (0 in the padding). */
  targets: Int32Array;
  /** Per row, the position that predicts its first completion token (P - 1). */
  completionStart: Int32Array;
  /** Per row, its completion's length. */
  completionLength: Int32Array;
}

/**
 * The sequences cut into consecutive micro-batches of `size` (the last one may
 * be shorter); one micro-batch of all of them when `size` is undefined.
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

/** Lays the sequences out as one right-padded batch [B, T], T = the longest sequence's length - 1. */
export function padBatch(sequences: readonly Sequence[]): PaddedBatch {
  if (sequences.length === 0) throw new Error("batch: no sequences");
  for (const [b, s] of sequences.entries()) {
    if (s.prompt.length === 0 || s.completion.length === 0)
      throw new Error(`batch: sequence ${b} has an empty prompt or completion`);
  }
  const B = sequences.length;
  const T = Math.max(...sequences.map((s) => s.prompt.length + s.completion.length)) - 1;
  const batch: PaddedBatch = {
    rows: B,
    positions: T,
    ids: new Int32Array(B * T),
    targets: new Int32Array(B * T),
    completionStart: new Int32Array(B),
    completionLength: new Int32Array(B),
  };
  for (const [b, { prompt, completion }] of sequences.entries()) {
    const P = prompt.length;
    const row = b * T;
    batch.ids.set(prompt, row);
    batch.ids.set(completion.subarray(0, completion.length - 1), row + P);
    batch.targets.set(prompt.subarray(1), row);
    batch.targets.set(completion, row + P - 1);
    batch.completionStart[b] = P - 1;
    batch.completionLength[b] = completion.length;
  }
  return batch;
}

/**
 * A per-token input of the loss, [B*T]: row b's values (one per completion
 * token, or one number for all of them) at the positions that predict its
 * completion tokens, 0 elsewhere.
 */
export function atCompletionTokens(
  batch: PaddedBatch,
  valuesOfRow: (b: number) => Float32Array | number,
): Float32Array {
  const out = new Float32Array(batch.rows * batch.positions);
  for (let b = 0; b < batch.rows; b++) {
    const first = b * batch.positions + batch.completionStart[b];
    const length = batch.completionLength[b];
    const values = valuesOfRow(b);
    if (typeof values === "number") out.fill(values, first, first + length);
    else if (values.length === length) out.set(values, first);
    else throw new Error(`batch: row ${b} has ${values.length} values for ${length} completion tokens`);
  }
  return out;
}
