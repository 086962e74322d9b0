/**
 * The curation pipeline: recipes checked with each step's schema, --set
 * overrides, a whole run on fixture files with the funnel counted exactly and
 * the report written, `where`, a step added from outside (the shape the
 * difficulty and judge steps have), and a step that loses rows caught.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { z } from "zod";
import { runCuration } from "../../src/data/curate/pipeline.ts";
import { applyCurationOverrides, parseCurationRecipe } from "../../src/data/curate/recipe.ts";
import { defaultRegistry } from "../../src/data/curate/registry.ts";
import { formatFunnel } from "../../src/data/curate/report.ts";
import { defineStep } from "../../src/data/curate/step.ts";

const root = await mkdtemp(join(tmpdir(), "reasonrl-curate-"));
after(() => rm(root, { recursive: true, force: true }));

const line = (o: unknown) => JSON.stringify(o);

/** Two sources and a benchmark folder with planted cases. */
async function fixtures() {
  const dir = join(root, "fixtures");
  await mkdir(join(dir, "benchmarks"), { recursive: true });
  await writeFile(
    join(dir, "benchmarks", "bench.jsonl"),
    line({
      id: "bench-1",
      problem: "Find the sum of all positive divisors of 360 that are perfect squares.",
      answer: "210",
    }),
  );
  await writeFile(
    join(dir, "a.jsonl"),
    [
      line({ id: "a1", problem: "What is the product of 12 and 13?", answer: "156", meta: { level: 1 } }),
      line({
        id: "a2",
        problem: "Compute the remainder when 2^20 is divided by 7.",
        answer: "4",
        meta: { level: 3 },
      }),
      "{not json",
      line({
        id: "a3",
        problem: "Prove that there are infinitely many primes.",
        answer: "\\text{proof}",
        meta: { level: 5 },
      }),
      line({ id: "a4", problem: "What is the product of 12 and 13?", answer: "156", meta: { level: 1 } }),
      line({
        id: "a5",
        problem: "Find the sum of all positive divisors of 360 that are perfect squares.",
        answer: "210",
        meta: { level: 4 },
      }),
      line({ id: "a6", problem: "How many primes are less than 30?", answer: "10", meta: { level: 2 } }),
      line({ id: "a7", problem: "Which is prime? (A) 4 (B) 7 (C) 9", answer: "B", meta: { level: 1 } }),
      line({ id: "a8", problem: "What is 3^4?", answer: "", meta: { level: 1 } }),
    ].join("\n"),
  );
  await writeFile(
    join(dir, "b.jsonl"),
    [
      line({ id: "b1", problem: "Compute the remainder when 2^20 is divided by 7.", answer: "4" }),
      line({
        id: "b2",
        problem: "What is the least common multiple of 18 and 24?",
        solution: "It is $\\boxed{72}$.",
      }),
      line({ id: "b3", problem: "Evaluate the sum 1 + 2 + ... + 100.", answer: "5050" }),
    ].join("\n"),
  );
  return dir;
}

function recipe(dir: string) {
  return {
    name: "fixture",
    seed: 1,
    sources: [
      { name: "a", path: join(dir, "a.jsonl"), labels: { level: "meta.level" } },
      { name: "b", path: join(dir, "b.jsonl") },
    ],
    steps: [
      { step: "verifiable" },
      { step: "dedupe" },
      { step: "decontaminate", dir: join(dir, "benchmarks"), names: ["bench"] },
      { step: "length", problem: { min: 40 }, where: { source: "b" } },
      {
        step: "mix",
        pools: [
          { name: "a", where: { source: "a" }, count: 2 },
          { name: "b", where: { source: "b" } },
        ],
      },
      { step: "write", path: "train.jsonl" },
    ],
  };
}

test("a recipe runs end to end: exact funnel, report files and output written", async () => {
  const dir = await fixtures();
  const out = join(root, "run");
  const plan = parseCurationRecipe(recipe(dir), defaultRegistry());
  const logs: string[] = [];
  const { report, rows } = await runCuration(plan, {
    outDir: out,
    cacheDir: join(root, "cache"),
    log: (m) => logs.push(m),
  });

  const funnel = report.funnel.map((l) => [l.step, l.in, l.kept, l.dropped, l.reasons]);
  assert.deepEqual(funnel.slice(1), [
    ["verifiable", 10, 8, 2, { proof: 1, "multiple-choice": 1 }],
    ["dedupe", 8, 6, 2, { "exact-duplicate": 2 }],
    ["decontaminate", 6, 5, 1, { "benchmark-overlap": 1 }],
    ["length", 2, 1, 1, { "problem-too-short": 1 }],
    ["mix", 4, 3, 1, { "not-drawn": 1 }],
    ["write", 3, 3, 0, {}],
  ]);
  // load: 12 rows read; line 3 is broken JSON, a8 has neither an answer nor a solution
  assert.deepEqual(funnel[0].slice(0, 4), ["load", 12, 10, 2]);
  assert.deepEqual(
    report.bad.map((b) => [b.line, b.reason.replace(/ \(.*/, "")]),
    [
      [3, "not valid JSON"],
      [9, 'field "answer" is missing or empty, and there is no solution'],
    ],
  );
  assert.equal(report.final, 3);
  assert.ok(rows.every((r) => r.labels.pool === r.provenance.source));
  assert.deepEqual(
    report.sources.map((s) => [s.name, s.rows, s.bad]),
    [
      ["a", 7, 2],
      ["b", 3, 0],
    ],
  );

  const files = (await readdir(out)).sort();
  assert.deepEqual(files, ["dropped.jsonl", "report.json", "report.md", "train.jsonl"]);
  const written = (await readFile(join(out, "train.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(written.length, 3);
  assert.ok(written.some((w) => w.id === "b2" && w.answer === "72" && w.answer_from === "solution"));
  const json = JSON.parse(await readFile(join(out, "report.json"), "utf8"));
  assert.equal(json.final, 3);
  assert.equal(
    json.steps.find((s: { name: string }) => s.name === "decontaminate").details.hits[0].benchmarkId,
    "bench-1",
  );
  const md = await readFile(join(out, "report.md"), "utf8");
  assert.match(md, /\| dedupe \| all rows \| 8 \| 6 \| 2 \| exact-duplicate 2 \|/);
  assert.match(md, /\| a5 \| bench-1 \| same \| 1 \| 1 \| 210 \| 210 \|/);
  assert.match(md, /a\.jsonl:3: not valid JSON/);
  const dropped = (await readFile(join(out, "dropped.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(dropped.length, 2 + 2 + 1 + 1 + 1);
  assert.deepEqual(
    dropped.find((d) => d.id === "b1"),
    {
      step: "dedupe",
      reason: "exact-duplicate",
      detail: "same text as a2",
      id: "b1",
      source: "b",
      origin: `${join(dir, "b.jsonl")}:1`,
    },
  );
  const table = formatFunnel(report);
  assert.match(table, /^step\s+rows in\s+kept\s+dropped\s+why dropped$/m);
  assert.match(table, /^length \(source=b\)\s+2\s+1\s+1\s+problem-too-short 1$/m);
  assert.match(table, /3 rows out$/);
});

test("recipes are checked with each step's schema; errors name the step and field", () => {
  const registry = defaultRegistry();
  const base = { name: "r", sources: [{ name: "s", path: "x.jsonl" }] };
  assert.throws(
    () => parseCurationRecipe({ ...base, steps: [{ step: "dedupe", threshold: 2 }] }, registry, "r.yaml"),
    /r\.yaml: invalid recipe\n {2}steps\.0 \(dedupe\)\.threshold: /,
  );
  assert.throws(
    () => parseCurationRecipe({ ...base, steps: [{ step: "difficult" }] }, registry),
    /steps\.0: unknown step "difficult" \(known: verifiable, dedupe, decontaminate, length, language, difficulty, judge, mix, write\)/,
  );
  assert.throws(
    () => parseCurationRecipe({ ...base, steps: [{ step: "dedupe", treshold: 0.5 }] }, registry),
    /steps\.0 \(dedupe\): Unrecognized key: "treshold"/,
  );
  assert.throws(() => parseCurationRecipe({ ...base, steps: [] }, registry), /steps/);
  assert.throws(
    () =>
      parseCurationRecipe(
        {
          name: "r",
          sources: [
            { name: "s", path: "a" },
            { name: "s", path: "b" },
          ],
          steps: [{ step: "write" }],
        },
        registry,
      ),
    /the name "s" is used twice/,
  );
  const plan = parseCurationRecipe(
    { ...base, steps: [{ step: "dedupe" }, { step: "dedupe", exact: false }] },
    registry,
  );
  assert.deepEqual(
    plan.steps.map((s) => s.name),
    ["dedupe", "dedupe-2"],
  );
  assert.equal((plan.steps[0].params as { threshold: number }).threshold, 0.8);
});

test("--set reaches list items by index or by name", () => {
  const raw = {
    name: "r",
    sources: [{ name: "math", path: "a" }],
    steps: [{ step: "mix", seed: 1 }, { step: "write" }],
  };
  const out = applyCurationOverrides(raw, [
    "sources.math.path=b.jsonl",
    "steps.mix.seed=7",
    "steps.1.path=out.jsonl",
    "seed=3",
  ]);
  assert.deepEqual(out, {
    name: "r",
    seed: 3,
    sources: [{ name: "math", path: "b.jsonl" }],
    steps: [
      { step: "mix", seed: 7 },
      { step: "write", path: "out.jsonl" },
    ],
  });
  assert.equal((raw.sources[0] as { path: string }).path, "a", "the input is not changed");
  assert.throws(() => applyCurationOverrides(raw, ["sources.nope.path=x"]), /no item "nope"/);
  assert.throws(() => applyCurationOverrides(raw, ["name"]), /expected key\.path=value/);
});

test("a step registered from outside runs with its context, adds labels, and may cache", async () => {
  // The shape of the model-calling steps (difficulty, judge): async, parameters by zod, labels, a cache folder.
  const seen: string[] = [];
  const fakeDifficulty = defineStep({
    type: "fake-difficulty",
    summary: "labels rows easy/hard by the length of their answer (a stand-in for a model's pass rate)",
    params: z.object({ threshold: z.number().int() }).strict(),
    async run(rows, p, ctx) {
      seen.push(ctx.name, ctx.cacheDir, String(ctx.seed));
      await mkdir(ctx.cacheDir, { recursive: true });
      for (const r of rows) r.labels.difficulty = r.answer.length >= p.threshold ? "hard" : "easy";
      const hard = rows.filter((r) => r.labels.difficulty === "hard");
      return {
        kept: hard,
        dropped: rows.filter((r) => !hard.includes(r)).map((row) => ({ row, reason: "too-easy" })),
      };
    },
  });
  const registry = defaultRegistry().register(fakeDifficulty);
  assert.throws(() => registry.register(fakeDifficulty), /already registered/);
  const dir = await fixtures();
  const plan = parseCurationRecipe(
    {
      name: "ext",
      seed: 9,
      sources: [{ name: "b", path: join(dir, "b.jsonl") }],
      steps: [
        { step: "verifiable" },
        { step: "fake-difficulty", name: "difficulty", threshold: 2 },
        { step: "write" },
      ],
    },
    registry,
  );
  const out = join(root, "ext");
  const { report, rows } = await runCuration(plan, { outDir: out, cacheDir: join(root, "cache") });
  assert.deepEqual(seen, ["difficulty", join(root, "cache", "fake-difficulty"), "9"]);
  assert.ok(existsSync(join(root, "cache", "fake-difficulty")));
  assert.deepEqual(
    rows.map((r) => [r.id, r.labels.difficulty]),
    [
      ["b2", "hard"],
      ["b3", "hard"],
    ],
  );
  assert.deepEqual(report.funnel[2].reasons, { "too-easy": 1 });
  const written = JSON.parse((await readFile(join(out, "train.jsonl"), "utf8")).split("\n")[0]);
  assert.equal(written.difficulty, "hard");
});

test("a step that loses or repeats rows is an error; a stopped run stops between steps", async () => {
  const dir = await fixtures();
  const lossy = defineStep({
    type: "lossy",
    summary: "forgets a row",
    params: z.object({}).strict(),
    async run(rows) {
      return { kept: rows.slice(1), dropped: [] };
    },
  });
  const registry = defaultRegistry().register(lossy);
  const plan = parseCurationRecipe(
    { name: "x", sources: [{ name: "b", path: join(dir, "b.jsonl") }], steps: [{ step: "lossy" }] },
    registry,
  );
  await assert.rejects(
    runCuration(plan, { outDir: join(root, "lossy") }),
    /step lossy: 1 rows neither kept nor dropped/,
  );

  const controller = new AbortController();
  controller.abort();
  await assert.rejects(
    runCuration(plan, { outDir: join(root, "stopped"), signal: controller.signal }),
    /curation stopped/,
  );
});
