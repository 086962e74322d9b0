/** pass@k, maj@k and the confidence intervals against hand-computed cases and a simulation. */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  averageEstimate,
  defaultKs,
  majAtK,
  meanEstimate,
  passAtK,
  type Vote,
} from "../../src/eval/metrics.ts";
import { seededRandom } from "../../src/model/random.ts";

const close = (a: number, b: number, eps = 1e-12) =>
  assert.ok(Math.abs(a - b) <= eps, `${a} is not ${b} (within ${eps})`);

test("pass@k is 1 - C(n-c,k)/C(n,k)", () => {
  close(passAtK(5, 2, 1), 2 / 5);
  close(passAtK(5, 2, 2), 1 - 3 / 10); // C(3,2)=3, C(5,2)=10
  close(passAtK(5, 2, 3), 1 - 1 / 10); // C(3,3)=1, C(5,3)=10
  assert.equal(passAtK(5, 2, 4), 1); // fewer than 4 wrong samples: any 4 hold a right one
  close(passAtK(10, 3, 5), 1 - 21 / 252); // C(7,5)=21, C(10,5)=252
  assert.equal(passAtK(4, 0, 2), 0);
  assert.equal(passAtK(4, 4, 1), 1);
  assert.equal(passAtK(1, 1, 1), 1);
  close(passAtK(1000, 1, 1), 0.001);
  // Large n stays finite and matches the log-binomial form.
  const lnC = (n: number, k: number) => {
    let s = 0;
    for (let i = 1; i <= k; i++) s += Math.log((n - k + i) / i);
    return s;
  };
  close(passAtK(200, 10, 50), 1 - Math.exp(lnC(190, 50) - lnC(200, 50)), 1e-9);
  assert.throws(() => passAtK(4, 1, 5), /k must be in 1\.\.n/);
  assert.throws(() => passAtK(4, 5, 1), /c must be in 0\.\.n/);
});

test("maj@k: the most frequent answer of the first k samples, ties to the first seen", () => {
  const v = (answer: string | null, correct: boolean): Vote => ({ answer, correct });
  const votes = [v("A", true), v("B", false), v("B", false)];
  assert.equal(majAtK(votes, 1), 1);
  assert.equal(majAtK(votes, 2), 1); // A and B tie: A came first
  assert.equal(majAtK(votes, 3), 0); // B twice
  assert.equal(majAtK([v("B", false), v("A", true), v("A", true), v("B", false)], 4), 0); // 2-2, B first
  assert.equal(majAtK([v("B", false), v("A", true), v("A", true), v("B", false)], 3), 1);
  assert.equal(majAtK([v(null, false), v(null, false), v("A", true)], 3), 1); // no answer: no vote
  assert.equal(majAtK([v(null, false), v(null, false)], 2), 0);
  assert.throws(() => majAtK(votes, 4), /k must be in/);
});

test("mean and 95% interval over problems, average over benchmarks", () => {
  // 9 of 30 problems right (an AIME24 run): p = 0.3, s² = (9·0.49 + 21·0.09)/29.
  const scores = [...Array(9).fill(1), ...Array(21).fill(0)];
  const e = meanEstimate(scores);
  close(e.value, 0.3);
  const se = Math.sqrt((9 * 0.49 + 21 * 0.09) / 29 / 30);
  close(e.stderr, se);
  close(e.ci95[0], 0.3 - 1.959964 * se);
  close(e.ci95[1], 0.3 + 1.959964 * se);
  assert.ok(e.ci95[0] > 0.13 && e.ci95[1] < 0.47);
  // Clipped to [0, 1]; degenerate inputs.
  assert.deepEqual(meanEstimate([1, 1, 1]).ci95, [1, 1]);
  assert.deepEqual(meanEstimate([0, 1]).ci95[0], 0);
  assert.deepEqual(meanEstimate([1]).ci95, [0, 1]);
  const avg = averageEstimate([
    { value: 0.2, stderr: 0.1, ci95: [0, 0.4] },
    { value: 0.6, stderr: 0.2, ci95: [0.2, 1] },
  ]);
  close(avg.value, 0.4);
  close(avg.stderr, Math.sqrt(0.05) / 2);
});

test("the interval covers the true pass@1 about 95% of the time (problems of varied difficulty, n=4)", () => {
  const random = seededRandom(7);
  const trials = 400;
  const problems = 60;
  const n = 4;
  let covered = 0;
  for (let t = 0; t < trials; t++) {
    const scores: number[] = [];
    for (let i = 0; i < problems; i++) {
      const p = random() ** 2; // difficulty: E[p] = 1/3
      let c = 0;
      for (let j = 0; j < n; j++) if (random() < p) c++;
      scores.push(passAtK(n, c, 1));
    }
    const { ci95 } = meanEstimate(scores);
    if (ci95[0] <= 1 / 3 && 1 / 3 <= ci95[1]) covered++;
  }
  const coverage = covered / trials;
  // (Counting the 240 samples as independent trials instead gives about 0.78 here.)
  assert.ok(coverage > 0.9 && coverage < 0.985, `coverage ${coverage}`);
});

test("default k values: powers of two up to n, and n", () => {
  assert.deepEqual(defaultKs(1), [1]);
  assert.deepEqual(defaultKs(16), [1, 2, 4, 8, 16]);
  assert.deepEqual(defaultKs(6), [1, 2, 4, 6]);
});
