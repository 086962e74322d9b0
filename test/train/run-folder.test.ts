/** The run folder removes what a killed process left, and nothing else. */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { RunFolder } from "../../src/train/run-folder.ts";

test("removeTemporaries: a killed run's temporaries go, the run's own files stay", async () => {
  const folder = RunFolder.of(await mkdtemp(join(tmpdir(), "rrl-runfolder-")), "run");
  await folder.create();
  const grpo = folder.checkpointsOf("grpo");
  await mkdir(join(grpo, "step-4"), { recursive: true });
  await mkdir(join(grpo, ".tmp-step-6-4242"), { recursive: true });
  await mkdir(join(folder.dir, "final.tmp-4242"));
  await mkdir(join(folder.dir, "best"));
  for (const name of ["run.sqlite", "run.sqlite-wal", "run.sqlite.tmp-4242", "run.sqlite.tmp-4242-wal"])
    await writeFile(join(folder.dir, name), "x");
  await writeFile(join(folder.dir, "metrics.jsonl"), "{}\n");
  await writeFile(join(folder.dir, ".metrics.jsonl.4242.0a1b2c3d.tmp"), "{");

  const removed = await folder.removeTemporaries();
  assert.equal(removed.length, 5);
  assert.deepEqual((await readdir(folder.dir)).sort(), [
    "best",
    "checkpoints",
    "metrics.jsonl",
    "run.sqlite",
    "run.sqlite-wal",
  ]);
  assert.deepEqual(await readdir(grpo), ["step-4"]);
  assert.deepEqual(await folder.removeTemporaries(), []);
});
