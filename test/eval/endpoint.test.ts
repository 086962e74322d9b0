/**
 * `reasonrl eval --endpoint` against fake OpenAI-compatible servers (hono apps, fake-openai.ts)
 * that behave as servers nobody here wrote do: another model on the same port, a 500 on some
 * prompts, a 400 for n above the server's slots, usage that counts one choice of several, a
 * server that refuses everything, and Ctrl-C in the middle of a run.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, type TestContext, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { register } from "../../src/cli/eval.ts";
import { type EvaluateOptions, evaluate } from "../../src/eval/evaluate.ts";
import type { EvalResults } from "../../src/eval/results.ts";
import type { SampleRecord } from "../../src/eval/samples.ts";
import { renderReport } from "../../src/eval/table.ts";
import { Tokenizer } from "../../src/model/tokenizer.ts";
import { VerifierPool } from "../../src/verify/pool.ts";
import { qwenTokenizerDir } from "../model/tiny-qwen.ts";
import { type ChatRequest, chatCompletion, errorAnswer, fakeOpenAI, lastMessage } from "./fake-openai.ts";

const bin = fileURLToPath(new URL("../../bin/reasonrl.js", import.meta.url));
const root = await mkdtemp(join(tmpdir(), "reasonrl-eval-endpoint-"));
const pool = new VerifierPool();
after(async () => {
  await pool.close();
  await rm(root, { recursive: true, force: true });
});

/** Six problems "What is i + i?" with answer 2i; the prompt template is "Q: {problem}". */
const bench = join(root, "sums.jsonl");
await writeFile(
  bench,
  Array.from({ length: 6 }, (_, i) =>
    JSON.stringify({ id: `s${i}`, problem: `What is ${i} + ${i}?`, answer: `${2 * i}` }),
  ).join("\n"),
);
const template = join(root, "template.txt");
await writeFile(template, "Q: {problem}");

/** The problem's index in a request ("Q: What is 3 + 3?" -> 3). */
const problemOf = (r: ChatRequest) => Number(/What is (\d+)/.exec(lastMessage(r))?.[1]);
const boxed = (x: string | number) => `So the final answer is: $\\boxed{${x}}$. I hope it is correct`;

const readSamples = (out: string) =>
  readFileSync(join(out, "samples.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as SampleRecord);

/** Runs `reasonrl <args>` in this process (commander registration); returns what it printed last. */
async function inProcess(t: TestContext, ...args: string[]): Promise<string> {
  const log = t.mock.method(console, "log", () => {});
  t.mock.method(console, "error", () => {});
  try {
    const program = new Command().exitOverride();
    register(program);
    await program.parseAsync(args, { from: "user" });
    return String(log.mock.calls.at(-1)?.arguments[0] ?? "");
  } finally {
    t.mock.restoreAll();
  }
}

const options: EvaluateOptions = {
  customBenchmarks: [bench],
  prompt: template,
  temperature: 0,
  maxTokens: 64,
};

test("the served model names the row and the folder; the next model on the same port gets its own samples", async (t) => {
  const cwd = process.cwd();
  process.chdir(root);
  t.after(() => process.chdir(cwd));
  const right = (r: ChatRequest) => chatCompletion(r, [{ text: boxed(2 * problemOf(r)), tokens: 12 }]);
  const wrong = (r: ChatRequest) => chatCompletion(r, [{ text: boxed(-1), tokens: 7 }]);
  const a = await fakeOpenAI({ model: "model-a", answer: right });
  const command = ["eval", "--endpoint", a.url, "--benchmark", bench, "--temperature", "0", "--json"];
  const first = JSON.parse(await inProcess(t, ...command)) as EvalResults & { out: string };
  await a.close();
  assert.equal(first.model, "model-a");
  assert.equal(first.out, join("runs", "eval", "model-a"));
  assert.equal(first.benchmarks[0].metrics["pass@1"].value, 1);

  // Another model on the same port, served from a run's folder (its id is the path).
  const b = await fakeOpenAI({ model: "/srv/runs/beta/final", port: a.port, answer: wrong });
  t.after(() => b.close());
  const second = JSON.parse(await inProcess(t, ...command)) as EvalResults & { out: string };
  assert.equal(second.model, "beta");
  assert.equal(second.out, join("runs", "eval", "beta"));
  assert.equal(second.benchmarks[0].metrics["pass@1"].value, 0, "B's table is B's samples");
  assert.equal(b.requests.length, 6, "every sample asked of B");
  assert.ok(readSamples(second.out).every((s) => s.completion === boxed(-1) && s.tokens === 7));
  assert.match(readFileSync(join(second.out, "table.md"), "utf8"), /\| beta \| 0\.0 /);

  // B's samples are never written into A's folder, nor A's read as B's.
  await assert.rejects(
    inProcess(t, ...command, "--out", first.out),
    /runs\/eval\/model-a holds samples made by another model or with other settings \(target\.model: "model-a" -> "\/srv\/runs\/beta\/final"\)/,
  );
  assert.equal(b.requests.length, 6);
});

test("a request that fails (HTTP 500 on one prompt) is a failed sample: reported, counted wrong, asked again by a rerun", async (t) => {
  let broken = true;
  const server = await fakeOpenAI({
    model: "weak",
    answer: (r) =>
      broken && problemOf(r) === 2
        ? errorAnswer(500, "Invalid UTF-8 sequence in the output", "server_error")
        : chatCompletion(r, [{ text: boxed(2 * problemOf(r)), tokens: 10, finish: "length" }]),
  });
  t.after(() => server.close());
  const out = join(root, "failed");
  const warnings: string[] = [];
  const first = await evaluate(
    { kind: "endpoint", url: server.url, retries: 0 },
    { ...options, out },
    { pool, warn: (w) => warnings.push(w) },
  );
  assert.ok(!first.stopped);
  const { results } = first;
  assert.equal(server.requests.length, 6, "the run went on after the 500, and did not retry it");
  assert.equal(results.failed_samples, 1);
  assert.equal(results.benchmarks[0].failed_samples, 1);
  const error = `POST ${server.url}/v1/chat/completions: HTTP 500: Invalid UTF-8 sequence in the output`;
  assert.deepEqual(results.failures, [{ benchmark: "sums", problem_id: "s2", sample: 0, error }]);
  assert.equal(results.benchmarks[0].metrics["pass@1"].value, 5 / 6, "counted as wrong");
  assert.equal(results.mean_tokens, 10, "over the completed samples");
  assert.equal(results.truncated, 1);
  const table = readFileSync(join(out, "table.md"), "utf8");
  assert.match(table, /\| Model \| sums \| Avg \| Failed \|/);
  assert.match(table, /\| weak \| 83\.3 \[.*\] \| 83\.3 \[.*\] \| 1 \/ 6 \|/);
  assert.ok(table.includes(`**weak: 1 of 6 samples failed** (sums 1)`), table);
  assert.ok(table.includes(error), table);
  assert.match(warnings.join("\n"), /1 sample\(s\) failed and count as wrong/);
  assert.equal(readSamples(out).find((s) => s.problem_id === "s2")?.error, error);

  const compared = JSON.parse(await inProcess(t, "eval", "compare", out, "--json")) as {
    rows: Array<{ failed_samples: number }>;
  };
  assert.equal(compared.rows[0].failed_samples, 1);

  broken = false;
  const again = await evaluate({ kind: "endpoint", url: server.url }, { ...options, out }, { pool });
  assert.ok(!again.stopped);
  assert.equal(server.requests.length, 7, "only the failed sample is asked for again");
  assert.equal(again.results.failed_samples, 0);
  assert.equal(again.results.benchmarks[0].metrics["pass@1"].value, 1);
  assert.doesNotMatch(renderReport([again.results]), /Failed|failed/);
});

test("llama.cpp's server: a 400 for n above its slots, usage of one choice: samples asked alone, counted per choice", async (t) => {
  // Two slots; usage counts the first choice only; logprobs when asked.
  const slots = 2;
  const tokensOf = (r: ChatRequest, j: number) => 5 + (((r.seed ?? 0) + 3 * j) % 11);
  const server = await fakeOpenAI({
    model: "llama",
    answer: (r) =>
      (r.n ?? 1) > slots
        ? errorAnswer(400, `Field 'n': Value must be between 1 <= value <= ${slots}, but got ${r.n}`)
        : chatCompletion(
            r,
            Array.from({ length: r.n ?? 1 }, (_, j) => ({
              text: boxed(2 * problemOf(r)),
              tokens: tokensOf(r, j),
            })),
            { usage: "first" },
          ),
  });
  t.after(() => server.close());
  const warnings: string[] = [];
  const outcome = await evaluate(
    { kind: "endpoint", url: server.url },
    { ...options, n: 4, temperature: 0.6, concurrency: 1, out: join(root, "slots") },
    { pool, warn: (w) => warnings.push(w) },
  );
  assert.ok(!outcome.stopped);
  const { results } = outcome;
  assert.equal(results.failed_samples, 0);
  assert.deepEqual(
    server.requests.slice(0, 5).map((r) => r.n),
    [4, 1, 1, 1, 1],
  );
  assert.ok(
    server.requests.slice(5).every((r) => r.n === 1),
    "learned: one sample per request",
  );
  const singles = server.requests.filter((r) => r.n === 1);
  assert.equal(singles.length, 24);
  const mean = singles.reduce((a, r) => a + tokensOf(r, 0), 0) / singles.length;
  assert.equal(results.mean_tokens, mean);
  assert.match(warnings.join("\n"), /rejects n = 4 .*HTTP 400: Field 'n'.*one sample per request/);

  // n within the slots: one request, each choice counted from its own logprobs.
  const within = await evaluate(
    { kind: "endpoint", url: server.url },
    { ...options, n: 2, temperature: 0.6, out: join(root, "within") },
    { pool },
  );
  assert.ok(!within.stopped);
  const pairs = server.requests.slice(-6);
  assert.ok(pairs.every((r) => r.n === 2 && r.logprobs === true));
  const perChoice = pairs.flatMap((r) => [tokensOf(r, 0), tokensOf(r, 1)]);
  assert.equal(within.results.mean_tokens, perChoice.reduce((a, b) => a + b, 0) / 12);
  assert.equal(within.results.unknown_tokens, 0);
});

test("no per-choice counts (usage of one choice, no logprobs): lengths are unknown, never a guess", async (t) => {
  const server = await fakeOpenAI({
    model: "nolog",
    answer: (r) =>
      chatCompletion(
        r,
        Array.from({ length: r.n ?? 1 }, () => ({ text: boxed(2 * problemOf(r)), tokens: 9 })),
        { usage: "first", logprobs: false },
      ),
  });
  t.after(() => server.close());
  const outcome = await evaluate(
    { kind: "endpoint", url: server.url },
    { ...options, n: 2, temperature: 0.6, limit: 2, out: join(root, "unknown") },
    { pool },
  );
  assert.ok(!outcome.stopped);
  const { results } = outcome;
  assert.equal(results.mean_tokens, null);
  assert.equal(results.unknown_tokens, 4);
  assert.equal(results.truncated, 0, "finish reasons are known");
  assert.ok(readSamples(join(root, "unknown")).every((s) => s.tokens === null && s.finish_reason === "stop"));
  const table = renderReport([results]);
  assert.match(table, /\| nolog \| 0\.0% · \? \| 0\.0% · \? \|/);
  assert.match(table, /the token count of 4 completion\(s\) is unknown/);

  // A local tokenizer, when given, counts them.
  const tokenizer = Tokenizer.fromDir(qwenTokenizerDir);
  const counted = await evaluate(
    { kind: "endpoint", url: server.url },
    { ...options, n: 2, temperature: 0.6, limit: 2, tokenizer: qwenTokenizerDir, out: join(root, "counted") },
    { pool },
  );
  assert.ok(!counted.stopped);
  const expected = [0, 1].map((i) => tokenizer.encode(boxed(2 * i), { addSpecialTokens: false }).length);
  assert.equal(counted.results.mean_tokens, (expected[0] + expected[1]) / 2);
  assert.equal(counted.results.unknown_tokens, 0);
});

test("a server that refuses every request stops the run instead of reporting zeros", async (t) => {
  const server = await fakeOpenAI({
    model: "strict",
    answer: () => errorAnswer(400, "max_tokens is too large: 64 > 32 (context)"),
  });
  t.after(() => server.close());
  const out = join(root, "refused");
  await assert.rejects(
    evaluate({ kind: "endpoint", url: server.url, concurrency: 2 }, { ...options, out }, { pool }),
    /the first [2-8] sample\(s\) all failed, so the run stops .*HTTP 400: max_tokens is too large/,
  );
  assert.ok(!existsSync(join(out, "results.json")));
});

test("Ctrl-C during eval: says what it kept and how to resume, exits 130; the rerun finishes the rest", async (t) => {
  // A slow server: 300 ms a request, so the run is stopped half-way.
  const server = await fakeOpenAI({
    model: "slow",
    answer: async (r) => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      return chatCompletion(r, [{ text: boxed(2 * problemOf(r)), tokens: 4 }]);
    },
  });
  t.after(() => server.close());
  const out = join(root, "stopped");
  const args = [
    "eval",
    "--endpoint",
    server.url,
    "--benchmark",
    bench,
    "--temperature",
    "0",
    "--concurrency",
    "1",
  ];
  const child = spawn(process.execPath, [bin, ...args, "--out", out], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => {
    stdout += d;
  });
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  while (server.requests.length < 3) {
    if (Date.now() > deadline) throw new Error(`no requests in 60 s: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  child.kill("SIGINT");
  const code = await exited;
  assert.equal(code, 130, stderr);
  const kept = readSamples(out).length;
  assert.ok(kept >= 2 && kept < 6, `${kept} samples kept`);
  assert.match(
    stdout,
    new RegExp(
      `eval stopped: ${kept} of 6 samples are kept in ${out}/samples\\.jsonl; run the same command again to resume`,
    ),
  );
  assert.match(stderr, /stopping: the samples generated so far are kept/);
  assert.ok(!existsSync(join(out, "results.json")));

  const before = server.requests.length;
  const resumed = JSON.parse(await inProcess(t, ...args, "--out", out, "--json")) as EvalResults;
  assert.equal(resumed.run.cached, kept);
  assert.equal(resumed.run.generated, 6 - kept);
  assert.equal(server.requests.length - before, 6 - kept);
  assert.equal(resumed.benchmarks[0].metrics["pass@1"].value, 1);
});
