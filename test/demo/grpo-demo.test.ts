/**
 * The demo's pipeline on a shortened schedule (the full demo, `npm start`, is
 * measured by running it; see README): summary.json with the agreed fields,
 * a PNG chart, a table with intervals.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { describeDemo, runDemo } from "../../src/demo/grpo-demo.ts";
import { RUN_SUMMARY_KEYS } from "../rl/helpers.ts";

const root = await mkdtemp(join(tmpdir(), "reasonrl-demo-"));
after(() => rm(root, { recursive: true, force: true }));

test("the demo writes summary.json and chart.png", async () => {
  const summary = await runDemo({
    sets: [
      `runsDir=${root}`,
      `model.path=${join(root, "model")}`,
      "model.init.config.layers=1",
      "sft.steps=10",
      "grpo.steps=2",
      "grpo.promptsPerStep=4",
      "eval.data.count=40",
      "eval.every=1",
    ],
    hooks: { log: () => {}, warn: () => {} },
  });
  const written = JSON.parse(await readFile(join(root, "demo", "summary.json"), "utf8"));
  // One schema with `reasonrl train`'s summary.json (test/rl/run.test.ts checks the same keys).
  assert.deepEqual(Object.keys(written).sort(), RUN_SUMMARY_KEYS);
  assert.equal(written.stopped, false);
  assert.equal(written.chart, join(root, "demo", "chart.png"));
  assert.equal(written.heldout, 40);
  assert.equal(written.grpo_steps, 2);
  assert.equal(typeof written.before.accuracy, "number");
  assert.equal(typeof written.after.accuracy, "number");
  assert.deepEqual(written, JSON.parse(JSON.stringify(summary)));
  const png = await readFile(join(root, "demo", "chart.png"));
  assert.deepEqual(
    [...png.subarray(1, 4)],
    [..."PNG"].map((c) => c.charCodeAt(0)),
  );
  const table = describeDemo(summary);
  assert.match(table, /after SFT \(10 steps\)/);
  assert.match(table, /after GRPO \(2 steps\)/);
  assert.match(table, /95% interval/);
});
