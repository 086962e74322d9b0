/** Gradients from ggml's autodiff against central finite differences. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Engine, type Graph, type Tensor } from "../../src/engine/index.ts";
import {
  initLlamaWeights,
  llamaParameters,
  parseLlamaConfig,
  weightedNllLoss,
} from "../../src/model/llama.ts";
import { engine, gradCheck, rng, testDevices, uniform } from "./helpers.ts";

for (const device of testDevices()) {
  describe(`on ${device}`, () => {
    const e = engine(device);
    const rand = rng(7);
    const param = (shape: number[], lo = -1, hi = 1) =>
      e.param(shape, {
        name: `p${shape.join("x")}`,
        data: uniform(
          rand,
          shape.reduce((a, b) => a * b, 1),
          lo,
          hi,
        ),
      });
    const fixed = (shape: number[], lo = -1, hi = 1) =>
      e.tensor(shape, {
        data: uniform(
          rand,
          shape.reduce((a, b) => a * b, 1),
          lo,
          hi,
        ),
      });

    /** sum(f(...) * R) with a fixed random R per shape, so every output element matters differently. */
    const rByShape = new Map<string, Tensor>();
    const weighted = (g: Graph, y: Tensor) => {
      const key = y.shape.join("x");
      if (!rByShape.has(key)) rByShape.set(key, fixed([...y.shape]));
      return g.sum(g.mul(y, rByShape.get(key) as Tensor));
    };

    describe("gradients of each op", () => {
      const a = param([3, 4]);
      const b = param([3, 4]);
      const row = param([4]);
      const positive = param([3, 4], 0.5, 2);
      const cases: Array<[string, Tensor[], (g: Graph) => Tensor]> = [
        ["add with broadcast", [a, row], (g) => weighted(g, g.add(a, row))],
        ["sub", [a, b], (g) => weighted(g, g.sub(a, b))],
        ["mul with broadcast", [a, row], (g) => weighted(g, g.mul(a, row))],
        ["div", [a, positive], (g) => weighted(g, g.div(a, positive))],
        ["scale", [a], (g) => weighted(g, g.scale(a, -1.5, 2))],
        ["sqr", [a], (g) => weighted(g, g.sqr(a))],
        ["sqrt", [positive], (g) => weighted(g, g.sqrt(positive))],
        ["exp", [a], (g) => weighted(g, g.exp(a))],
        ["log", [positive], (g) => weighted(g, g.log(positive))],
        ["silu", [a], (g) => weighted(g, g.silu(a))],
        ["swiglu", [a, b], (g) => weighted(g, g.swiglu(a, b))],
        ["relu", [a], (g) => weighted(g, g.relu(a))],
        ["minimum", [a, b], (g) => weighted(g, g.minimum(a, b))],
        ["clamp", [a], (g) => weighted(g, g.clamp(a, -0.35, 0.45))],
        ["sumRows", [a], (g) => weighted(g, g.sumRows(a))],
        ["meanRows", [a], (g) => weighted(g, g.meanRows(a))],
        ["mean", [a], (g) => g.mean(g.sqr(a))],
        ["rmsNorm", [a], (g) => weighted(g, g.rmsNorm(a, 1e-5))],
        ["softmax", [a], (g) => weighted(g, g.softmax(a, { scale: 0.7 }))],
        ["entropy", [a], (g) => weighted(g, g.entropy(a))],
        ["logProbsOf", [a], (g) => weighted(g, g.logProbsOf(a, Int32Array.from([3, 0, 2])))],
      ];
      for (const [name, params, build] of cases) {
        test(name, async () => {
          await gradCheck(params, build, { h: 1e-2, tol: 2e-2 });
        });
      }

      test("linear, both operands, batched", async () => {
        const x = param([2, 3, 5]);
        const w = param([4, 5]);
        await gradCheck([x, w], (g) => weighted(g, g.linear(x, w)));
      });
      test("linear with broadcast heads (grouped-query attention)", async () => {
        const q = param([1, 4, 3, 6]);
        const k = param([1, 2, 5, 6]);
        await gradCheck([q, k], (g) => weighted(g, g.linear(q, k)));
      });
      test("embedding", async () => {
        const table = param([5, 3]);
        const ids = e.tensor([4], { dtype: "i32", data: [1, 4, 1, 0] });
        await gradCheck([table], (g) => weighted(g, g.embedding(table, ids)), { samples: 15 });
      });
      test("rope (neox and normal)", async () => {
        const x = param([3, 2, 4]);
        const pos = e.tensor([3], { dtype: "i32", data: [0, 5, 9] });
        await gradCheck([x], (g) => weighted(g, g.rope(x, pos, { theta: 10000, mode: "neox" })));
        await gradCheck([x], (g) => weighted(g, g.rope(x, pos, { theta: 10000, mode: "normal" })));
      });
      test("permute, reshape, transpose, cont, narrow", async () => {
        const x = param([2, 3, 4]);
        await gradCheck([x], (g) => weighted(g, g.reshape(g.permute(x, [2, 0, 1]), [4, 6])));
        await gradCheck([x], (g) => weighted(g, g.cont(g.transpose(x))));
        await gradCheck([x], (g) => weighted(g, g.narrow(x, 2, 1, 2)));
      });
      test("elementwise ops on transposed and permuted views", async () => {
        const x = param([3, 4]);
        await gradCheck([x], (g) => weighted(g, g.exp(g.transpose(x))));
        await gradCheck([x], (g) => weighted(g, g.sumRows(g.sqr(g.permute(x, [1, 0])))));
        await gradCheck([x], (g) => weighted(g, g.silu(g.narrow(g.transpose(x), 0, 1, 2))));
      });
      test("through a frozen bf16 weight and casts", async () => {
        const x = param([2, 4]);
        const w = e.tensor([3, 4], { dtype: "bf16", data: uniform(rand, 12) });
        // bf16 products round x to bf16 too; the loss is linear in x, so a large step is exact.
        await gradCheck([x], (g) => weighted(g, g.linear(x, w)), { h: 0.25, tol: 3e-2 });
        await gradCheck([x], (g) => weighted(g, g.cast(g.cast(x, "f16"), "f32")), { h: 5e-2, tol: 5e-2 });
      });
      test("causal mask and masked softmax", async () => {
        const s = param([2, 3, 3]);
        const mask = e.tensor([3, 3], { data: [0, -Infinity, 0, 0, 0, 0, -Infinity, 0, 0] });
        await gradCheck([s], (g) => weighted(g, g.softmax(g.causalMask(s), { scale: 0.5 })));
        await gradCheck([s], (g) => weighted(g, g.softmax(s, { mask })));
      });
    });

    // Only the CPU engine has a BLAS backend to go without.
    if (device === "cpu") {
      describe("without the BLAS backend", () => {
        // Matrix-product gradients then use mul_mat on transposed copies (native/patches/0001).
        const cpu = new Engine({ threads: 2, blas: false });
        const p = (shape: number[]) =>
          cpu.param(shape, {
            data: uniform(
              rand,
              shape.reduce((a, b) => a * b, 1),
            ),
          });
        const r = (shape: number[]) =>
          cpu.tensor(shape, {
            data: uniform(
              rand,
              shape.reduce((a, b) => a * b, 1),
            ),
          });
        test("linear, 2-D and batched with broadcast", async () => {
          const [x, w, R1] = [p([3, 5]), p([4, 5]), r([3, 4])];
          await gradCheck([x, w], (g) => g.sum(g.mul(g.linear(x, w), R1)), { on: cpu });
          const [q, k, R2] = [p([2, 4, 3, 6]), p([2, 2, 5, 6]), r([2, 4, 3, 5])];
          await gradCheck([q, k], (g) => g.sum(g.mul(g.linear(q, k), R2)), { on: cpu });
        });
      });
    }

    describe("composite losses", () => {
      test("GRPO clipped surrogate with k3 KL and per-token weights", async () => {
        // Per-token: ratio = exp(lp - lpOld); surrogate = min(ratio * A, clamp(ratio) * A);
        // kl = exp(lpRef - lp) - (lpRef - lp) - 1; loss = -sum(w * (surrogate - beta * kl)).
        const logits = param([6, 5], -2, 2);
        const targets = Int32Array.from([0, 1, 4, 2, 2, 3]);
        const old = e.tensor([6], { data: uniform(rand, 6, -2.2, -1.2) });
        const refLp = e.tensor([6], { data: uniform(rand, 6, -2.2, -1.2) });
        const adv = e.tensor([6], { data: [1.2, -0.7, 0.4, -1.1, 0.9, -0.3] });
        const w = e.tensor([6], { data: [0.2, 0.2, 0.2, 0.1, 0.1, 0] });
        await gradCheck(
          [logits],
          (g) => {
            const lp = g.logProbsOf(logits, targets);
            const ratio = g.exp(g.sub(lp, old));
            const surrogate = g.minimum(g.mul(ratio, adv), g.mul(g.clamp(ratio, 0.8, 1.28), adv));
            const d = g.sub(refLp, lp);
            const kl = g.sub(g.scale(g.exp(d), 1, -1), d);
            return g.neg(g.sum(g.mul(g.sub(surrogate, g.scale(kl, 0.04)), w)));
          },
          { samples: 30, h: 5e-3 },
        );
      });

      for (const [name, extra] of [
        ["Llama", {}],
        ["Qwen2 (q/k/v biases)", { attentionBias: true }],
        ["Qwen3 (q/k norms, own head dim)", { qkNorm: true, headDim: 6 }],
      ] as const) {
        test(`2-layer ${name} block with a per-token weighted log-likelihood`, async () => {
          await llamaBlockGradCheck(extra);
        });
      }

      async function llamaBlockGradCheck(extra: object) {
        const config = parseLlamaConfig({
          vocabSize: 11,
          hidden: 8,
          layers: 2,
          heads: 2,
          kvHeads: 1,
          ffn: 12,
          ...extra,
        });
        const weights = initLlamaWeights(e, config, 3);
        // Larger weights than the 0.02 init (and non-zero biases) so every path carries a measurable gradient.
        for (const p of llamaParameters(weights)) {
          if (p.shape.length === 2 || p.name.match(/\.b[qkv]$/)) p.write(uniform(rand, p.size, -0.5, 0.5));
        }
        const [B, T] = [2, 4];
        const ids = e.tensor([B, T], { dtype: "i32", data: [1, 5, 2, 9, 3, 3, 10, 0] });
        const pos = e.tensor([T], { dtype: "i32", data: [0, 1, 2, 3] });
        const targets = Int32Array.from([5, 2, 9, 4, 3, 10, 0, 7]);
        const tokenWeights = e.tensor([B * T], { data: [0.5, -0.3, 0.2, 0.1, 0, 0.4, -0.6, 0.3] });
        if (device === "cpu") {
          await gradCheck(
            llamaParameters(weights),
            (g) => weightedNllLoss(g, config, weights, ids, pos, targets, tokenWeights).loss,
            { samples: 4, h: 1e-2, tol: 3e-2 },
          );
          return;
        }
        // On a GPU, ggml-vulkan multiplies non-contiguous operands in f16 (~1e-4 relative), too
        // noisy for finite differences of this small, cancelling loss: the device's gradient is
        // compared with the CPU's (which the CPU run of this test checks numerically).
        const cpu = engine("cpu");
        const cpuWeights = initLlamaWeights(cpu, config, 3);
        const [onDevice, onCpu] = [llamaParameters(weights), llamaParameters(cpuWeights)];
        for (const [i, p] of onDevice.entries()) onCpu[i].write(p.readF32());
        const gradients = async (en: typeof e, w: typeof weights) => {
          const params = llamaParameters(w);
          const inputs = {
            ids: en.tensor([B, T], { dtype: "i32", data: ids.read() }),
            pos: en.tensor([T], { dtype: "i32", data: pos.read() }),
            weights: en.tensor([B * T], { data: tokenWeights.readF32() }),
          };
          const g = en.graph({ capacity: 8192 });
          g.build({
            loss: weightedNllLoss(g, config, w, inputs.ids, inputs.pos, targets, inputs.weights).loss,
            backward: true,
          });
          en.zeroGrads(params);
          await g.compute();
          g.free();
          return params.map((p) => (p.grad as Tensor).readF32());
        };
        const [got, reference] = [await gradients(e, weights), await gradients(cpu, cpuWeights)];
        reference.forEach((r, i) => {
          let [diff, norm] = [0, 0];
          r.forEach((v, k) => {
            diff += (got[i][k] - v) ** 2;
            norm += v ** 2;
          });
          assert.ok(
            Math.sqrt(diff) <= 1e-2 * Math.sqrt(norm) + 1e-6,
            `${onDevice[i].name}: off by ${Math.sqrt(diff / norm)} (relative)`,
          );
        });
      }
    });
  });
}
