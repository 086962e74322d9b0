/**
 * The run store (src/track/store.ts, store-read.ts): its schema, what a step
 * writes (the filter columns of each completion), truncation on resume, the
 * reader's filters and errors, and a reader in another process querying while
 * this one writes.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { type RolloutRow, RunStore, rolloutFlags } from "../../src/track/store.ts";
import { RunStoreReader } from "../../src/track/store-read.ts";

const root = await mkdtemp(join(tmpdir(), "reasonrl-store-"));
after(() => rm(root, { recursive: true, force: true }));

const THINK = "<think>\nwork\n</think>\n";

/** A completion of group `group`, place `index`. */
function rollout(group: number, index: number, over: Partial<RolloutRow> = {}): RolloutRow {
  return {
    group,
    index,
    round: 0,
    prompt: `What is ${group} + ${group}?`,
    completion: `${THINK}The answer is ${2 * group}.`,
    tokens: 10 + index,
    finishReason: "stop",
    rewards: { accuracy: 1, format: 1 },
    reward: 3,
    advantage: 0.5,
    ...over,
  };
}

test("the schema: tables, columns, WAL, meta", () => {
  const path = join(root, "schema", "run.sqlite");
  const store = RunStore.open(path, { kind: "demo", name: "d", config: "a: 1\n", model: "m" });
  store.close();
  const db = new Database(path, { readonly: true });
  const columns = (t: string) => (db.pragma(`table_info(${t})`) as { name: string }[]).map((c) => c.name);
  assert.deepEqual(
    db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[],
    ["eval_samples", "evals", "events", "meta", "prompts", "rollouts", "steps"],
  );
  assert.deepEqual(columns("meta"), ["key", "value"]);
  assert.deepEqual(columns("steps"), ["stage", "step", "time", "metrics"]);
  assert.deepEqual(columns("prompts"), ["id", "text"]);
  assert.deepEqual(columns("rollouts"), [
    "step",
    "grp",
    "idx",
    "round",
    "prompt_id",
    "completion",
    "tokens",
    "finish_reason",
    "reward",
    "advantage",
    "rewards",
    "correct",
    "format_ok",
    "lang_other",
    "mixed_scripts",
    "policy_version",
  ]);
  assert.deepEqual(columns("evals"), ["step", "accuracy", "ci_low", "ci_high", "n", "time"]);
  assert.deepEqual(columns("eval_samples"), [
    "step",
    "benchmark",
    "problem",
    "sample",
    "problem_id",
    "prompt_id",
    "completion",
    "answer",
    "gold",
    "correct",
    "tokens",
    "finish_reason",
  ]);
  assert.deepEqual(columns("events"), ["step", "time", "kind", "name", "level", "message", "value"]);
  assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
  db.close();

  const reader = RunStoreReader.open(path);
  const meta = reader.meta();
  reader.close();
  assert.equal(meta.schema_version, "1");
  assert.equal(meta.kind, "demo");
  assert.equal(meta.name, "d");
  assert.equal(meta.config, "a: 1\n");
  assert.equal(meta.model, "m");
  assert.ok(!Number.isNaN(Date.parse(meta.created_at)));
  // Opened again (a resumed run): created_at stays.
  RunStore.open(path, { kind: "demo", name: "d" }).close();
  const again = RunStoreReader.open(path);
  assert.equal(again.meta().created_at, meta.created_at);
  again.close();
});

test("a completion's filter columns: right, format, other scripts", () => {
  assert.deepEqual(rolloutFlags(rollout(1, 0)), { correct: 1, formatOk: 1, langOther: 0, mixedScripts: 0 });
  // Without accuracy and format terms: correct unknown, format by the paper's rule ("\n</think>\n" once).
  assert.deepEqual(rolloutFlags({ completion: "no tags at all", rewards: {} }), {
    correct: null,
    formatOk: 0,
    langOther: 0,
    mixedScripts: 0,
  });
  assert.equal(rolloutFlags({ completion: `${THINK}x`, rewards: { accuracy: null } }).formatOk, 1);
  // 14 Latin letters (the tags' "think" twice, "work") and 2 Han: 1/8 outside Latin; math ($\alpha$) does not count.
  const mixed = rolloutFlags({ completion: `${THINK}答案 $\\alpha$`, rewards: { format: 0 } });
  assert.equal(mixed.formatOk, 0);
  assert.ok(Math.abs(mixed.langOther - 2 / 16) < 1e-12, String(mixed.langOther));
  assert.equal(mixed.mixedScripts, 1);
  assert.deepEqual(rolloutFlags({ completion: "答案是四", rewards: {} }).langOther, 1);
  assert.equal(rolloutFlags({ completion: "答案是四", rewards: {} }).mixedScripts, 0);
});

/** A store with 5 GRPO steps of 2 groups x 3 completions (some wrong, cut, in Chinese, without format), evals and events. */
function filledStore(path: string): RunStore {
  const store = RunStore.open(path, { kind: "train", name: "filled" });
  store.writeStep({ stage: "sft", step: 1, metrics: { stage: "sft", step: 1, loss: 2 } });
  for (let step = 1; step <= 5; step++) {
    const rollouts = [0, 1].flatMap((g) => [
      rollout(g, 0),
      rollout(g, 1, { rewards: { accuracy: 0, format: 1 }, reward: 1, completion: `${THINK}100% sure: 7_7` }),
      rollout(g, 2, {
        rewards: { accuracy: 0, format: 0 },
        reward: 0,
        finishReason: "length",
        completion: "我们来计算 the sum",
        advantage: null,
      }),
    ]);
    const events =
      step === 4 ? [{ step, kind: "guard", name: "kl_spike", level: "warn" as const, message: "kl" }] : [];
    store.writeStep({
      stage: "grpo",
      step,
      metrics: { stage: "grpo", step, reward: step },
      rollouts,
      events,
    });
    if (step % 2 === 0) {
      const sample = { benchmark: "heldout", sample: 0, completion: "c", answer: null, gold: "2", tokens: 3 };
      const samples = [0, 1].map((problem) => ({
        ...sample,
        problem,
        prompt: `p${problem}`,
        correct: problem === 0,
        finishReason: "stop",
      }));
      store.writeEval(step, { accuracy: 0.5, n: 2, ci95: [0.1, 0.9] }, samples);
    }
  }
  store.addEvent({
    step: 5,
    kind: "guard",
    name: "format_collapse",
    level: "stop",
    message: "format",
    value: 0.1,
  });
  return store;
}

test("the reader's queries and filters", () => {
  const path = join(root, "filled", "run.sqlite");
  filledStore(path).close();
  const r = RunStoreReader.open(path);
  try {
    assert.deepEqual(
      r.steps().map((s) => `${s.stage}${s.step}`),
      ["grpo1", "grpo2", "grpo3", "grpo4", "grpo5", "sft1"],
    );
    assert.deepEqual(r.steps("grpo")[2].metrics, { stage: "grpo", step: 3, reward: 3 });
    const third = r.steps("grpo")[2].id;
    assert.deepEqual(
      r.stepsSince(third).map((s) => s.step),
      [4, 5],
    );
    assert.deepEqual(r.rolloutSteps(), [1, 2, 3, 4, 5]);
    const all = r.rollouts(3);
    assert.equal(all.length, 6);
    assert.deepEqual(
      all.map((x) => [x.grp, x.idx]),
      [0, 1].flatMap((g) => [0, 1, 2].map((i) => [g, i])),
    );
    assert.equal(all[0].prompt, "What is 0 + 0?");
    assert.deepEqual(all[0].rewards, { accuracy: 1, format: 1 });
    assert.equal(all[2].advantage, null);
    const idx = (rows: typeof all) => rows.map((x) => `${x.grp}.${x.idx}`);
    assert.deepEqual(idx(r.rollouts(3, { correct: true })), ["0.0", "1.0"]);
    assert.deepEqual(idx(r.rollouts(3, { correct: false })), ["0.1", "0.2", "1.1", "1.2"]);
    assert.deepEqual(idx(r.rollouts(3, { cut: true })), ["0.2", "1.2"]);
    assert.deepEqual(idx(r.rollouts(3, { nonEnglish: true })), ["0.2", "1.2"]);
    assert.deepEqual(idx(r.rollouts(3, { formatBroken: true })), ["0.2", "1.2"]);
    assert.deepEqual(idx(r.rollouts(3, { group: 1, correct: false })), ["1.1", "1.2"]);
    // LIKE's wildcards are searched as text.
    assert.deepEqual(idx(r.rollouts(3, { search: "100%" })), ["0.1", "1.1"]);
    assert.deepEqual(idx(r.rollouts(3, { search: "7_7" })), ["0.1", "1.1"]);
    assert.deepEqual(idx(r.rollouts(3, { search: "%" })), ["0.1", "1.1"]);
    assert.deepEqual(idx(r.rollouts(3, { search: "1 + 1" })), ["1.0", "1.1", "1.2"]);
    assert.deepEqual(idx(r.rollouts(3, { limit: 2, offset: 3 })), ["1.0", "1.1"]);
    assert.deepEqual(
      r.evals().map((e) => [e.step, e.accuracy, e.ci_low, e.ci_high, e.n]),
      [
        [2, 0.5, 0.1, 0.9, 2],
        [4, 0.5, 0.1, 0.9, 2],
      ],
    );
    const samples = r.evalSamples({ step: 4 });
    assert.deepEqual(
      samples.map((s) => [s.problem, s.prompt, s.correct]),
      [
        [0, "p0", 1],
        [1, "p1", 0],
      ],
    );
    assert.equal(r.evalSamples().length, 4);
    const events = r.events();
    assert.deepEqual(
      events.map((e) => [e.step, e.name, e.level, e.value]),
      [
        [4, "kl_spike", "warn", null],
        [5, "format_collapse", "stop", 0.1],
      ],
    );
    assert.deepEqual(
      r.events(events[0].id).map((e) => e.name),
      ["format_collapse"],
    );
  } finally {
    r.close();
  }
});

test("resume: truncateAfter drops a stage's rows after the checkpoint; a step written twice is refused", () => {
  const path = join(root, "truncate", "run.sqlite");
  const store = filledStore(path);
  assert.throws(
    () => store.writeStep({ stage: "grpo", step: 3, metrics: {}, rollouts: [rollout(0, 0)] }),
    /run store .*truncate\/run\.sqlite: UNIQUE constraint failed: steps/,
  );
  store.truncateAfter("grpo", 2);
  store.writeStep({ stage: "grpo", step: 3, metrics: { again: true }, rollouts: [rollout(0, 0)] });
  store.close();
  const r = RunStoreReader.open(path);
  try {
    assert.deepEqual(
      r.steps().map((s) => `${s.stage}${s.step}`),
      ["grpo1", "grpo2", "grpo3", "sft1"],
    );
    assert.deepEqual(r.steps("grpo")[2].metrics, { again: true });
    assert.deepEqual(r.rolloutSteps(), [1, 2, 3]);
    assert.equal(r.rollouts(3).length, 1);
    assert.deepEqual(
      r.evals().map((e) => e.step),
      [2],
    );
    assert.deepEqual([...new Set(r.evalSamples().map((s) => s.step))], [2]);
    assert.deepEqual(r.events(), []);
  } finally {
    r.close();
  }
});

test("the reader refuses a missing file, a file that is not a store, another schema version", () => {
  assert.throws(() => RunStoreReader.open(join(root, "none.sqlite")), /none\.sqlite: no such file/);
  const text = join(root, "text.sqlite");
  writeFileSync(text, "not a database at all, but long enough to be looked at by SQLite ".repeat(20));
  assert.throws(() => RunStoreReader.open(text), /text\.sqlite: not a run store/);
  const other = join(root, "other.sqlite");
  const db = new Database(other);
  db.exec(
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT); INSERT INTO meta VALUES ('schema_version', '9')",
  );
  db.close();
  assert.throws(() => RunStoreReader.open(other), /other\.sqlite: schema version 9, this reasonrl reads 1/);
  assert.throws(() => RunStore.open(other, { kind: "train", name: "x" }), /other\.sqlite: schema version 9/);
});

test("a reader in another process queries while this one writes: whole steps only", async () => {
  const path = join(root, "live", "run.sqlite");
  const store = RunStore.open(path, { kind: "train", name: "live" });
  const reader = fileURLToPath(new URL("./store-reader-child.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", reader, path, "60"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  child.stderr.on("data", (d) => {
    err += d;
  });
  const exit = new Promise<number | null>((r) => child.on("close", r));
  // Wait until the reader has opened the store and read it once (it prints "ready").
  while (!out.includes("ready")) {
    assert.ok(child.exitCode === null, err);
    await new Promise((r) => setTimeout(r, 10));
  }
  for (let step = 1; step <= 60; step++) {
    const rollouts = [0, 1, 2, 3].flatMap((g) => [0, 1, 2, 3, 4, 5].map((i) => rollout(g, i)));
    store.writeStep({ stage: "grpo", step, metrics: { stage: "grpo", step, reward: step }, rollouts });
    await new Promise((r) => setTimeout(r, 5));
  }
  store.close();
  assert.equal(await exit, 0, err);
  const seen = JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as { reads: number; counts: number[] };
  assert.equal(seen.counts.at(-1), 60, out);
  assert.ok(seen.counts.length >= 3, `the reader saw steps land as they were written: ${seen.counts}`);
});
