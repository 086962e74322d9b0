/** Misuse gets a thrown error naming the shapes and dtypes, never a native abort. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Engine } from "../../src/engine/index.ts";
import { engine } from "./helpers.ts";

const e = engine();
const a = e.tensor([2, 3], { name: "a" });
const b = e.tensor([4, 5], { name: "b" });
const ids = e.tensor([3], { dtype: "i32", name: "ids" });

test("wrong shapes name both operands", () => {
  const g = e.graph();
  assert.throws(() => g.add(a, b), /add\(a \[2, 3\] f32, b \[4, 5\] f32\)/);
  assert.throws(() => g.linear(a, b), /linear\(x a \[2, 3\] f32, w b \[4, 5\] f32\)/);
  assert.throws(() => g.reshape(a, [4, 2]), /reshape\(a \[2, 3\] f32\) to \[4, 2\]/);
  assert.throws(() => g.permute(a, [0, 0]), /not a permutation/);
  assert.throws(() => g.narrow(a, 1, 2, 5), /out of range/);
  assert.throws(() => g.swiglu(a, b), /shapes differ/);
  assert.throws(() => g.rope(a, ids, { theta: 1e4, mode: "neox" }), /rope/);
  assert.throws(() => g.softmax(b, { mask: a }), /mask .* does not fit/);
  assert.throws(() => g.logProbsOf(a, Int32Array.from([0, 7])), /target 7 at row 1 outside vocab 3/);
  g.free();
});

test("wrong dtypes", () => {
  const g = e.graph();
  assert.throws(() => g.exp(ids), /exp needs f32, got ids \[3\] i32/);
  assert.throws(() => g.embedding(b, a), /embedding ids a \[2, 3\] f32 must be i32/);
  assert.throws(() => a.write(new Int32Array(6)), /needs a Float32Array/);
  assert.throws(() => ids.write(new Float32Array(3)), /needs an Int32Array/);
  assert.throws(() => a.write(new Float32Array(5)), /has 6 elements, got 5/);
  assert.throws(() => e.tensor([2, 0]), /shape \[2, 0\]/);
  assert.throws(() => e.tensor([1, 2, 3, 4, 5]), /1-4 positive integer dims/);
  g.free();
});

test("freed tensors and graphs", async () => {
  const t = e.tensor([2], { name: "temp", data: [1, 2] });
  const g = e.graph();
  const y = g.scale(t, 2);
  g.build({ outputs: [y] });
  t.free();
  assert.throws(() => t.read(), /cannot read tensor temp \[2\] f32: it was freed/);
  await assert.rejects(g.compute(), /temp \[2\] f32: it was freed/);
  g.free();
  assert.throws(() => g.scale(a, 2), /graph #\d+: it was freed/);
  assert.throws(() => y.assertAlive(), /its graph #\d+ was freed/);
});

test("graph misuse", async () => {
  const g1 = e.graph({ name: "one" });
  const g2 = e.graph({ name: "two" });
  const y = g1.scale(a, 2);
  assert.throws(() => g2.scale(y, 2), /belongs to graph one, not two/);
  await assert.rejects(g1.compute(), /call build\(\) before compute\(\)/);
  assert.throws(() => g1.build({}), /nothing to compute/);
  assert.throws(() => g1.build({ loss: y }), /loss must be an f32 scalar/);
  assert.throws(() => g1.build({ loss: g1.sum(y), backward: true }), /no parameter is used/);
  g1.build({ outputs: [y] });
  assert.throws(() => g1.scale(a, 3), /is built/);
  assert.throws(() => y.read(), /mark it as an output/);
  const small = e.graph({ capacity: 16 });
  let x = small.scale(a, 1);
  assert.throws(() => {
    for (let i = 0; i < 20; i++) x = small.scale(x, 1);
  }, /is full \(16 tensors\)/);
  const p = e.param([2, 3]);
  const g3 = e.graph({ capacity: 16 });
  const l = g3.sum(g3.mul(g3.exp(g3.sqr(g3.scale(p, 2))), a));
  assert.throws(
    () => g3.build({ loss: l, backward: true }),
    /has 5 forward tensors; .* needs capacity >= 20/,
  );
  for (const g of [g1, g2, small, g3]) g.free();
});

test("out-of-range token ids are refused before compute", async () => {
  const table = e.tensor([5, 2], { name: "table" });
  const tokens = e.tensor([3], { dtype: "i32", name: "tokens", data: [0, 4, 1] });
  const g = e.graph();
  g.build({ outputs: [g.embedding(table, tokens)] });
  await g.compute();
  tokens.write([0, 5, 1]);
  await assert.rejects(g.compute(), /tokens \[3\] i32\[1\] = 5 is outside \[0, 5\) \(embedding of table/);
  tokens.write([-1, 0, 0]);
  await assert.rejects(g.compute(), /\[0\] = -1 is outside/);
  g.free();
});

test("trainable masks and tensors of another engine are refused", () => {
  const g = e.graph();
  const p = e.param([2, 3]);
  assert.throws(() => g.softmax(a, { mask: p }), /depends on parameters/);
  const other = new Engine({ threads: 1 });
  assert.throws(() => g.scale(other.tensor([2]), 1), /belongs to another engine/);
  g.free();
});

test("writes while a graph computes are refused", async () => {
  const big = e.tensor([256, 256]);
  const g = e.graph();
  g.build({ outputs: [g.linear(big, big)] });
  const running = g.compute();
  assert.throws(() => big.write(new Float32Array(65536)), /while a graph is computing/);
  await running;
  big.write(new Float32Array(65536));
  g.free();
});

test("bad engine and optimizer options", () => {
  assert.throws(() => new Engine({ threads: 0 }), /threads/);
  assert.throws(() => e.setThreads(-1), /positive integer/);
  assert.throws(() => e.graph({ capacity: 10 ** 9 }), /capacity/);
});
