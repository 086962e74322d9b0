/** Graph lifetimes, big graphs, gradient accumulation and the AdamW optimizer. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AdamW, type Tensor } from "../../src/engine/index.ts";
import {
  initLlamaWeights,
  llamaParameters,
  parseLlamaConfig,
  weightedNllLoss,
} from "../../src/model/llama.ts";
import { assertClose, engine, rng, testDevices, uniform } from "./helpers.ts";

const e = engine();
const rand = rng(11);

/** A tiny Llama and a fixed batch: the graph builder returns its loss. */
function tinyModel(layers: number, seed = 1, e = engine()) {
  const config = parseLlamaConfig({ vocabSize: 32, hidden: 16, layers, heads: 2, kvHeads: 2, ffn: 32 });
  const weights = initLlamaWeights(e, config, seed);
  const [B, T] = [2, 8];
  const tokens = Int32Array.from({ length: B * (T + 1) }, (_, i) => (i * 5 + 3) % 32);
  const ids = e.tensor([B, T], {
    dtype: "i32",
    data: Int32Array.from({ length: B * T }, (_, i) => tokens[i + Math.floor(i / T)]),
  });
  const targets = Int32Array.from({ length: B * T }, (_, i) => tokens[i + Math.floor(i / T) + 1]);
  const pos = e.tensor([T], { dtype: "i32", data: Int32Array.from({ length: T }, (_, i) => i) });
  const w = e.tensor([B * T], { data: new Float32Array(B * T).fill(1 / (B * T)) });
  return { config, weights, params: llamaParameters(weights), ids, pos, targets, w };
}

describe("graphs", () => {
  test("a 24-layer model builds and runs forward and backward", async () => {
    const m = tinyModel(24);
    const g = e.graph({ capacity: 16384 });
    const { loss } = weightedNllLoss(g, m.config, m.weights, m.ids, m.pos, m.targets, m.w);
    g.build({ loss, outputs: [loss], backward: true });
    assert.ok(g.nodeCount() > 2048, `only ${g.nodeCount()} nodes`);
    const [l] = await g.compute();
    assert.ok(Math.abs(l[0] - Math.log(32)) < 0.1, `loss ${l[0]} should be near log(32) at init`);
    const gradNorms = m.params.map((p) => Math.hypot(...(p.grad as Tensor).readF32()));
    assert.ok(gradNorms.every((n) => Number.isFinite(n)));
    assert.ok(
      gradNorms.filter((n) => n > 0).length > m.params.length * 0.9,
      "most parameters get a gradient",
    );
    g.free();
  });

  test("gradients survive computing another graph, and accumulate over computes", async () => {
    const m = tinyModel(2);
    const train = e.graph({ capacity: 4096 });
    const { loss } = weightedNllLoss(train, m.config, m.weights, m.ids, m.pos, m.targets, m.w);
    train.build({ loss, backward: true });
    e.zeroGrads(m.params);
    await train.compute();
    const first = m.params.map((p) => (p.grad as Tensor).readF32());

    const other = e.graph();
    const big = e.tensor([256, 256], { data: uniform(rand, 65536) });
    other.build({ outputs: [other.linear(big, big)] });
    await other.compute();
    for (const [i, p] of m.params.entries())
      assert.deepEqual((p.grad as Tensor).readF32(), first[i], `${p.name} changed`);

    await train.compute(); // a second micro-batch adds the same gradient again
    for (const [i, p] of m.params.entries()) {
      assertClose(
        (p.grad as Tensor).readF32(),
        first[i].map((v) => 2 * v),
        1e-6,
        1e-5,
        p.name,
      );
    }
    train.free();
    other.free();
  });

  test("compute runs off the main thread", async () => {
    const big = e.tensor([512, 512], { data: uniform(rand, 512 * 512) });
    const g = e.graph();
    g.build({ outputs: [g.linear(big, big)] });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    for (let i = 0; i < 20; i++) await g.compute();
    clearInterval(timer);
    assert.ok(ticks > 0, "the event loop never ran while graphs computed");
    g.free();
  });

  test("concurrent computes are queued, not interleaved", async () => {
    const x = e.tensor([64, 64], { data: uniform(rand, 4096) });
    const graphs = [0, 1, 2].map((i) => {
      const g = e.graph();
      g.build({ outputs: [g.scale(x, i + 1)] });
      return g;
    });
    const results = await Promise.all(graphs.map((g) => g.compute()));
    const xs = x.readF32();
    for (const [i, [r]] of results.entries())
      assertClose(
        r,
        xs.map((v) => v * (i + 1)),
      );
    for (const g of graphs) g.free();
  });
});

for (const device of testDevices()) {
  describe(`AdamW on ${device}`, () => {
    const e = engine(device);

    test("an embedding's gradient is the same when its graph computes again after another graph", async () => {
      // Its ids are checked on the host before each compute; they must stay in device memory
      // (a copy moved to host memory was read wrongly on Vulkan once the graph was laid out again).
      const table = e.param([8, 4], { data: Float32Array.from({ length: 32 }, (_, i) => i / 10) });
      const ids = e.tensor([3], { dtype: "i32", data: [1, 3, 3] });
      const g = e.graph();
      g.build({ loss: g.sum(g.sqr(g.embedding(table, ids))), backward: true });
      const other = e.tensor([64], { data: new Float32Array(64).fill(7) });
      const grads: Float32Array[] = [];
      for (let k = 0; k < 2; k++) {
        e.zeroGrads([table]);
        await g.compute();
        grads.push((table.grad as Tensor).readF32());
        const h = e.graph();
        h.build({ outputs: [h.scale(h.sqr(other), 3)] });
        await h.compute();
        h.free();
      }
      // d/dtable sum(rows^2) = 2 x row x (times the row is picked): rows 1 (once) and 3 (twice).
      const expected = new Float32Array(32);
      for (const [row, times] of [
        [1, 1],
        [3, 2],
      ])
        for (let c = 0; c < 4; c++) expected[row * 4 + c] = 2 * ((row * 4 + c) / 10) * times;
      for (const grad of grads) assertClose(grad, expected);
      g.free();
    });
    test("matches a reference AdamW with weight decay and clipping", async () => {
      const init = uniform(rand, 6);
      const p = e.param([2, 3], { data: init, name: "p" });
      const target = e.tensor([2, 3], { data: uniform(rand, 6) });
      const g = e.graph();
      g.build({ loss: g.sum(g.sqr(g.sub(p, target))), backward: true });
      const opt = new AdamW(e, [p], { lr: 0.1, weightDecay: 0.1, maxGradNorm: 0.5, beta1: 0.9, beta2: 0.95 });

      // Reference: torch.optim.AdamW after clip_grad_norm_.
      const w = Float64Array.from(init);
      const tv = target.readF32();
      const m = new Float64Array(6);
      const v = new Float64Array(6);
      for (let t = 1; t <= 5; t++) {
        await g.compute();
        const { gradNorm } = await opt.step();
        const grad = Array.from(w, (wi, i) => 2 * (wi - tv[i]));
        const norm = Math.hypot(...grad);
        assert.ok(Math.abs(norm - gradNorm) < 1e-4 * norm, `grad norm ${gradNorm} vs ${norm}`);
        const clip = Math.min(1, 0.5 / (norm + 1e-6));
        for (let i = 0; i < 6; i++) {
          const gi = grad[i] * clip;
          m[i] = 0.9 * m[i] + 0.1 * gi;
          v[i] = 0.95 * v[i] + 0.05 * gi * gi;
          const mh = m[i] / (1 - 0.9 ** t);
          const vh = v[i] / (1 - 0.95 ** t);
          w[i] = w[i] * (1 - 0.1 * 0.1) - (0.1 * mh) / (Math.sqrt(vh) + 1e-8);
        }
      }
      assertClose(p.readF32(), w, 1e-5, 1e-4, "weights after 5 steps");
      assert.equal(opt.stepCount, 5);
      assert.deepEqual(
        Array.from((p.grad as Tensor).readF32()),
        [0, 0, 0, 0, 0, 0],
        "step() zeroes gradients",
      );
      g.free();
      opt.free();
    });

    test("a non-finite gradient skips the step and leaves the weights untouched", async () => {
      const p = e.param([3], { data: [1, 2, 3] });
      const zero = e.tensor([3], { data: [0, 1, 1] });
      const g = e.graph();
      g.build({ loss: g.sum(g.log(g.mul(p, zero))), backward: true }); // d/dp log(0) = inf
      const opt = new AdamW(e, [p], { lr: 0.1 });
      await g.compute();
      const r = await opt.step();
      assert.equal(r.skipped, true);
      assert.ok(!Number.isFinite(r.gradNorm));
      assert.deepEqual(Array.from(p.readF32()), [1, 2, 3]);
      assert.equal(opt.stepCount, 0);
      g.free();
      opt.free();
    });

    test("state() and loadState() round-trip", async () => {
      const p = e.param([4], { data: [1, -1, 2, -2] });
      const g = e.graph();
      g.build({ loss: g.sum(g.sqr(p)), backward: true });
      const opt = new AdamW(e, [p], { lr: 0.05 });
      await g.compute();
      await opt.step();
      const state = opt.state();
      const copy = new AdamW(e, [p], { lr: 0.05 });
      copy.loadState(state);
      assert.equal(copy.stepCount, 1);
      assert.deepEqual(copy.state().m, state.m);
      assert.deepEqual(copy.state().v, state.v);
      g.free();
      opt.free();
      copy.free();
    });

    test("a tiny model's loss goes down, with micro-batch accumulation and a per-step lr", async () => {
      const m = tinyModel(2, 5, e);
      const g = e.graph({ capacity: 4096 });
      const { loss } = weightedNllLoss(g, m.config, m.weights, m.ids, m.pos, m.targets, m.w);
      g.build({ loss, outputs: [loss], backward: true });
      const opt = new AdamW(e, m.params, { maxGradNorm: 1 });
      const losses: number[] = [];
      for (let step = 0; step < 30; step++) {
        const [l] = await g.compute(); // two micro-batches of the same data
        await g.compute();
        losses.push(l[0]);
        await opt.step({ lr: step < 3 ? 3e-3 : 1e-2 });
      }
      assert.ok(losses[29] < losses[0] * 0.5, `loss ${losses[0]} -> ${losses[29]}`);
      g.free();
      opt.free();
    });
  });
}
