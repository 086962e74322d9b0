/** scripts/device-check.sh on the CPU with a tiny shape: its stages, its records and its result file. */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const script = fileURLToPath(new URL("../../scripts/device-check.sh", import.meta.url));
const root = await mkdtemp(join(tmpdir(), "reasonrl-device-check-"));
after(() => rm(root, { recursive: true, force: true }));

test("device-check on the CPU: a tiny shape decodes and trains, an unknown shape is recorded, the JSON is written", async () => {
  const out = join(root, "out");
  const args = ["--device", "cpu", "--skip-build", "--skip-tests", "--shapes", "tiny,9b"];
  const small = [
    "--seq",
    "16",
    "--train-batch",
    "1",
    "--steps",
    "1",
    "--decode-tokens",
    "2",
    "--batches",
    "1,2",
  ];
  const { stdout } = await run("bash", [script, ...args, ...small], {
    env: { ...process.env, OUT: out, REASONRL_PYTHON: join(root, "no-python") },
    maxBuffer: 1 << 24,
  });
  const last = JSON.parse(stdout.trim().split("\n").at(-1) ?? "");
  assert.equal(last.device_check, join(out, "device-check.json"));
  const result = JSON.parse(await readFile(join(out, "device-check.json"), "utf8"));
  assert.equal(result.device, "cpu");
  assert.equal(result.torch, false);
  const stages = Object.fromEntries(result.stages.map((s: { name: string }) => [s.name, s]));
  assert.equal(stages.build.status, "skipped");
  assert.equal(stages["backend-tests"].status, "skipped");
  assert.equal(stages["tiny-init"].status, "ok");
  assert.equal(stages["tiny-decode"].result.bench, "generate");
  assert.equal(stages["tiny-train"].result.bench, "engine");
  assert.match(stages["9b-init"].reason, /unknown shape/);
  const tiny = result.summary.tiny;
  assert.ok(tiny.decode_tps.b1 > 0 && tiny.decode_tps.b2 > 0);
  assert.ok(tiny.train_tokens_per_s > 0);
  assert.equal(tiny.ours_over_torch, null);
});

test("device-check refuses a bad number, naming the option, before doing anything", async () => {
  await assert.rejects(
    run("bash", [script, "--seq", "2k"], { env: { ...process.env, OUT: join(root, "bad") } }),
    (err: { code: number; stderr: string }) =>
      err.code === 2 && /--seq must be a whole number, got '2k'/.test(err.stderr),
  );
});
