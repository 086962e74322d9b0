/** top-k / min-p / top-p keep exactly the tokens a full sort keeps, on flat and peaked rows; per-prompt seeds. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { filteredTokens, promptSeed } from "../../src/generate/sampling.ts";
import { seededRandom } from "../../src/model/random.ts";

/** The reference: sort every candidate by probability (stable), then cut as top-k, min-p, top-p. */
function bySort(probs: Float32Array, o: { topK: number; topP: number; minP: number }): number[] {
  let pmax = 0;
  for (const p of probs) pmax = Math.max(pmax, p);
  const order = [...probs.keys()].filter((i) => probs[i] >= pmax * 1e-9 && probs[i] > 0);
  order.sort((a, b) => probs[b] - probs[a]);
  let keep = o.topK > 0 ? Math.min(o.topK, order.length) : order.length;
  if (o.minP > 0) while (keep > 1 && probs[order[keep - 1]] < o.minP * pmax) keep--;
  if (o.topP < 1) {
    let acc = 0;
    for (let i = 0; i < keep; i++) {
      acc += probs[order[i]];
      if (acc >= o.topP) {
        keep = i + 1;
        break;
      }
    }
  }
  return order.slice(0, keep).sort((a, b) => a - b);
}

function softmax(logits: number[]): Float32Array {
  const m = Math.max(...logits);
  const e = logits.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return Float32Array.from(e, (x) => x / s);
}

test("the kept set equals a full sort's, for flat, peaked and tied rows", () => {
  const rand = seededRandom(3);
  const rows = [
    softmax(Array.from({ length: 5000 }, () => rand() * 0.1)), // flat: a young model
    softmax(Array.from({ length: 5000 }, () => rand() * 12)), // peaked
    softmax(Array.from({ length: 300 }, (_, i) => (i % 7 === 0 ? 2 : 0))), // ties
  ];
  const settings = [
    { topK: 0, topP: 0.95, minP: 0 },
    { topK: 0, topP: 0.5, minP: 0 },
    { topK: 40, topP: 1, minP: 0 },
    { topK: 0, topP: 1, minP: 0.05 },
    { topK: 20, topP: 0.9, minP: 0.01 },
    { topK: 1, topP: 1, minP: 0 },
  ];
  for (const [r, probs] of rows.entries()) {
    for (const o of settings) {
      const got = [...filteredTokens(probs, o)].sort((a, b) => a - b);
      assert.deepEqual(got, bySort(probs, o), `row ${r} ${JSON.stringify(o)}`);
    }
  }
});

test("promptSeed: prompt 0 keeps the call's seed; the others get distinct 31-bit seeds", () => {
  for (const seed of [0, 3, 42, -7, 2 ** 31 - 1]) {
    assert.equal(promptSeed(seed, 0), seed);
    const seeds = Array.from({ length: 500 }, (_, i) => promptSeed(seed, i + 1));
    for (const s of seeds) assert.ok(Number.isInteger(s) && s >= 0 && s < 2 ** 31, `${s}`);
    assert.equal(new Set([seed, ...seeds]).size, 501, `seed ${seed}: all distinct`);
    assert.deepEqual(
      seeds,
      Array.from({ length: 500 }, (_, i) => promptSeed(seed, i + 1)),
    );
  }
  assert.notEqual(promptSeed(1, 1), promptSeed(2, 1));
});
