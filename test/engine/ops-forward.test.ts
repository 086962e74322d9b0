/** Forward values of each op against the plain TypeScript references, on random inputs. */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import type { Graph, Tensor } from "../../src/engine/index.ts";
import { assertClose, engine, rng, testDevices, uniform } from "./helpers.ts";
import * as ref from "./reference.ts";

for (const device of testDevices()) {
  describe(`on ${device}`, () => {
    const e = engine(device);
    // Tolerances (absolute, relative) of broadcast matrix products: ggml-vulkan multiplies
    // operands it must reshape for the broadcast in f16 (errors up to 5e-4 measured on lavapipe).
    const [productAtol, productTol] = device === "cpu" ? [1e-5, 1e-4] : [2e-3, 1e-3];
    const rand = rng(42);
    const graphs: Graph[] = [];
    after(() => {
      for (const g of graphs) g.free();
    });

    /** Builds `fn` in a fresh graph, computes it and returns the output values. */
    async function run(
      fn: (g: Graph) => Tensor,
    ): Promise<{ values: Float32Array | Int32Array; shape: readonly number[] }> {
      const g = e.graph();
      graphs.push(g);
      const out = fn(g);
      g.build({ outputs: [out] });
      const [values] = await g.compute();
      return { values, shape: out.shape };
    }

    const input = (shape: number[], lo = -1, hi = 1) => {
      const data = uniform(
        rand,
        shape.reduce((a, b) => a * b, 1),
        lo,
        hi,
      );
      return { t: e.tensor(shape, { data }), data };
    };

    describe("elementwise ops", () => {
      const a = input([3, 4, 5]);
      const b = input([3, 4, 5]);
      const row = input([5]);
      const pos = input([3, 4, 5], 0.1, 2);
      const cases: Array<[string, (g: Graph) => Tensor, (i: number) => number]> = [
        ["add", (g) => g.add(a.t, b.t), (i) => a.data[i] + b.data[i]],
        ["sub", (g) => g.sub(a.t, b.t), (i) => a.data[i] - b.data[i]],
        ["mul", (g) => g.mul(a.t, b.t), (i) => a.data[i] * b.data[i]],
        ["div", (g) => g.div(a.t, pos.t), (i) => a.data[i] / pos.data[i]],
        ["add broadcast", (g) => g.add(a.t, row.t), (i) => a.data[i] + row.data[i % 5]],
        ["mul broadcast", (g) => g.mul(a.t, row.t), (i) => a.data[i] * row.data[i % 5]],
        ["scale", (g) => g.scale(a.t, 2.5, -0.5), (i) => a.data[i] * 2.5 - 0.5],
        ["neg", (g) => g.neg(a.t), (i) => -a.data[i]],
        ["sqr", (g) => g.sqr(a.t), (i) => a.data[i] ** 2],
        ["sqrt", (g) => g.sqrt(pos.t), (i) => Math.sqrt(pos.data[i])],
        ["exp", (g) => g.exp(a.t), (i) => Math.exp(a.data[i])],
        ["log", (g) => g.log(pos.t), (i) => Math.log(pos.data[i])],
        ["silu", (g) => g.silu(a.t), (i) => ref.silu(a.data[i])],
        ["step", (g) => g.step(a.t), (i) => (a.data[i] > 0 ? 1 : 0)],
        ["relu", (g) => g.relu(a.t), (i) => Math.max(0, a.data[i])],
        ["swiglu", (g) => g.swiglu(a.t, b.t), (i) => ref.silu(a.data[i]) * b.data[i]],
        ["minimum", (g) => g.minimum(a.t, b.t), (i) => Math.min(a.data[i], b.data[i])],
        ["clamp", (g) => g.clamp(a.t, -0.3, 0.4), (i) => Math.min(0.4, Math.max(-0.3, a.data[i]))],
      ];
      for (const [name, build, expect] of cases) {
        test(name, async () => {
          const { values, shape } = await run(build);
          assert.deepEqual(shape, [3, 4, 5]);
          assertClose(
            values,
            Float32Array.from({ length: 60 }, (_, i) => expect(i)),
            1e-5,
            1e-5,
            name,
          );
        });
      }
    });

    describe("reductions", () => {
      const a = input([2, 3, 4]);
      test("sum", async () => {
        const { values, shape } = await run((g) => g.sum(a.t));
        assert.deepEqual(shape, [1]);
        assertClose(values, [a.data.reduce((x, y) => x + y, 0)], 1e-5, 1e-5);
      });
      test("sumRows and meanRows", async () => {
        const rows = Array.from({ length: 6 }, (_, r) =>
          a.data.slice(r * 4, r * 4 + 4).reduce((x, y) => x + y, 0),
        );
        const s = await run((g) => g.sumRows(a.t));
        assert.deepEqual(s.shape, [2, 3, 1]);
        assertClose(s.values, rows, 1e-5, 1e-5);
        assertClose(
          (await run((g) => g.meanRows(a.t))).values,
          rows.map((v) => v / 4),
          1e-5,
          1e-5,
        );
      });
      test("mean", async () => {
        assertClose(
          (await run((g) => g.mean(a.t))).values,
          [a.data.reduce((x, y) => x + y, 0) / 24],
          1e-5,
          1e-5,
        );
      });
      test("argmax", async () => {
        const m = input([3, 7]);
        const { values } = await run((g) => g.argmax(m.t));
        assert.ok(values instanceof Int32Array);
        for (let r = 0; r < 3; r++) {
          const row = Array.from(m.data.slice(r * 7, r * 7 + 7));
          assert.equal(values[r], row.indexOf(Math.max(...row)));
        }
      });
      test("repeat", async () => {
        const r = input([1, 4]);
        const like = e.tensor([3, 4]);
        const { values } = await run((g) => g.repeat(r.t, like));
        assertClose(values, [...r.data, ...r.data, ...r.data]);
      });
    });

    describe("matrix products and shapes", () => {
      test("linear with a 2-D weight over a batch", async () => {
        const x = input([2, 3, 8]);
        const w = input([5, 8]);
        const { values, shape } = await run((g) => g.linear(x.t, w.t));
        assert.deepEqual(shape, [2, 3, 5]);
        assertClose(values, ref.linear(x.data, w.data, 6, 8, 5), 1e-5, 1e-4);
      });
      test("linear batched with broadcast weight heads (grouped-query attention)", async () => {
        const q = input([1, 4, 3, 8]); // [B, H, T, D]
        const k = input([1, 2, 5, 8]); // [B, Hkv, S, D]
        const { values, shape } = await run((g) => g.linear(q.t, k.t));
        assert.deepEqual(shape, [1, 4, 3, 5]);
        for (let h = 0; h < 4; h++) {
          const kh = Math.floor(h / 2); // query head h reads kv head h / (H / Hkv), as HF repeat_kv
          const expected = ref.linear(
            q.data.slice(h * 24, h * 24 + 24),
            k.data.slice(kh * 40, kh * 40 + 40),
            3,
            8,
            5,
          );
          assertClose(values.slice(h * 15, h * 15 + 15), expected, productAtol, productTol, `head ${h}`);
        }
      });
      test("linear with broadcast heads over a batch, for a trainable weight", async () => {
        const q = input([2, 4, 3, 8]); // [B, H, T, D]
        const kData = uniform(rand, 2 * 2 * 5 * 8);
        const k = e.param([2, 2, 5, 8], { data: kData }); // trainable: expanded before the product
        const { values } = await run((g) => g.linear(q.t, k));
        for (let b = 0; b < 2; b++)
          for (let h = 0; h < 4; h++) {
            const qo = (b * 4 + h) * 24;
            const ko = (b * 2 + Math.floor(h / 2)) * 40;
            const expected = ref.linear(q.data.slice(qo, qo + 24), kData.slice(ko, ko + 40), 3, 8, 5);
            assertClose(
              values.slice((b * 4 + h) * 15, (b * 4 + h + 1) * 15),
              expected,
              productAtol,
              productTol,
              `b ${b} head ${h}`,
            );
          }
      });
      test("linear reads bf16 and f16 weights", async () => {
        const x = input([3, 8]);
        const w = input([4, 8]);
        for (const dtype of ["f16", "bf16"] as const) {
          const wl = e.tensor([4, 8], { dtype, data: w.data });
          const { values } = await run((g) => g.linear(x.t, wl));
          assertClose(values, ref.linear(x.data, w.data, 3, 8, 4), 3e-2, 3e-2, dtype);
        }
      });
      test("reshape, permute, transpose, cont, narrow", async () => {
        const a = input([2, 3, 4]);
        const p = await run((g) => g.cont(g.permute(a.t, [2, 0, 1])));
        assert.deepEqual(p.shape, [4, 2, 3]);
        assertClose(p.values, ref.permute(a.data, [2, 3, 4], [2, 0, 1]));
        const t = await run((g) => g.cont(g.transpose(a.t)));
        assert.deepEqual(t.shape, [2, 4, 3]);
        assertClose(t.values, ref.permute(a.data, [2, 3, 4], [0, 2, 1]));
        const r = await run((g) => g.reshape(g.permute(a.t, [1, 0, 2]), [6, 4]));
        assertClose(r.values, ref.permute(a.data, [2, 3, 4], [1, 0, 2]));
        const n = await run((g) => g.cont(g.narrow(a.t, 1, 1, 2)));
        assert.deepEqual(n.shape, [2, 2, 4]);
        assertClose(n.values, [...a.data.slice(4, 12), ...a.data.slice(16, 24)]);
      });
      test("cast round-trips through f16", async () => {
        const a = input([10]);
        const { values } = await run((g) => g.cast(g.cast(a.t, "f16"), "f32"));
        assertClose(values, a.data, 1e-3, 1e-3);
      });
    });

    describe("transformer layers", () => {
      test("embedding gathers rows for ids of any shape", async () => {
        const table = input([6, 4]);
        const ids = e.tensor([2, 2], { dtype: "i32", data: [5, 0, 2, 2] });
        const { values, shape } = await run((g) => g.embedding(table.t, ids));
        assert.deepEqual(shape, [2, 2, 4]);
        const rows = [5, 0, 2, 2].flatMap((i) => Array.from(table.data.slice(i * 4, i * 4 + 4)));
        assertClose(values, rows);
      });
      test("embedding from a bf16 table gives f32", async () => {
        const table = input([6, 4]);
        const t16 = e.tensor([6, 4], { dtype: "bf16", data: table.data });
        const ids = e.tensor([1], { dtype: "i32", data: [3] });
        const { values } = await run((g) => g.embedding(t16, ids));
        assertClose(values, table.data.slice(12, 16), 1e-2, 1e-2);
      });
      test("rmsNorm", async () => {
        const x = input([3, 16]);
        assertClose(
          (await run((g) => g.rmsNorm(x.t, 1e-6))).values,
          ref.rmsNorm(x.data, 16, 1e-6),
          1e-5,
          1e-4,
        );
      });
      for (const mode of ["neox", "normal"] as const) {
        test(`rope ${mode}`, async () => {
          const x = input([5, 2, 8]);
          const pos = [0, 1, 2, 7, 100];
          const p = e.tensor([5], { dtype: "i32", data: pos });
          const { values } = await run((g) => g.rope(x.t, p, { theta: 10000, mode }));
          assertClose(values, ref.rope(x.data, 5, 2, 8, pos, 10000, mode === "neox"), 1e-4, 1e-4);
        });
      }
      test("rope over a batch [B, T, H, D] shares positions", async () => {
        const x = input([2, 3, 1, 4]);
        const p = e.tensor([3], { dtype: "i32", data: [3, 4, 5] });
        const { values } = await run((g) => g.rope(x.t, p, { theta: 500, mode: "neox" }));
        for (let b = 0; b < 2; b++) {
          const expected = ref.rope(x.data.slice(b * 12, b * 12 + 12), 3, 1, 4, [3, 4, 5], 500, true);
          assertClose(values.slice(b * 12, b * 12 + 12), expected, 1e-4, 1e-4);
        }
      });
      test("causal mask then scaled softmax", async () => {
        const x = input([2, 4, 4]);
        const { values } = await run((g) => g.softmax(g.causalMask(x.t), { scale: 0.5 }));
        const masked = ref.map(x.data, (v, i) => (i % 4 > Math.floor(i / 4) % 4 ? -Infinity : v));
        assertClose(values, ref.softmax(masked, 4, 0.5), 1e-6, 1e-5);
      });
      test("softmax with an additive padding mask broadcast over heads", async () => {
        const x = input([2, 3, 4]); // [H, T, S]
        const mask = e.tensor([3, 4], { data: [0, 0, -Infinity, 0, 0, 0, 0, -Infinity, -Infinity, 0, 0, 0] });
        const { values } = await run((g) => g.softmax(x.t, { mask }));
        const m = mask.readF32();
        assertClose(
          values,
          ref.softmax(
            ref.map(x.data, (v, i) => v + m[i % 12]),
            4,
          ),
          1e-6,
          1e-5,
        );
      });
      test("logProbsOf picks log-softmax of each target", async () => {
        const logits = input([4, 9], -3, 3);
        const targets = Int32Array.from([0, 8, 3, 3]);
        const { values, shape } = await run((g) => g.logProbsOf(logits.t, targets));
        assert.deepEqual(shape, [4]);
        const p = ref.softmax(logits.data, 9);
        assertClose(
          values,
          Array.from(targets, (t, n) => Math.log(p[n * 9 + t])),
          1e-5,
          1e-4,
        );
      });
      test("logSoftmax", async () => {
        const x = input([2, 5], -3, 3);
        assertClose(
          (await run((g) => g.logSoftmax(x.t))).values,
          ref.map(ref.softmax(x.data, 5), Math.log),
          1e-5,
          1e-4,
        );
      });
      test("entropy", async () => {
        const logits = input([3, 6], -2, 2);
        const p = ref.softmax(logits.data, 6);
        const expected = [0, 1, 2].map(
          (r) => -p.slice(r * 6, r * 6 + 6).reduce((s, v) => s + v * Math.log(v), 0),
        );
        assertClose((await run((g) => g.entropy(logits.t))).values, expected, 1e-5, 1e-4);
      });
    });

    describe("host data", () => {
      test("view() is zero-copy and outlives free()", () => {
        const t = e.tensor([4], { data: [1, 2, 3, 4] });
        const v = t.view();
        t.write([5, 6, 7, 8]);
        assert.deepEqual(Array.from(v), [5, 6, 7, 8]);
        v[0] = 9;
        assert.equal(t.readF32()[0], 9);
        t.free();
        assert.deepEqual(Array.from(v), [9, 6, 7, 8]);
      });
      test("f16 and bf16 storage round-trips through f32, raw bytes too", () => {
        const data = Float32Array.from([0.5, -1.25, 3, 1000]);
        for (const dtype of ["f16", "bf16"] as const) {
          const t = e.tensor([4], { dtype, data });
          assert.deepEqual(Array.from(t.readF32()), Array.from(data), dtype);
          const raw = new Uint8Array(e.tensor([4], { dtype, data }).host.native.readBytes(t.handle));
          assert.equal(raw.byteLength, 8);
          assert.deepEqual(Array.from(e.tensor([4], { dtype, data: raw }).readF32()), Array.from(data));
        }
      });
      test("i32 tensors hold token ids", () => {
        const t = e.tensor([3], { dtype: "i32", data: [7, -1, 151643] });
        assert.deepEqual(Array.from(t.read()), [7, -1, 151643]);
      });
    });
  });
}
