/** Group advantages, loss normalisations and the GRPO token loss against plain TypeScript. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Tensor } from "../../src/engine/index.ts";
import { groupAdvantages, meanGroupStd } from "../../src/rl/advantages.ts";
import { completionWeights } from "../../src/rl/grpo-batch.ts";
import { GrpoLossOptions, grpoTokenLoss, lossWeights } from "../../src/rl/grpo-loss.ts";
import { engine, gradCheck, rng, uniform } from "../engine/helpers.ts";

describe("advantages", () => {
  test("group mean and unbiased std, eps 1e-4 (TRL)", () => {
    const a = groupAdvantages([1, 0, 0, 1, 1, 1], { groupSize: 3 });
    const std = Math.sqrt(((1 - 1 / 3) ** 2 + 2 * (1 / 3) ** 2) / 2);
    assert.ok(Math.abs(a[0] - 2 / 3 / (std + 1e-4)) < 1e-6);
    assert.ok(Math.abs(a[1] + 1 / 3 / (std + 1e-4)) < 1e-6);
    assert.deepEqual(Array.from(a.slice(3)), [0, 0, 0], "a group of equal rewards has no advantage");
  });
  test("batch std and no scaling (Dr. GRPO)", () => {
    const r = [2, 0, 1, 1];
    assert.deepEqual(Array.from(groupAdvantages(r, { groupSize: 2, scale: "none" })), [1, -1, 0, 0]);
    const batch = groupAdvantages(r, { groupSize: 2, scale: "batch" });
    const std = Math.sqrt(2 / 3);
    assert.ok(Math.abs(batch[0] - 1 / (std + 1e-4)) < 1e-6);
    assert.ok(Math.abs(meanGroupStd(r, 2) - Math.SQRT2 / 2) < 1e-9);
  });
  test("rewards that are not whole groups are refused", () => {
    assert.throws(() => groupAdvantages([1, 2, 3], { groupSize: 2 }), /not whole groups of 2/);
  });
});

describe("loss weights", () => {
  const lengths = [2, 3, 0];
  test("bnpo: sum over all tokens", () => {
    const w = lossWeights(lengths, "bnpo");
    assert.equal(w.length, 5);
    assert.ok(w.every((v) => Math.abs(v - 0.2) < 1e-7));
  });
  test("grpo: per-sequence mean, then mean over sequences", () => {
    const w = lossWeights(lengths, "grpo");
    assert.ok(Math.abs(w[0] - 1 / 6) < 1e-7 && Math.abs(w[2] - 1 / 9) < 1e-7);
  });
  test("dr_grpo: constant normaliser", () => {
    assert.ok(lossWeights(lengths, "dr_grpo", { maxLength: 10 }).every((v) => Math.abs(v - 1 / 30) < 1e-7));
    assert.throws(() => lossWeights(lengths, "dr_grpo"), /maxLength/);
  });
  test("dapo: tokens of the whole generation batch", () => {
    assert.ok(lossWeights(lengths, "dapo", { batchTokens: 50 }).every((v) => Math.abs(v - 0.02) < 1e-7));
  });
  test("bnpo_per_group: each group's token mean, over the groups", () => {
    // groups of 2: [2, 4] (6 tokens) and [1, 3] (4 tokens): 1 / (2 x 6) and 1 / (2 x 4)
    const w = lossWeights([2, 4, 1, 3], "bnpo_per_group", { groupSize: 2 });
    assert.deepEqual(Array.from(w), [
      ...Array(6).fill(Math.fround(1 / 12)),
      ...Array(4).fill(Math.fround(1 / 8)),
    ]);
    assert.throws(() => lossWeights([2, 4, 1], "bnpo_per_group", { groupSize: 2 }), /whole groups of 2/);
    assert.throws(() => lossWeights([2, 4], "bnpo_per_group"), /groupSize/);
  });
  test("bnpo_per_group with overlong filtering: masked completions add no tokens, their group still counts", () => {
    // group 0: [3, masked 5]; group 1: both masked -> group 0 weighs 1 / (2 x 3), group 1 nothing
    const w = completionWeights([3, 5, 2, 2], [false, true, true, true], "bnpo_per_group", 8, 2);
    assert.deepEqual(Array.from(w[0]), Array(3).fill(Math.fround(1 / 6)));
    assert.ok([w[1], w[2], w[3]].every((x) => x.every((v) => v === 0)));
  });
});

describe("bnpo_per_group is the paper's TRL loss (a micro-batch = a group, token mean, / accumulation)", () => {
  const e = engine();
  const rand = rng(5);
  // three groups of two completions, of 1+2, 4+5 and 3+3 tokens
  const lengths = [1, 2, 4, 5, 3, 3];
  const n = lengths.reduce((a, b) => a + b, 0);
  const lpData = uniform(rand, n, -3, -0.5);
  const refData = uniform(rand, n, -3, -0.5);
  const rowAdvantages = [0.7, -0.7, 1.1, -1.1, 0, 0];
  const advData = Float32Array.from(lengths.flatMap((len, i) => Array(len).fill(rowAdvantages[i])));
  const beta = 0.04;

  test("loss and gradient equal TRL's per-micro-batch computation, worked out by hand", async () => {
    // TRL (grpo_trainer.py:909-916 at 69ad852e), one micro-batch per group, then / number of micro-batches
    const groups = [
      [0, 3],
      [3, 12],
      [12, 18],
    ];
    let expected = 0;
    const expectedGrad = new Float64Array(n);
    for (const [from, to] of groups) {
      let sum = 0;
      for (let t = from; t < to; t++) {
        const d = refData[t] - lpData[t];
        sum += -advData[t] + beta * (Math.exp(d) - d - 1); // ratio exp(lp - lp.detach()) = 1
        expectedGrad[t] = (-advData[t] + beta * (1 - Math.exp(d))) / (to - from) / groups.length;
      }
      expected += sum / (to - from) / groups.length;
    }
    const weights = lossWeights(lengths, "bnpo_per_group", { groupSize: 2 });
    const t = (d: Float32Array) => e.tensor([n], { data: d });
    const lp = e.param([n], { data: lpData });
    const g = e.graph();
    const inputs = { old: t(lpData), ref: t(refData), advantages: t(advData), weights: t(weights) };
    const loss = grpoTokenLoss(g, lp, inputs, GrpoLossOptions.parse({ beta, lossType: "bnpo_per_group" }));
    g.build({ outputs: [loss], loss, backward: true });
    const [[value]] = await g.compute();
    g.free();
    assert.ok(Math.abs(value - expected) < 1e-6, `loss ${value} vs ${expected}`);
    const grad = (lp.grad as Tensor).readF32();
    for (let i = 0; i < n; i++) {
      assert.ok(Math.abs(grad[i] - expectedGrad[i]) < 1e-6, `grad[${i}] ${grad[i]} vs ${expectedGrad[i]}`);
    }
    // and not the step's token mean, where the long group weighs more
    const bnpo = lossWeights(lengths, "bnpo");
    assert.ok(Math.abs(bnpo[0] - weights[0]) > 1e-3);
  });
});

describe("GRPO token loss", () => {
  const e = engine();
  const rand = rng(21);
  const n = 8;
  const lpData = uniform(rand, n, -3, -0.5);
  const oldData = Float32Array.from(lpData, (v, i) => v + (i % 3 === 0 ? 0.4 : -0.05 * i)); // some ratios clipped
  const refData = uniform(rand, n, -3, -0.5);
  const advData = Float32Array.from({ length: n }, (_, i) => (i % 2 ? 1.3 : -0.8));
  const wData = lossWeights([3, 5], "bnpo");
  const t = (d: Float32Array) => e.tensor([n], { data: d });
  const [old, ref, advantages, weights] = [t(oldData), t(refData), t(advData), t(wData)];
  const options = GrpoLossOptions.parse({ beta: 0.04, epsLow: 0.2, epsHigh: 0.28 });

  test("value equals the formula", async () => {
    const lp = t(lpData);
    const g = e.graph();
    const loss = grpoTokenLoss(g, lp, { old, ref, advantages, weights }, options);
    g.build({ outputs: [loss] });
    const [[value]] = await g.compute();
    g.free();
    let expected = 0;
    for (let i = 0; i < n; i++) {
      const ratio = Math.exp(lpData[i] - oldData[i]);
      const clipped = Math.min(Math.max(ratio, 0.8), 1.28);
      const surr = -Math.min(ratio * advData[i], clipped * advData[i]);
      const d = refData[i] - lpData[i];
      expected += wData[i] * (surr + 0.04 * (Math.exp(d) - d - 1));
    }
    assert.ok(Math.abs(value - expected) < 1e-5, `${value} vs ${expected}`);
  });

  test("gradients match finite differences", async () => {
    const lp = e.param([n], { data: lpData });
    await gradCheck([lp], (g) => grpoTokenLoss(g, lp, { old, ref, advantages, weights }, options), {
      samples: n,
      h: 1e-3,
    });
  });

  test("beta > 0 without reference log-probs is refused", () => {
    const g = e.graph();
    assert.throws(() => grpoTokenLoss(g, t(lpData), { old, advantages, weights }, options), /reference/);
    g.free();
  });
});
