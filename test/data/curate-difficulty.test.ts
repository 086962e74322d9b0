/**
 * The `difficulty` step against a real model: a tiny random Qwen2 served by
 * `reasonrl serve` on loopback (behind a proxy that counts requests), and the
 * same folder opened directly ({ model: DIR }). A random model solves nothing,
 * so problems are planted: the model's greedy answer to a problem, where the
 * verifier finds one, becomes that problem's gold (pass rate 1 at temperature
 * 0); the other problems get a gold it never writes (pass rate 0). Then the
 * cache: a rerun asks nothing, and `reasonrl data curate` killed with SIGKILL
 * midway resumes with only the problems it had not finished.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { DifficultyParams, difficultyStep } from "../../src/data/curate/steps/difficulty.ts";
import type { DataRow } from "../../src/data/row.ts";
import { OpenAIChatGenerator } from "../../src/generate/openai-client.ts";
import { VerifierPool } from "../../src/verify/pool.ts";
import { context, ids, reasons, row } from "./helpers.ts";
import {
  bin,
  type CountingProxy,
  countingProxy,
  makeTinyModel,
  type ServeProcess,
  startServe,
} from "./model-fixture.ts";

const root = await mkdtemp(join(tmpdir(), "reasonrl-difficulty-"));
let modelDir = "";
let serve: ServeProcess;
let proxy: CountingProxy;
/** Problems whose gold is the model's own greedy answer, and problems it cannot answer. */
const planted: { problem: string; answer: string }[] = [];
const unplanted: { problem: string; answer: string }[] = [];

const PROMPT = "{problem}\nPlease reason step by step, and put your final answer within \\boxed{}.";
const NEVER = "987654321";
/** The sampling settings of every run: greedy, so a planted problem is solved by every sample. */
const SAMPLING = { k: 3, temperature: 0, maxTokens: 40, prompt: PROMPT };

before(async () => {
  modelDir = await makeTinyModel(root);
  serve = await startServe(modelDir);
  proxy = await countingProxy(serve.url);
  // The greedy answers of 60 candidate problems; the verifier's extraction of each, if any.
  const candidates = Array.from({ length: 60 }, (_, i) => `What is ${i + 3} times ${i + 7}?`);
  const generator = new OpenAIChatGenerator({ baseUrl: serve.url });
  const answers = await generator.chat(
    candidates.map((p) => [{ role: "user", content: PROMPT.replace("{problem}", p) }]),
    { n: 1, temperature: 0, maxTokens: 40 },
  );
  const pool = new VerifierPool();
  const options = { gold: "gold", pred: "lighteval", precision: 5 } as const;
  for (let i = 0; i < candidates.length; i++) {
    const text = answers[i][0].text;
    const extracted = (await pool.verify(NEVER, text, options)).pred.parsed[0];
    const solvable =
      extracted !== undefined &&
      /^\d+$/.test(extracted) &&
      (await pool.verify(extracted, text, options)).equivalent;
    if (solvable && planted.length < 4) planted.push({ problem: candidates[i], answer: extracted });
    else if (!solvable && !(await pool.verify(NEVER, text, options)).equivalent && unplanted.length < 4)
      unplanted.push({ problem: candidates[i], answer: NEVER });
  }
  await pool.close();
  assert.equal(planted.length, 4, "the tiny model should answer at least 4 of 60 problems with a number");
  assert.equal(unplanted.length, 4);
});

after(async () => {
  await proxy?.close();
  await serve?.stop();
  await rm(root, { recursive: true, force: true });
});

/** The fixture rows: 4 planted (p0..p3), a repeat of p0 under another id, 4 unplanted (u0..u3), one without a gold. */
function rows(): DataRow[] {
  return [
    ...planted.map((x, i) => row(`p${i}`, x.problem, x.answer, { index: i })),
    row("p0-again", planted[0].problem, planted[0].answer, { index: 4 }),
    ...unplanted.map((x, i) => row(`u${i}`, x.problem, x.answer, { index: 5 + i })),
    row("none", "What is 1 plus 1?", "", { index: 9 }),
  ];
}

const cacheLines = async (dir: string) => {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".jsonl"));
  assert.equal(files.length, 1, `one cache file in ${dir}: ${files.join(", ")}`);
  const text = await readFile(join(dir, files[0]), "utf8");
  return text.split("\n").filter((l) => l.trim() !== "");
};

test("params: a target is one of model / endpoint / gguf, windows and label thresholds are checked", () => {
  const parse = (p: unknown) => DifficultyParams.safeParse(p);
  assert.equal(parse({ target: { model: "m" } }).success, true);
  assert.match(JSON.stringify(parse({ target: {} }).error?.issues), /give exactly one of model/);
  assert.match(
    JSON.stringify(parse({ target: { model: "m", endpoint: "http://x" } }).error?.issues),
    /got model and endpoint/,
  );
  assert.match(
    JSON.stringify(parse({ target: { model: "m", apiKey: "k" } }).error?.issues),
    /only for a endpoint target/,
  );
  assert.match(
    JSON.stringify(parse({ target: { gguf: "m.gguf" }, minPassRate: 0.8, maxPassRate: 0.2 }).error?.issues),
    /minPassRate must not exceed maxPassRate/,
  );
  assert.match(
    JSON.stringify(parse({ target: { model: "m" }, label: { easy: 0.5, hard: 0.5 } }).error?.issues),
    /label.hard must be below label.easy/,
  );
  assert.match(
    JSON.stringify(parse({ target: { model: "m" }, prompt: "Solve." }).error?.issues),
    /\{problem\}/,
  );
  const defaults = DifficultyParams.parse({ target: { endpoint: "http://127.0.0.1:1" } });
  assert.equal(defaults.prompt, PROMPT);
  assert.deepEqual(
    [defaults.k, defaults.temperature, defaults.topP, defaults.maxTokens],
    [4, 0.7, 0.9, 4096],
  );
});

test("against reasonrl serve: planted problems pass, the others fail; window, labels; a rerun asks nothing", async () => {
  const out = join(root, "served");
  const params = DifficultyParams.parse({
    target: { endpoint: proxy.url },
    ...SAMPLING,
    concurrency: 3,
    maxPassRate: 0.5,
    label: { easy: 1, hard: 0 },
  });
  const before = proxy.chats;
  const first = await difficultyStep.run(rows(), params, context(out));
  // 8 distinct problems with a gold: one request each (n = 3); the repeat of p0 shares p0's.
  assert.equal(proxy.chats - before, 8);
  assert.deepEqual(ids(first.kept), ["u0", "u1", "u2", "u3"]);
  assert.deepEqual(reasons(first.dropped), {
    p0: "too-easy",
    p1: "too-easy",
    p2: "too-easy",
    p3: "too-easy",
    "p0-again": "too-easy",
    none: "no-answer",
  });
  assert.equal(first.dropped.find((d) => d.row.id === "p1")?.detail, "pass rate 3/3");
  assert.deepEqual(
    first.kept.map((r) => [r.labels.pass_rate, r.labels.difficulty]),
    Array(4).fill([0, "hard"]),
  );
  assert.equal(first.details?.sampled, 8);
  assert.equal(first.details?.cached, 0);
  assert.deepEqual(first.details?.byCorrect, [4, 0, 0, 4]);
  assert.deepEqual(first.details?.labels, { easy: 5, hard: 4 });
  assert.equal((await cacheLines(join(out, "cache"))).length, 8);

  // Another window: everything comes from the cache, nothing is asked.
  const again = await difficultyStep.run(
    rows(),
    DifficultyParams.parse({
      target: { endpoint: proxy.url },
      ...SAMPLING,
      concurrency: 3,
      minPassRate: 0.5,
    }),
    context(out),
  );
  assert.equal(proxy.chats - before, 8);
  assert.deepEqual(ids(again.kept), ["p0", "p1", "p2", "p3", "p0-again"]);
  assert.equal(again.dropped.filter((d) => d.reason === "too-hard").length, 4);
  assert.equal(again.details?.cached, 8);
  assert.equal(again.details?.sampled, 0);

  // Other sampling settings are another cache: asked again, into a second file.
  await difficultyStep.run(
    rows().slice(0, 2),
    DifficultyParams.parse({ target: { endpoint: proxy.url }, ...SAMPLING, k: 2 }),
    context(out),
  );
  assert.equal(proxy.chats - before, 10);
  assert.equal((await readdir(join(out, "cache"))).filter((f) => f.endsWith(".jsonl")).length, 2);
});

test("{ model: DIR } samples in this process and gives the same pass rates", async () => {
  const out = join(root, "local");
  const result = await difficultyStep.run(
    rows(),
    DifficultyParams.parse({
      target: { model: modelDir, threads: 1 },
      ...SAMPLING,
      label: { easy: 0.5 },
      passRateLabel: "solved",
    }),
    context(out),
  );
  assert.equal(result.kept.length, 9);
  assert.deepEqual(reasons(result.dropped), { none: "no-answer" });
  assert.deepEqual(
    result.kept.map((r) => [r.id, r.labels.solved, r.labels.difficulty]),
    [
      ["p0", 1, "easy"],
      ["p1", 1, "easy"],
      ["p2", 1, "easy"],
      ["p3", 1, "easy"],
      ["p0-again", 1, "easy"],
      ...unplanted.map((_, i) => [`u${i}`, 0, "medium"]),
    ],
  );
  assert.deepEqual(result.details?.byCorrect, [4, 0, 0, 4]);
});

test("reasonrl data curate killed with SIGKILL mid-difficulty resumes with only the missing problems", async () => {
  const dir = join(root, "resume");
  const problems = Array.from(
    { length: 16 },
    (_, i) => `How many ways are there to pick ${i + 2} of ${i + 9} balls?`,
  );
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, "problems.jsonl"),
    problems.map((p, i) => JSON.stringify({ id: `q${i}`, problem: p, answer: NEVER })).join("\n"),
  );
  await writeFile(
    join(dir, "recipe.yaml"),
    [
      "name: resume",
      "sources:",
      `  - { name: q, path: ${JSON.stringify(join(dir, "problems.jsonl"))} }`,
      "steps:",
      "  - step: difficulty",
      `    target: { endpoint: ${JSON.stringify(proxy.url)} }`,
      "    k: 2",
      "    temperature: 0",
      "    maxTokens: 40",
      "    concurrency: 1",
      "  - step: write",
    ].join("\n"),
  );
  const cacheDir = join(dir, "cache");
  const curate = () =>
    spawn(
      process.execPath,
      [
        bin,
        "data",
        "curate",
        join(dir, "recipe.yaml"),
        "--out",
        join(dir, "out"),
        "--cache-dir",
        cacheDir,
        "--json",
      ],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );

  // First run: answers held back 150 ms each; killed once 5 problems have been asked.
  proxy.delayMs = 150;
  const start = proxy.chats;
  const first = curate();
  const killed = new Promise<NodeJS.Signals | null>((resolve) =>
    first.on("exit", (_, signal) => resolve(signal)),
  );
  const deadline = Date.now() + 30_000;
  while (proxy.chats - start < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  first.kill("SIGKILL");
  assert.equal(await killed, "SIGKILL");
  proxy.delayMs = 0;
  const stepCache = join(cacheDir, "difficulty");
  const done = (await cacheLines(stepCache)).filter((l) => {
    try {
      return typeof JSON.parse(l).key === "string";
    } catch {
      return false;
    }
  }).length;
  assert.ok(done >= 3 && done < 16, `${done} problems cached before the kill`);
  assert.equal(existsSync(join(dir, "out", "train.jsonl")), false);

  // Second run: only the problems without a cached result are asked.
  const asked = proxy.chats;
  const second = curate();
  let stdout = "";
  second.stdout?.on("data", (d) => {
    stdout += d;
  });
  let stderr = "";
  second.stderr?.on("data", (d) => {
    stderr += d;
  });
  const code = await new Promise<number | null>((resolve) => second.on("exit", (c) => resolve(c)));
  assert.equal(code, 0, stderr);
  assert.equal(proxy.chats - asked, 16 - done);
  assert.equal(JSON.parse(stdout.trim().split("\n").at(-1) as string).final, 16);
  const report = JSON.parse(await readFile(join(dir, "out", "report.json"), "utf8"));
  const details = report.steps.find((s: { type: string }) => s.type === "difficulty").details;
  assert.deepEqual([details.cached, details.sampled], [done, 16 - done]);
  const lines = (await cacheLines(stepCache)).map((l) => JSON.parse(l));
  assert.equal(lines.length, 16);
  assert.equal(new Set(lines.map((l) => l.key)).size, 16);
  assert.equal((await readFile(join(dir, "out", "train.jsonl"), "utf8")).trim().split("\n").length, 16);
});
