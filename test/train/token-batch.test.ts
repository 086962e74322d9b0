/** Training batches on the host: micro-batches, right padding, per-token values at the completion tokens. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { atCompletionTokens, microBatches, padBatch } from "../../src/train/token-batch.ts";

const sequences = [
  { prompt: Int32Array.from([1, 2, 3]), completion: Int32Array.from([4, 5]) },
  { prompt: Int32Array.from([6]), completion: Int32Array.from([7, 8, 9]) },
];

test("padBatch: each position reads a token and predicts the next; the rest is padding", () => {
  const b = padBatch(sequences);
  assert.equal(b.rows, 2);
  assert.equal(b.positions, 4); // the longest sequence has 5 tokens
  assert.deepEqual(Array.from(b.ids), [1, 2, 3, 4, 6, 7, 8, 0]);
  assert.deepEqual(Array.from(b.targets), [2, 3, 4, 5, 7, 8, 9, 0]);
  assert.deepEqual(Array.from(b.completionStart), [2, 0]);
  assert.deepEqual(Array.from(b.completionLength), [2, 3]);
  assert.throws(() => padBatch([]), /no sequences/);
  assert.throws(
    () => padBatch([{ prompt: new Int32Array(0), completion: Int32Array.from([1]) }]),
    /sequence 0 has an empty prompt/,
  );
});

test("atCompletionTokens: values at the positions that predict completion tokens, 0 elsewhere", () => {
  const b = padBatch(sequences);
  const perToken = atCompletionTokens(b, (row) => (row === 0 ? Float32Array.from([0.5, 0.25]) : 2));
  assert.deepEqual(Array.from(perToken), [0, 0, 0.5, 0.25, 2, 2, 2, 0]);
  assert.throws(() => atCompletionTokens(b, () => new Float32Array(1)), /row 0 has 1 values for 2/);
});

test("microBatches cuts consecutive runs, the last one shorter", () => {
  const rows = [0, 1, 2, 3, 4, 5, 6];
  assert.deepEqual(microBatches(rows, 3), [[0, 1, 2], [3, 4, 5], [6]]);
  assert.deepEqual(microBatches(rows), [rows]);
  assert.deepEqual(microBatches(rows, 7), [rows]);
  assert.deepEqual(microBatches([], 2), []);
  assert.throws(() => microBatches(rows, 0), /positive integer/);
});
