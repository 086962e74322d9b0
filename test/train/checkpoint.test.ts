/** Checkpoints restore weights and optimizer exactly, are written atomically and pruned. */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { AdamW, Engine } from "../../src/engine/index.ts";
import { listCheckpoints, loadCheckpoint, saveCheckpoint } from "../../src/train/checkpoint.ts";

const engine = new Engine({ threads: 2 });
const root = await mkdtemp(join(tmpdir(), "reasonrl-ckpt-"));
after(() => rm(root, { recursive: true, force: true }));

/** A parameter pair trained on a quadratic, and one optimizer step. */
function setup() {
  const a = engine.param([2, 3], { data: [1, 2, 3, 4, 5, 6] });
  const b = engine.param([3], { data: [-1, 0, 1] });
  const g = engine.graph();
  g.build({ loss: g.sum(g.sqr(g.add(a, b))), backward: true });
  const opt = new AdamW(engine, [a, b], { lr: 0.1 });
  return {
    a,
    b,
    g,
    opt,
    named: [
      ["a", a],
      ["b", b],
    ] as const,
  };
}

test("a resumed run continues exactly as the uninterrupted one", async () => {
  const run = setup();
  for (let i = 0; i < 3; i++) {
    await run.g.compute();
    await run.opt.step();
  }
  const dir = join(root, "resume");
  await saveCheckpoint(dir, run.named, run.opt, { step: 3, extra: { dataPosition: 17 } });
  for (let i = 0; i < 2; i++) {
    await run.g.compute();
    await run.opt.step();
  }
  const resumed = setup();
  const restored = await loadCheckpoint(join(dir, "step-3"), resumed.named, resumed.opt);
  assert.deepEqual(restored, { step: 3, extra: { dataPosition: 17 } });
  for (let i = 0; i < 2; i++) {
    await resumed.g.compute();
    await resumed.opt.step();
  }
  assert.deepEqual(resumed.a.readF32(), run.a.readF32());
  assert.deepEqual(resumed.b.readF32(), run.b.readF32());
  assert.equal(resumed.opt.stepCount, 5);
});

test("only the last K are kept, and no temporary folder remains", async () => {
  const run = setup();
  const dir = join(root, "prune");
  for (const step of [1, 2, 3, 10])
    await saveCheckpoint(dir, run.named, run.opt, { step, extra: {} }, { keepLast: 2 });
  assert.deepEqual(
    (await listCheckpoints(dir)).map((p) => p.split("/").pop()),
    ["step-3", "step-10"],
  );
  assert.deepEqual((await readdir(dir)).sort(), ["step-10", "step-3"]);
});

test("a checkpoint of another model is refused by name", async () => {
  const run = setup();
  const dir = join(root, "other");
  await saveCheckpoint(dir, run.named, run.opt, { step: 1, extra: {} });
  const c = engine.param([3]);
  await assert.rejects(
    loadCheckpoint(join(dir, "step-1"), [["c", c]], new AdamW(engine, [c])),
    /holds tensors \[a,b\], the run has \[c\]/,
  );
});
