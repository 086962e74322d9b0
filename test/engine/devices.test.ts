/** Devices (listDevices, the device option), dispose, views of device tensors, q8_0 weights. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Engine, listDevices, type Tensor } from "../../src/engine/index.ts";
import { assertClose, engine, rng, testDevices, uniform } from "./helpers.ts";

const rand = rng(3);

describe("devices", () => {
  test("listDevices() starts with the CPU; names are unique and each opens an engine", () => {
    const devices = listDevices();
    assert.equal(devices[0].name, "cpu");
    assert.ok(devices[0].memoryTotal > 0 && devices[0].memoryFree > 0);
    assert.equal(new Set(devices.map((d) => d.name)).size, devices.length);
    for (const d of devices) {
      assert.match(d.name, /^(cpu|[a-z]+:\d+)$/);
      const e = new Engine({ threads: 1, device: d.name });
      assert.equal(e.device, d.name);
      e.dispose();
    }
  });

  test("the CPU is the default; auto picks the first GPU, else the CPU", () => {
    assert.equal(engine().device, "cpu");
    const auto = new Engine({ threads: 1, device: "auto" });
    assert.equal(auto.device, listDevices()[1]?.name ?? "cpu");
    auto.dispose();
  });

  test("an unknown or absent device is an error naming it and what is available", () => {
    const available = listDevices()
      .map((d) => d.name)
      .join(", ");
    for (const name of ["vulkan:9", "cuda:3", "tpu", "metal:2"]) {
      assert.throws(
        () => new Engine({ device: name }),
        (err: Error) =>
          err.message.includes(`device "${name}" is not available`) && err.message.includes(available),
      );
    }
  });
});

describe("dispose", () => {
  test("frees everything; any later use is a clear error; it is idempotent", async () => {
    const e = new Engine({ threads: 1 });
    const a = e.tensor([3], { data: [1, 2, 3], name: "a" });
    const g = e.graph();
    g.build({ outputs: [g.scale(a, 2)] });
    assert.deepEqual(Array.from((await g.compute())[0]), [2, 4, 6]);
    e.dispose();
    assert.equal(e.disposed, true);
    assert.throws(() => a.read(), /cannot read tensor a \[3\] f32: its engine \(cpu\) was disposed/);
    assert.throws(() => a.write([1, 1, 1]), /was disposed/);
    await assert.rejects(g.compute(), /cannot compute graph .* it was disposed/);
    assert.throws(() => e.tensor([2]), /cannot create a tensor on the engine on cpu: it was disposed/);
    assert.throws(() => e.graph(), /was disposed/);
    e.dispose();
    a.free(); // freeing afterwards is harmless
    g.free();
  });

  test("asyncDispose waits for queued graphs; a graph queued behind a sync dispose fails cleanly", async () => {
    const e = new Engine({ threads: 1 });
    const a = e.tensor([4], { data: [1, 2, 3, 4] });
    const g = e.graph();
    g.build({ outputs: [g.sum(g.sqr(a))] });
    const pending = g.compute();
    await e[Symbol.asyncDispose]();
    assert.deepEqual(Array.from((await pending)[0]), [30]);

    const f = new Engine({ threads: 1 });
    const b = f.tensor([2], { data: [1, 2] });
    const h = f.graph();
    h.build({ outputs: [h.scale(b, 3)] });
    const queued = h.compute();
    f[Symbol.dispose]();
    await assert.rejects(queued, /was disposed/);
  });

  test("a view taken before dispose stays readable", async () => {
    const e = new Engine({ threads: 1 });
    const t = e.tensor([3], { data: [5, 6, 7] });
    const v = t.view();
    e.dispose();
    assert.deepEqual(Array.from(v), [5, 6, 7]);
  });
});

for (const device of testDevices()) {
  describe(`tensors on ${device}`, () => {
    const e = engine(device);

    test("view() works (moving the tensor to host memory once) and graphs see writes through it", async () => {
      const t = e.tensor([4], { data: [1, 2, 3, 4] });
      const w = e.tensor([4], { data: [1, 1, 1, 1] });
      const g = e.graph();
      g.build({ outputs: [g.mul(t, w)] });
      assert.deepEqual(Array.from((await g.compute())[0]), [1, 2, 3, 4]);
      const v = t.view() as Float32Array;
      v.set([4, 3, 2, 1]);
      assert.deepEqual(Array.from((await g.compute())[0]), [4, 3, 2, 1]);
      assert.deepEqual(Array.from(t.read()), [4, 3, 2, 1]);
      g.free();
    });

    test("q8_0: quantized on write, read back within a block's step, refused where it cannot go", () => {
      const data = uniform(rand, 2 * 64);
      const q = e.tensor([2, 64], { dtype: "q8_0", data, name: "wq" });
      const back = q.readF32();
      for (let b = 0; b < 4; b++) {
        const block = data.subarray(b * 32, b * 32 + 32);
        const step = Math.max(...block.map(Math.abs)) / 127;
        assertClose(back.subarray(b * 32, b * 32 + 32), block, step * 0.51, 0, `block ${b}`);
      }
      assert.throws(() => e.tensor([4, 48], { dtype: "q8_0" }), /blocks of 32.*not a multiple of 32/);
      const g = e.graph();
      assert.throws(() => g.transpose(q), /transpose of q8_0 tensor wq/);
      assert.throws(() => g.add(q, q), /add needs f32, got wq/);
      assert.throws(() => q.view(), /view\(\) needs an f32 or i32 tensor/);
      g.free();
    });

    test("q8_0 weights: products forward, and gradients to the other operand as with their f32 values", async () => {
      const [N, K, T] = [8, 64, 5];
      const q = e.tensor([N, K], { dtype: "q8_0", data: uniform(rand, N * K) });
      const wf = e.tensor([N, K], { data: q.readF32() }); // the same values, dequantized
      const xData = uniform(rand, T * K);
      const R = e.tensor([T, N], { data: uniform(rand, T * N) });
      const run = async (w: Tensor) => {
        const x = e.param([T, K], { data: xData });
        const g = e.graph();
        const y = g.linear(x, w);
        g.build({ loss: g.sum(g.mul(y, R)), outputs: [y], backward: true });
        const [out] = await g.compute();
        const grad = (x.grad as Tensor).readF32();
        g.free();
        x.free();
        return { out, grad };
      };
      const quantized = await run(q);
      const exact = await run(wf);
      // The forward quantizes x to 8 bits too (ggml's q8_0 product): close, not equal.
      assertClose(quantized.out, exact.out, 0.05, 0.02, "forward");
      assertClose(quantized.grad, exact.grad, 1e-5, 1e-4, "gradient of x");
      const g = e.graph();
      const ids = e.tensor([3], { dtype: "i32", data: [7, 0, 3] });
      g.build({ outputs: [g.embedding(q, ids)] });
      const [rows] = await g.compute();
      const all = q.readF32();
      assertClose(rows, [
        ...all.subarray(7 * K, 8 * K),
        ...all.subarray(0, K),
        ...all.subarray(3 * K, 4 * K),
      ]);
      g.free();
    });
  });
}
