/**
 * `reasonrl runs list` and `reasonrl runs export --format parquet` through the
 * real command, on stores written here: a finished, a running and a stopped
 * training run, and an evaluation one level deeper (runs/eval/<model>). The
 * Parquet files are read back with hyparquet: plain columns, steps' metrics and
 * rollouts' rewards one column each.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, utimesSync, writeFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from "hyparquet";
import { RunStore } from "../../src/track/store.ts";
import type { RunListing } from "../../src/track/store-read.ts";

const bin = fileURLToPath(new URL("../../bin/reasonrl.js", import.meta.url));
const root = await mkdtemp(join(tmpdir(), "reasonrl-runs-"));
after(() => rm(root, { recursive: true, force: true }));
const runs = join(root, "runs");

function reasonrl(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
  return { ...r, last: r.stdout.trim().split("\n").at(-1) ?? "" };
}

/** A training run `name` of `steps` GRPO steps (2 completions each), evaluated before and after step 2. */
function trainRun(name: string, steps: number, kind: "train" | "demo" = "train"): string {
  const dir = join(runs, name);
  const store = RunStore.open(join(dir, "run.sqlite"), { kind, name, model: "models/tiny" });
  store.writeEval(0, { accuracy: 0.25, n: 4, ci95: [0.05, 0.7] });
  for (let step = 1; step <= steps; step++) {
    const rollouts = [0, 1].map((index) => ({
      group: 0,
      index,
      round: 0,
      prompt: "What is 1 + 1?",
      completion: index ? "3" : "<think>\n1+1\n</think>\n2",
      tokens: 4,
      finishReason: index ? "length" : "stop",
      rewards: { accuracy: index ? 0 : 1, format: index ? 0 : 1 },
      reward: index ? 0 : 3,
      advantage: index ? -1 : 1,
    }));
    const metrics = { stage: "grpo", step, reward: 1.5 * step, skipped: false, lr: 1e-3, result: { a: 1 } };
    store.writeStep({ stage: "grpo", step, metrics, rollouts });
    if (step === 2) store.writeEval(2, { accuracy: 0.75, n: 4, ci95: [0.3, 0.95] });
  }
  store.close();
  return dir;
}

test("runs list: each run's kind, status, steps, reward and accuracies", async () => {
  const finished = trainRun("finished", 3);
  writeFileSync(join(finished, "summary.json"), JSON.stringify({ stopped: false }));
  trainRun("live", 1, "demo");
  const old = trainRun("old", 2);
  const longAgo = new Date(Date.now() - 3600_000);
  for (const f of readdirSync(old)) utimesSync(join(old, f), longAgo, longAgo);
  const evalDir = join(runs, "eval", "tiny");
  await mkdir(evalDir, { recursive: true });
  const store = RunStore.open(join(evalDir, "run.sqlite"), { kind: "eval", name: "tiny" });
  store.writeEvalSamples(
    0,
    [true, true, true, false].map((correct, problem) => ({
      benchmark: "sums",
      problem,
      sample: 0,
      prompt: `p${problem}`,
      completion: "c",
      answer: null,
      gold: "2",
      correct,
      tokens: 2,
      finishReason: "stop",
    })),
  );
  store.close();
  writeFileSync(join(evalDir, "results.json"), "{}");
  await mkdir(join(runs, "no-store"), { recursive: true });

  const r = reasonrl("runs", "list", runs, "--json");
  assert.equal(r.status, 0, r.stderr);
  const listed = (JSON.parse(r.last) as { runs: RunListing[] }).runs;
  const byName = Object.fromEntries(listed.map((x) => [x.name, x]));
  assert.deepEqual(Object.keys(byName).sort(), ["finished", "live", "old", "tiny"]);
  const pick = (x: RunListing) => [
    x.kind,
    x.status,
    x.steps,
    x.last_reward,
    x.best_accuracy,
    x.last_accuracy,
  ];
  assert.deepEqual(pick(byName.finished), ["train", "finished", 3, 4.5, 0.75, 0.75]);
  assert.deepEqual(pick(byName.live), ["demo", "running", 1, 1.5, 0.25, 0.25]);
  assert.deepEqual(pick(byName.old), ["train", "stopped", 2, 3, 0.75, 0.75]);
  assert.deepEqual(pick(byName.tiny), ["eval", "finished", 0, null, 0.75, 0.75]);
  assert.equal(byName.tiny.dir, evalDir);

  const text = reasonrl("runs", "list", runs);
  assert.equal(text.status, 0, text.stderr);
  const lines = text.stdout.trim().split("\n");
  assert.match(lines[0], /^name\s+kind\s+status\s+steps\s+reward\s+best acc\s+last acc\s+folder$/);
  assert.match(text.stdout, /\nfinished\s+train\s+finished\s+3\s+4\.500\s+0\.750\s+0\.750\s+/);
  assert.equal(lines.length, 5);

  const missing = reasonrl("runs", "list", join(root, "nowhere"));
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /runs folder .*nowhere does not exist/);
});

test("runs export --format parquet: one file per table, plain columns, read back", async () => {
  const dir = trainRun("exported", 2);
  const out = join(root, "parquet");
  const r = reasonrl("runs", "export", dir, "--format", "parquet", "--out", out, "--json");
  assert.equal(r.status, 0, r.stderr);
  const printed = JSON.parse(r.last) as { out: string; files: { table: string; rows: number }[] };
  assert.equal(printed.out, out);
  assert.deepEqual(
    printed.files.map((f) => [f.table, f.rows]),
    [
      ["meta", 5],
      ["steps", 2],
      ["prompts", 1],
      ["rollouts", 4],
      ["evals", 2],
      ["eval_samples", 0],
      ["events", 0],
    ],
  );
  assert.deepEqual(readdirSync(out).sort(), printed.files.map((f) => `${f.table}.parquet`).sort());

  const read = async (table: string) => {
    const file = await asyncBufferFromFile(join(out, `${table}.parquet`));
    const metadata = await parquetMetadataAsync(file);
    const columns = parquetSchema(metadata).children.map((c) => [c.element.name, c.element.type]);
    return { columns, rows: await parquetReadObjects({ file, metadata }) };
  };
  const steps = await read("steps");
  assert.deepEqual(steps.columns, [
    ["stage", "BYTE_ARRAY"],
    ["step", "INT64"],
    ["time", "DOUBLE"],
    ["reward", "DOUBLE"],
    ["skipped", "BOOLEAN"],
    ["lr", "DOUBLE"],
    ["result_a", "DOUBLE"],
  ]);
  assert.deepEqual(
    steps.rows.map((s) => [s.stage, s.step, s.reward, s.skipped, s.result_a]),
    [
      ["grpo", 1n, 1.5, false, 1],
      ["grpo", 2n, 3, false, 1],
    ],
  );
  const rollouts = await read("rollouts");
  const names = rollouts.columns.map(([n]) => n);
  assert.ok(!names.includes("rewards"), String(names));
  assert.deepEqual(names.slice(-2), ["reward_accuracy", "reward_format"]);
  assert.deepEqual(
    rollouts.rows.map((x) => [x.step, x.idx, x.reward_accuracy, x.correct, x.finish_reason, x.advantage]),
    [
      [1n, 0n, 1, 1n, "stop", 1],
      [1n, 1n, 0, 0n, "length", -1],
      [2n, 0n, 1, 1n, "stop", 1],
      [2n, 1n, 0, 0n, "length", -1],
    ],
  );
  const evals = await read("evals");
  assert.deepEqual(
    evals.rows.map((e) => [e.step, e.accuracy, e.ci_low]),
    [
      [0n, 0.25, 0.05],
      [2n, 0.75, 0.3],
    ],
  );
  const meta = await read("meta");
  assert.ok(meta.rows.some((m) => m.key === "kind" && m.value === "train"));
  assert.deepEqual((await read("eval_samples")).rows, []);

  // Default folder: <run>/parquet; a folder without a store is named.
  const again = reasonrl("runs", "export", dir, "--format", "parquet");
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`wrote 7 Parquet files to ${join(dir, "parquet")}`));
  const none = reasonrl("runs", "export", root, "--format", "parquet");
  assert.equal(none.status, 1);
  assert.match(none.stderr, /has no run\.sqlite/);
  const format = reasonrl("runs", "export", dir, "--format", "csv");
  assert.equal(format.status, 1);
  assert.match(format.stderr, /--format/);
});
