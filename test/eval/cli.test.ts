/**
 * `reasonrl eval` through the real command on a tiny random model: the output folder, the
 * shared benchmark data, resuming after the process is killed mid-run, and `eval compare`.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, type TestContext, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { register } from "../../src/cli/eval.ts";
import type { EvalResults } from "../../src/eval/results.ts";
import type { SampleRecord } from "../../src/eval/samples.ts";
import { createTinyQwen } from "../model/tiny-qwen.ts";

const bin = fileURLToPath(new URL("../../bin/reasonrl.js", import.meta.url));
const shared = join(import.meta.dirname, "../../../shared/data/benchmarks");
const noShared = existsSync(join(shared, "aime24.jsonl"))
  ? false
  : "../shared/data/benchmarks is absent (a fresh clone)";
const root = await mkdtemp(join(tmpdir(), "reasonrl-eval-cli-"));
after(() => rm(root, { recursive: true, force: true }));

const model = join(root, "tiny");
await createTinyQwen(model);
const bench = join(root, "sums.jsonl");
await writeFile(
  bench,
  Array.from({ length: 6 }, (_, i) =>
    JSON.stringify({ id: `s${i}`, problem: `What is ${i} + ${i}?`, answer: `${2 * i}` }),
  ).join("\n"),
);

function reasonrl(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
  return { ...r, last: r.stdout.trim().split("\n").at(-1) ?? "" };
}

const readSamples = (out: string) =>
  readFileSync(join(out, "samples.jsonl"), "utf8")
    .trim()
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as SampleRecord);

/** Greedy, 2 samples of each of the 6 problems, one problem per generation call. */
const resumable = [
  "eval",
  "--model",
  model,
  "--benchmark",
  bench,
  "--n",
  "2",
  "--temperature",
  "0",
  "--max-tokens",
  "24",
];
const reference = join(root, "reference");

test("eval --model writes results.json, table.md and samples.jsonl", () => {
  const r = reasonrl(...resumable, "--concurrency", "1", "--name", "tiny-ref", "--out", reference, "--json");
  assert.equal(r.status, 0, r.stderr);
  const printed = JSON.parse(r.last) as EvalResults & { out: string };
  assert.equal(printed.out, reference);
  const results = JSON.parse(readFileSync(join(reference, "results.json"), "utf8")) as EvalResults;
  assert.equal(results.model, "tiny-ref");
  assert.equal(results.target, `local ${model}`);
  assert.deepEqual(
    results.benchmarks.map((b) => [b.name, b.problems, Object.keys(b.metrics)]),
    [["sums", 6, ["pass@1", "pass@2", "maj@2"]]],
  );
  assert.deepEqual(results.settings, {
    prompt: "lighteval",
    system: null,
    n: 2,
    k: [1, 2],
    temperature: 0,
    top_p: 0.95,
    max_tokens: 24,
    seed: 1234,
    limit: null,
  });
  assert.equal(results.run.generated, 12);
  const samples = readSamples(reference);
  assert.equal(samples.length, 12);
  for (const s of samples) {
    assert.equal(s.benchmark, "sums");
    assert.ok(s.tokens !== null && s.tokens >= 1 && s.tokens <= 24);
    assert.equal(s.finish_reason, s.tokens === 24 ? "length" : "stop");
    assert.equal(typeof s.correct, "boolean");
    assert.ok("answer" in s && "completion" in s);
  }
  assert.deepEqual(
    samples.slice(0, 3).map((s) => [s.problem_id, s.sample, s.gold]),
    [
      ["s0", 0, "0"],
      ["s0", 1, "0"],
      ["s1", 0, "2"],
    ],
  );
  const mean = samples.reduce((a, s) => a + (s.tokens ?? Number.NaN), 0) / samples.length;
  assert.ok(Math.abs((results.mean_tokens ?? Number.NaN) - mean) < 1e-9);
  const table = readFileSync(join(reference, "table.md"), "utf8");
  assert.match(table, /\| Model \| sums \| Avg \|/);
  assert.match(table, /\| tiny-ref \| \d+\.\d \[\d+\.\d, \d+\.\d\] \|/);
});

/** Runs `reasonrl <args>` in this process (commander registration); returns what it printed. */
async function inProcess(t: TestContext, ...args: string[]): Promise<string> {
  const log = t.mock.method(console, "log", () => {});
  t.mock.method(console, "error", () => {});
  const program = new Command().exitOverride();
  register(program);
  await program.parseAsync(args, { from: "user" });
  const printed = log.mock.calls.map((c) => String(c.arguments[0]));
  t.mock.restoreAll();
  return printed.at(-1) ?? "";
}

test("eval --data-dir reads the shared benchmarks; --limit keeps the first problems", {
  skip: noShared,
}, async (t) => {
  const out = join(root, "shared");
  const last = await inProcess(
    t,
    "eval",
    "--model",
    model,
    "--data-dir",
    shared,
    "--benchmarks",
    "aime24,amc23",
    "--limit",
    "2",
    "--temperature",
    "0",
    "--max-tokens",
    "4",
    "--threads",
    "1",
    "--out",
    out,
    "--json",
  );
  const results = JSON.parse(last) as EvalResults;
  assert.deepEqual(
    results.benchmarks.map((b) => [b.name, b.title, b.problems]),
    [
      ["aime24", "AIME24", 2],
      ["amc23", "AMC23", 2],
    ],
  );
  const firstIds = (name: string) =>
    readFileSync(join(shared, `${name}.jsonl`), "utf8")
      .split("\n")
      .slice(0, 2)
      .map((l) => (JSON.parse(l) as { id: string }).id);
  assert.deepEqual(
    readSamples(out).map((s) => s.problem_id),
    [...firstIds("aime24"), ...firstIds("amc23")],
  );
  assert.match(readFileSync(join(out, "table.md"), "utf8"), /\| Model \| AIME24 \| AMC23 \| Avg \|/);
});

test("a killed eval resumes: only missing samples are generated, and the results equal an uninterrupted run", async (t) => {
  const out = join(root, "killed");
  const child = spawn(process.execPath, [bin, ...resumable, "--concurrency", "1", "--out", out], {
    stdio: "ignore",
  });
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const samplesFile = join(out, "samples.jsonl");
  const deadline = Date.now() + 60_000;
  for (;;) {
    const lines = existsSync(samplesFile) ? readFileSync(samplesFile, "utf8").split("\n").length - 1 : 0;
    if (lines >= 2) break;
    if (Date.now() > deadline) throw new Error("the child wrote no samples in 60 s");
    await new Promise((r) => setTimeout(r, 10));
  }
  child.kill("SIGKILL");
  await exited;
  assert.ok(!existsSync(join(out, "results.json")), "killed before the end");
  const kept = readSamples(out).length;
  assert.ok(kept >= 2 && kept < 12, `${kept} samples kept`);

  // The same command again (in this process, to save a start-up).
  const last = await inProcess(
    t,
    ...resumable,
    "--concurrency",
    "1",
    "--name",
    "tiny-resumed",
    "--out",
    out,
    "--json",
  );
  const results = JSON.parse(last) as EvalResults;
  assert.equal(results.run.cached, kept);
  assert.equal(results.run.generated, 12 - kept);
  const expected = JSON.parse(readFileSync(join(reference, "results.json"), "utf8")) as EvalResults;
  assert.deepEqual(results.benchmarks, expected.benchmarks);
  assert.equal(readFileSync(samplesFile, "utf8"), readFileSync(join(reference, "samples.jsonl"), "utf8"));
});

test("eval compare puts result folders in one table", async (t) => {
  const cmp = join(root, "compare.md");
  const killed = join(root, "killed");
  const last = await inProcess(
    t,
    "eval",
    "compare",
    reference,
    killed,
    "--metric",
    "pass@1",
    "--out",
    cmp,
    "--json",
  );
  const printed = JSON.parse(last) as { rows: Array<{ model: string }>; out: string };
  assert.deepEqual(
    printed.rows.map((x) => x.model),
    ["tiny-ref", "tiny-resumed"],
  );
  assert.equal(printed.out, cmp);
  const table = readFileSync(cmp, "utf8");
  assert.match(
    table,
    /## pass@1\n\n\| Model \| sums \| Avg \|\n\| --- \| ---: \| ---: \|\n\| tiny-ref \| .*\n\| tiny-resumed \| /,
  );
  assert.match(table, /Settings: prompt lighteval, no system prompt, n 2, temperature 0,/);
  const text = await inProcess(t, "eval", "compare", reference, killed);
  assert.match(text, /## pass@2/);
  await assert.rejects(
    inProcess(t, "eval", "compare", reference, join(root, "nowhere")),
    /cannot read .*nowhere\/results\.json/,
  );
});

test("a run's final model is labelled with the run's name; other weights at the same path are not taken for it", async (t) => {
  const final = join(root, "runs", "tinyrun", "final");
  await mkdir(join(root, "runs", "tinyrun"), { recursive: true });
  await createTinyQwen(final, { seed: 1 });
  const out = join(root, "final-eval");
  const command = [
    "eval",
    "--model",
    final,
    "--benchmark",
    bench,
    "--limit",
    "1",
    "--temperature",
    "0",
    "--max-tokens",
    "4",
    "--out",
    out,
    "--json",
  ];
  const results = JSON.parse(await inProcess(t, ...command)) as EvalResults;
  assert.equal(results.model, "tinyrun");
  assert.match(readFileSync(join(out, "table.md"), "utf8"), /# Evaluation: tinyrun/);
  // Retrained: same shapes and files, other weights.
  await rm(final, { recursive: true });
  await createTinyQwen(final, { seed: 2 });
  await assert.rejects(
    inProcess(t, ...command),
    /final-eval holds samples made by another model or with other settings \(target\.weights: "[0-9a-f]+\.*" -> "[0-9a-f]+\.*"\)/,
  );
});

test("eval refuses a missing or doubled target and bad options, by message", async () => {
  const program = new Command().exitOverride();
  register(program);
  await assert.rejects(
    program.parseAsync(["eval", "--benchmark", bench], { from: "user" }),
    /give exactly one of --model DIR, --endpoint URL, --gguf FILE \(got none\)/,
  );
  await assert.rejects(
    program.parseAsync(["eval", "--model", model, "--gguf", "x.gguf"], { from: "user" }),
    /\(got --model, --gguf\)/,
  );
  // Bad numbers are refused where the flag is parsed, naming it (nothing is loaded).
  const quiet = new Command().exitOverride().configureOutput({ writeErr: () => {} });
  register(quiet);
  for (const [flag, value, why] of [
    ["--n", "x", /option '--n <n>' argument 'x' is invalid. expected an integer/],
    ["--top-p", "2", /option '--top-p <p>' argument '2' is invalid. expected a number <= 1/],
    ["--timeout", "soon", /option '--timeout <seconds>' argument 'soon' is invalid/],
    ["--k", "1,x", /option '--k <list>' argument '1,x' is invalid. expected an integer/],
  ] as const)
    await assert.rejects(
      quiet.parseAsync(["eval", "--model", model, "--benchmark", bench, flag, value], { from: "user" }),
      why,
    );
});
