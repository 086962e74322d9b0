/**
 * The run store of a real (tiny) run: every step, rollout and evaluation in
 * run.sqlite, matching metrics.jsonl; read from this process while the run
 * writes from another; killed with SIGKILL mid-run and resumed, each step is
 * there exactly once.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { stringify } from "yaml";
import { loadRecipe } from "../../src/rl/recipe.ts";
import { runRecipe } from "../../src/rl/run.ts";
import { RunStoreReader, storeContents } from "../../src/track/store-read.ts";
import { RunFolder } from "../../src/train/run-folder.ts";
import { tinyRunRecipe } from "../rl/helpers.ts";

const root = await mkdtemp(join(tmpdir(), "reasonrl-store-run-"));
after(() => rm(root, { recursive: true, force: true }));

const recipePath = join(root, "tiny.yaml");
const recipe = tinyRunRecipe();
await writeFile(
  recipePath,
  stringify({
    ...recipe,
    runsDir: join(root, "runs"),
    model: { ...(recipe.model as object), path: join(root, "model") },
  }),
);
const G = 4;
const PROMPTS = 2;
const HELDOUT = 16;

/** Checks that the store of the finished run in `dir` holds what metrics.jsonl does, and every rollout. */
async function checkStore(dir: string): Promise<void> {
  const folder = new RunFolder(dir);
  const metrics = await folder.readMetrics();
  const store = RunStoreReader.open(folder.storePath);
  try {
    for (const stage of ["sft", "grpo"]) {
      const lines = metrics.filter((m) => m.stage === stage);
      const rows = store.steps(stage);
      assert.deepEqual(
        rows.map((r) => r.step),
        lines.map((l) => l.step),
        `${stage} steps`,
      );
      assert.deepEqual(
        rows.map((r) => r.metrics),
        lines,
        `${stage}: the store's metrics are metrics.jsonl's`,
      );
    }
    assert.deepEqual(store.rolloutSteps(), [1, 2, 3, 4, 5, 6, 7, 8]);
    for (const step of store.rolloutSteps()) {
      const rows = store.rollouts(step);
      assert.equal(rows.length, PROMPTS * G, `step ${step}: one row per completion`);
      const reward = metrics.find((m) => m.stage === "grpo" && m.step === step)?.reward as number;
      const mean = rows.reduce((s, r) => s + (r.reward ?? 0), 0) / rows.length;
      assert.ok(Math.abs(mean - reward) < 1e-5, `step ${step}: mean reward ${mean}, metrics ${reward}`);
      for (const r of rows) {
        assert.deepEqual(Object.keys(r.rewards).sort(), ["accuracy", "format"]);
        assert.equal(r.correct, (r.rewards.accuracy ?? 0) > 0 ? 1 : 0);
        assert.equal(r.format_ok, (r.rewards.format ?? 0) > 0 ? 1 : 0);
        assert.ok(r.prompt.length > 0 && r.tokens > 0);
      }
    }
    const evals = metrics.filter((m) => m.stage === "eval");
    assert.deepEqual(
      store.evals().map((e) => [e.step, e.accuracy, e.ci_low, e.ci_high, e.n]),
      evals.map((e) => {
        const r = e.result as { accuracy: number; n: number; ci95: number[] };
        return [e.step, r.accuracy, r.ci95[0], r.ci95[1], r.n];
      }),
    );
    for (const e of store.evals()) {
      const samples = store.evalSamples({ step: e.step });
      assert.equal(samples.length, HELDOUT);
      assert.equal(samples.filter((s) => s.correct).length, Math.round(e.accuracy * e.n));
    }
  } finally {
    store.close();
  }
}

test("a run's store holds its steps, rollouts and evaluations, as metrics.jsonl has them", async () => {
  const r = await loadRecipe(recipePath);
  await runRecipe(r, { log: () => {}, warn: () => {} });
  const dir = join(root, "runs", "tiny");
  await checkStore(dir);
  const store = RunStoreReader.open(join(dir, "run.sqlite"));
  const meta = store.meta();
  store.close();
  assert.equal(meta.kind, "train");
  assert.equal(meta.name, "tiny");
  assert.equal(meta.config, await readFile(join(dir, "config.yaml"), "utf8"));
  assert.equal(meta.model, join(root, "model"));
});

/** Runs `reasonrl args` as a child process: its exit (code or signal) and stderr. */
function reasonrl(args: readonly string[]) {
  const child = spawn(process.execPath, ["bin/reasonrl.js", ...args], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  const exit = new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal, stderr })),
  );
  return { child, exit };
}

test("read from another process while the run writes; killed (SIGKILL) and resumed: each step once", async () => {
  const runs = join(root, "killed");
  const dir = join(runs, "tiny");
  const path = join(dir, "run.sqlite");
  // A checkpoint every 3 steps: the kill leaves steps after the checkpoint in the store, which the resumed run must drop.
  const args = ["train", recipePath, "--set", `runsDir=${runs}`, "--set", "checkpoint.every=3"];
  const run = reasonrl(args);
  let ended = false;
  void run.exit.then(() => {
    ended = true;
  });
  const seen: number[] = [];
  for (;;) {
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(!ended, "the run ended before it could be killed");
    if (!existsSync(path)) continue;
    const store = RunStoreReader.open(path);
    const steps = store.steps("grpo").map((s) => s.step);
    store.close();
    assert.deepEqual(
      steps,
      steps.map((_, i) => i + 1),
      "whole steps, in order",
    );
    if (steps.length > (seen.at(-1) ?? 0)) seen.push(steps.length);
    if (steps.length >= 4) break;
  }
  run.child.kill("SIGKILL");
  const killed = await run.exit;
  assert.equal(killed.signal, "SIGKILL", killed.stderr);
  assert.ok(seen.length >= 2, `the reader saw the steps land one by one: ${seen}`);
  assert.ok(!existsSync(join(dir, "summary.json")));

  const resumed = await reasonrl(args).exit;
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /resuming from grpo step [36] of 8/);
  await checkStore(dir);
  // The same rows as the uninterrupted run's (the first test's), times and the recipe's text aside.
  const comparable = (path: string) => {
    const c = storeContents(path);
    return {
      ...c,
      meta: c.meta.filter((m) => m.key !== "config"),
      steps: c.steps.map((s) => ({
        ...s,
        metrics: Object.fromEntries(Object.entries(s.metrics as object).filter(([k]) => !k.endsWith("_s"))),
      })),
    };
  };
  assert.deepEqual(comparable(path), comparable(join(root, "runs", "tiny", "run.sqlite")));
});
