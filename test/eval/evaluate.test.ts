/**
 * The evaluation pipeline with a scripted ChatGenerator (no model): grading, metrics, the
 * output folder, resuming from the sample cache, settings checks, and reports.
 */
import assert from "node:assert/strict";
import { appendFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { type EvaluateOptions, evaluate } from "../../src/eval/evaluate.ts";
import { readResults } from "../../src/eval/results.ts";
import type { SampleRecord } from "../../src/eval/samples.ts";
import { metricTable, renderReport } from "../../src/eval/table.ts";
import type { ChatGenerator, TextCompletion } from "../../src/generate/types.ts";
import type { ChatMessage } from "../../src/model/chat-template.ts";
import { VerifierPool } from "../../src/verify/pool.ts";

/** evaluate(), which must end with results (not stopped). */
async function evaluated(...args: Parameters<typeof evaluate>) {
  const outcome = await evaluate(...args);
  if (outcome.stopped) throw new Error("the evaluation stopped");
  return outcome;
}

const root = await mkdtemp(join(tmpdir(), "reasonrl-eval-run-"));
const pool = new VerifierPool();
after(async () => {
  await pool.close();
  await rm(root, { recursive: true, force: true });
});

/** A generator that answers from a script: (problem text, sample index in the call) -> completion text. */
class ScriptedChat implements ChatGenerator {
  readonly name = "scripted";
  readonly calls: Array<{ problems: string[]; n: number; seed?: number; temperature?: number }> = [];
  constructor(
    readonly script: (problem: string, j: number) => string,
    readonly failAfterCalls = Number.POSITIVE_INFINITY,
  ) {}
  async chat(
    conversations: ReadonlyArray<ReadonlyArray<ChatMessage>>,
    options: { n?: number; seed?: number; temperature?: number } = {},
  ): Promise<TextCompletion[][]> {
    if (this.calls.length >= this.failAfterCalls) throw new Error("server went away");
    const n = options.n ?? 1;
    // The template file is "Q: {problem}".
    const problems = conversations.map((c) => (c.at(-1)?.content ?? "").replace(/^Q: /, ""));
    this.calls.push({ problems, n, seed: options.seed, temperature: options.temperature });
    return problems.map((p) =>
      Array.from({ length: n }, (_, j) => ({
        text: this.script(p, j),
        tokens: 10 + j,
        finishReason: j === 2 ? ("length" as const) : ("stop" as const),
      })),
    );
  }
}

const template = join(root, "template.txt");
await writeFile(template, "Q: {problem}");

async function benchmarkFile(name: string, answers: string[]): Promise<string> {
  const path = join(root, `${name}.jsonl`);
  await writeFile(
    path,
    answers.map((a, i) => JSON.stringify({ id: `p${i + 1}`, problem: `p${i + 1}`, answer: a })).join("\n"),
  );
  return path;
}

const boxed = (x: string) =>
  `Some reasoning.\nTherefore, the final answer is: $\\boxed{${x}}$. I hope it is correct`;

async function samplesOf(out: string): Promise<SampleRecord[]> {
  const text = await readFile(join(out, "samples.jsonl"), "utf8");
  return text
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as SampleRecord);
}

test("graded samples give pass@k, maj@k, lengths; results.json, table.md and samples.jsonl are written", async () => {
  const path = await benchmarkFile("mine", ["1", "2", "3", "4"]);
  // Per problem, what samples 0, 1, 2 answer (null: no answer at all).
  const script: Record<string, Array<string | null>> = {
    p1: ["1", "1", "1"],
    p2: ["99", "2", "99"],
    p3: [null, "99", "98"],
    p4: ["7", "7", "4"],
  };
  const chat = new ScriptedChat((p, j) => {
    const a = script[p][j];
    return a === null ? "I do not know." : boxed(a);
  });
  const out = join(root, "run1");
  const { results } = await evaluated(
    chat,
    {
      customBenchmarks: [path],
      prompt: template,
      n: 3,
      concurrency: 2,
      temperature: 0.6,
      out,
    },
    { pool },
  );
  assert.equal(chat.calls.length, 2);
  assert.deepEqual(
    chat.calls.map((c) => [c.problems, c.n, c.temperature]),
    [
      [["p1", "p2"], 3, 0.6],
      [["p3", "p4"], 3, 0.6],
    ],
  );
  assert.notEqual(chat.calls[0].seed, chat.calls[1].seed, "each call has its own seed");
  const m = results.benchmarks[0].metrics;
  const close = (a: number | null, b: number) =>
    assert.ok(a !== null && Math.abs(a - b) < 1e-12, `${a} vs ${b}`);
  close(m["pass@1"].value, (1 + 1 / 3 + 0 + 1 / 3) / 4);
  close(m["pass@2"].value, (1 + 2 / 3 + 0 + 2 / 3) / 4); // 1 - C(2,2)/C(3,2) = 2/3
  close(m["pass@3"].value, 3 / 4);
  close(m["maj@2"].value, 1 / 4); // p2 ties 99/2: 99 came first
  close(m["maj@3"].value, 1 / 4); // p3: 99 and 98 tie, 99 first; p4: 7 twice
  assert.deepEqual(Object.keys(m), ["pass@1", "pass@2", "pass@3", "maj@2", "maj@3"]);
  close(results.benchmarks[0].truncated, 1 / 3);
  close(results.benchmarks[0].mean_tokens, 11);
  assert.deepEqual(results.average["pass@1"], m["pass@1"]);
  assert.deepEqual(results.settings.k, [1, 2, 3]);
  assert.equal(results.run.generated, 12);

  const onDisk = await readResults(out);
  assert.deepEqual(onDisk.benchmarks, results.benchmarks);
  const samples = await samplesOf(out);
  assert.equal(samples.length, 12);
  assert.deepEqual(
    samples.slice(0, 4).map((s) => [s.problem_id, s.sample, s.answer, s.correct, s.finish_reason]),
    [
      ["p1", 0, "1", true, "stop"],
      ["p1", 1, "1", true, "stop"],
      ["p1", 2, "1", true, "length"],
      ["p2", 0, "99", false, "stop"],
    ],
  );
  assert.equal(samples.find((s) => s.problem_id === "p3" && s.sample === 0)?.answer, null);
  assert.equal(samples[0].gold, "1");
  assert.equal(samples[0].benchmark, "mine");
  const table = await readFile(join(out, "table.md"), "utf8");
  assert.match(table, /\| Model \| mine \| Avg \|/);
  assert.match(table, /\| scripted \| 41\.7 \[\d+\.\d, \d+\.\d\] \| 41\.7 \[/);
  assert.match(table, /## maj@3/);
});

test("an interrupted evaluation resumes with only the missing samples and ends as an uninterrupted one", async () => {
  const path = await benchmarkFile("five", ["1", "2", "3", "4", "5"]);
  const script = (p: string) => boxed(p === "p2" ? "0" : p.slice(1));
  const options: EvaluateOptions = {
    customBenchmarks: [path],
    prompt: template,
    n: 2,
    concurrency: 1,
    temperature: 0,
  };
  const clean = join(root, "clean");
  await evaluated(new ScriptedChat(script), { ...options, out: clean }, { pool });

  const out = join(root, "resumed");
  await assert.rejects(
    evaluated(new ScriptedChat(script, 2), { ...options, out }, { pool }),
    /server went away/,
  );
  assert.equal((await samplesOf(out)).length, 4, "two calls of 2 samples were kept");
  await appendFile(join(out, "samples.jsonl"), '{"benchmark":"five","problem_id":"p3","sa'); // a write cut by a kill
  const warnings: string[] = [];
  const chat = new ScriptedChat(script);
  const { results } = await evaluated(chat, { ...options, out }, { pool, warn: (w) => warnings.push(w) });
  assert.deepEqual(
    chat.calls.map((c) => c.problems),
    [["p3"], ["p4"], ["p5"]],
  );
  assert.equal(results.run.generated, 6);
  assert.equal(results.run.cached, 4);
  assert.match(warnings.join(), /1 broken line/);
  const reference = await readResults(clean);
  assert.deepEqual(results.benchmarks, reference.benchmarks);
  assert.equal(
    await readFile(join(out, "samples.jsonl"), "utf8"),
    await readFile(join(clean, "samples.jsonl"), "utf8"),
  );

  // More samples later: only the new indices are generated.
  const more = new ScriptedChat(script);
  const { results: r3 } = await evaluated(more, { ...options, n: 3, out }, { pool });
  assert.deepEqual(
    more.calls.map((c) => c.n),
    [1, 1, 1, 1, 1],
  );
  assert.equal(r3.run.cached, 10);
  assert.equal(r3.benchmarks[0].metrics["pass@3"].value, 4 / 5);

  // Other sampling settings are refused, unless the cache is discarded.
  await assert.rejects(
    evaluated(new ScriptedChat(script), { ...options, temperature: 0.6, out }, { pool }),
    /holds samples made by another model or with other settings \(temperature: 0 -> 0\.6\)/,
  );
  const fresh = new ScriptedChat(script);
  const { results: r4 } = await evaluated(
    fresh,
    { ...options, temperature: 0.6, out, fresh: true },
    { pool },
  );
  assert.equal(r4.run.cached, 0);
  assert.equal(fresh.calls.length, 5);
});

test("calls in parallel: a failure starts no new call, and the calls in flight are kept", async () => {
  const path = await benchmarkFile("parallel", ["1", "2", "3", "4", "5"]);
  const chat = new ScriptedChat((p) => boxed(p.slice(1)));
  const slowChat: ChatGenerator = {
    name: "slow",
    chat: async (conversations, options) => {
      const problem = conversations[0].at(-1)?.content;
      if (problem === "Q: p3") throw new Error("p3 failed");
      await new Promise((r) => setTimeout(r, 30));
      return chat.chat(conversations, options);
    },
  };
  const out = join(root, "parallel");
  const options = { customBenchmarks: [path], prompt: template, temperature: 0, concurrency: 1, out };
  await assert.rejects(evaluated(slowChat, { ...options, parallelCalls: 2 }, { pool }), /p3 failed/);
  assert.deepEqual(
    chat.calls.map((c) => c.problems),
    [["p1"], ["p2"]],
  );
  assert.deepEqual((await samplesOf(out)).map((s) => s.problem_id).sort(), ["p1", "p2"]);
  const rest = new ScriptedChat((p) => boxed(p.slice(1)));
  const resumed: ChatGenerator = { name: "slow", chat: (c, o) => rest.chat(c, o) };
  const { results } = await evaluated(resumed, { ...options, parallelCalls: 3 }, { pool });
  assert.deepEqual(rest.calls.map((c) => c.problems).sort(), [["p3"], ["p4"], ["p5"]]);
  assert.equal(results.benchmarks[0].metrics["pass@1"].value, 1);
});

test("a changed gold answer regrades the cached samples instead of generating them again", async () => {
  const out = join(root, "regrade");
  const script = (p: string) => boxed(p.slice(1));
  const options = { prompt: template, temperature: 0, out };
  const first = await evaluated(
    new ScriptedChat(script),
    {
      ...options,
      customBenchmarks: [await benchmarkFile("gold", ["1", "2"])],
    },
    { pool },
  );
  assert.equal(first.results.benchmarks[0].metrics["pass@1"].value, 1);
  const chat = new ScriptedChat(script);
  const second = await evaluated(
    chat,
    { ...options, customBenchmarks: [await benchmarkFile("gold", ["1", "5"])] },
    { pool },
  );
  assert.equal(chat.calls.length, 0);
  assert.equal(second.results.run.regraded, 1);
  assert.equal(second.results.benchmarks[0].metrics["pass@1"].value, 0.5);
  const samples = await samplesOf(out);
  assert.deepEqual(
    samples.map((s) => [s.gold, s.correct]),
    [
      ["1", true],
      ["5", false],
    ],
  );
});

test("a problem whose text changed under the same id is sampled again; the others stay cached", async () => {
  const out = join(root, "retext");
  const script = (p: string) => boxed(p.replace(/\D/g, ""));
  const path = join(root, "retext.jsonl");
  const write = (second: string) =>
    writeFile(
      path,
      [
        { id: "a", problem: "1", answer: "1" },
        { id: "b", problem: second, answer: "2" },
      ]
        .map((r) => JSON.stringify(r))
        .join("\n"),
    );
  await write("2");
  await evaluated(
    new ScriptedChat(script),
    { customBenchmarks: [path], prompt: template, temperature: 0, out },
    { pool },
  );
  await write("2 (reworded)");
  const chat = new ScriptedChat(script);
  const { results } = await evaluated(
    chat,
    { customBenchmarks: [path], prompt: template, temperature: 0, out },
    { pool },
  );
  assert.deepEqual(
    chat.calls.map((c) => c.problems),
    [["2 (reworded)"]],
  );
  assert.equal(results.run.cached, 1);
  assert.deepEqual(
    (await samplesOf(out)).map((s) => s.completion),
    [boxed("1"), boxed("2")],
  );
});

test("reports of several results: one row each, Avg only over complete rows, differing settings named", async () => {
  const a = await readResults(join(root, "run1"));
  const b = await readResults(join(root, "clean"));
  const table = metricTable([a, { ...b, model: "other" }], "pass@1");
  const lines = table.split("\n");
  assert.equal(lines[0], "| Model | mine | five | Avg |");
  assert.match(lines[2], /^\| scripted \| 41\.7 \[.*\] \| – \| – \|$/);
  assert.match(lines[3], /^\| other \| – \| 80\.0 \[.*\] \| – \|$/);
  const report = renderReport([a, { ...b, model: "other" }]);
  assert.match(report, /Settings differ between rows/);
  assert.match(report, /- n: scripted 3, other 2/);
  assert.match(report, /- temperature: scripted 0\.6, other 0/);
  assert.doesNotMatch(report, /## maj@3/, "only metrics both rows have");
});
