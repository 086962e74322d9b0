/**
 * Benchmark data: the shared copies of the five benchmarks, Parquet files, custom JSONL
 * benchmarks with bad rows, and the hub download path against a fake hub on loopback
 * (the cache itself, split files and offline use are tested in test/data/sources.test.ts).
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { encodeParquet } from "../../src/data/parquet-write.ts";
import {
  BUILTIN_BENCHMARKS,
  builtinBenchmark,
  customBenchmarkSpec,
  loadBenchmark,
} from "../../src/eval/benchmarks.ts";
import { startHubFixture } from "../data/hub-fixture.ts";

const shared = join(import.meta.dirname, "../../../shared/data/benchmarks");
const noShared = existsSync(join(shared, "aime24.jsonl"))
  ? false
  : "../shared/data/benchmarks is absent (a fresh clone)";
const root = await mkdtemp(join(tmpdir(), "reasonrl-eval-data-"));
after(() => rm(root, { recursive: true, force: true }));

test("the five benchmarks load from ../shared/data with their row counts", { skip: noShared }, async () => {
  const counts: Record<string, number> = {};
  for (const spec of BUILTIN_BENCHMARKS) {
    const warnings: string[] = [];
    const b = await loadBenchmark(spec, { dataDir: shared, warn: (m) => warnings.push(m) });
    counts[b.name] = b.problems.length;
    assert.deepEqual(warnings, [], `${b.name}: ${warnings.join("; ")}`);
    assert.equal(new Set(b.problems.map((p) => p.id)).size, b.problems.length, `${b.name}: ids unique`);
    for (const p of b.problems) {
      assert.ok(p.problem.length > 10 && p.answer.length > 0, `${p.origin}`);
      assert.doesNotMatch(p.answer, /^\$|\\boxed/, `${p.origin}: gold is bare`);
    }
  }
  assert.deepEqual(counts, { aime24: 30, math500: 500, amc23: 40, minerva: 272, olympiadbench: 675 });
  const aime = await loadBenchmark(builtinBenchmark("aime24"), { dataDir: shared });
  assert.equal(aime.problems[0].id, "aime24-2024-I-1");
  assert.match(aime.problems[0].origin, /aime24\.jsonl:1$/);
});

test("hub-style rows: problem/question, answer/final_answer lists, numbers, boxed solutions", async () => {
  const dir = join(root, "hub-style");
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  // OlympiadBench as knoveleng/OlympiadBench could lay it out: question + final_answer list.
  await writeFile(
    join(dir, "olympiadbench.jsonl"),
    [
      { id: 7, question: "Find x.", final_answer: ["$3$"] },
      { id: 8, question: "Find a, b.", final_answer: ["$1$", "$2$"] },
    ]
      .map((r) => JSON.stringify(r))
      .join("\n"),
  );
  const warnings: string[] = [];
  const ob = await loadBenchmark(builtinBenchmark("olympiadbench"), {
    dataDir: dir,
    warn: (m) => warnings.push(m),
  });
  assert.deepEqual(
    ob.problems.map((p) => [p.id, p.problem, p.answer]),
    [
      ["7", "Find x.", "3"],
      ["8", "Find a, b.", "1, 2"],
    ],
  );
  assert.match(warnings.join(), /olympiadbench: 2 problems, the benchmark has 675/);
  // Minerva without an answer field: the last \boxed{} of the solution; AMC's float answers, as Parquet.
  await writeFile(
    join(dir, "minerva.jsonl"),
    JSON.stringify({
      problem: "Speed?",
      solution: `A first guess is $\\boxed{3}$. ${"Checking the units again. ".repeat(4)}So $v=\\boxed{4.5e3}$.`,
    }),
  );
  const minerva = await loadBenchmark(builtinBenchmark("minerva"), { dataDir: dir, warn: () => {} });
  assert.equal(minerva.problems[0].answer, "4.5e3");
  assert.equal(minerva.problems[0].id, "minerva-1");
  await writeFile(
    join(dir, "amc23.parquet"),
    encodeParquet([
      { problem: "How many?", answer: 27 },
      { problem: "How much?", answer: -1.5 },
    ]),
  );
  const amc = await loadBenchmark(builtinBenchmark("amc23"), { dataDir: dir, warn: () => {} });
  assert.deepEqual(
    amc.problems.map((p) => [p.answer, p.origin.replace(dir, "")]),
    [
      ["27", "/amc23.parquet#1"],
      ["-1.5", "/amc23.parquet#2"],
    ],
  );
  await assert.rejects(
    loadBenchmark(builtinBenchmark("aime24"), { dataDir: dir }),
    /no aime24\.jsonl or aime24\.parquet/,
  );
});

test("a custom JSONL benchmark with bad rows: stopped with file:line, or skipped with --skip-bad-rows", async () => {
  const path = join(root, "mine.jsonl");
  await writeFile(
    path,
    [
      JSON.stringify({ problem: "1+1?", answer: "2" }),
      "{not json",
      JSON.stringify({ problem: "2+2?" }),
      "",
      JSON.stringify({ problem: "", answer: "3" }),
      JSON.stringify({ id: "last", problem: "3+3?", answer: 6 }),
    ].join("\n"),
  );
  const spec = customBenchmarkSpec(path);
  assert.equal(spec.name, "mine");
  await assert.rejects(loadBenchmark(spec, { path }), (err: Error) => {
    assert.match(err.message, /mine: 3 unusable row\(s\)/);
    assert.match(err.message, /mine\.jsonl:2: not valid JSON/);
    assert.match(err.message, /mine\.jsonl:3: no gold answer/);
    assert.match(err.message, /mine\.jsonl:5: no problem/);
    return true;
  });
  const warnings: string[] = [];
  const b = await loadBenchmark(spec, { path, onBadRow: "skip", warn: (m) => warnings.push(m) });
  assert.deepEqual(
    b.problems.map((p) => [p.id, p.answer]),
    [
      ["mine-1", "2"],
      ["last", "6"],
    ],
  );
  assert.equal(b.skipped, 3);
  assert.equal(warnings.length, 3);
  assert.match(warnings[0], /^skipped .*mine\.jsonl:2/);
});

test("hub download: listed, fetched, cached, and read without the network the second time", async () => {
  const aimeRows = [
    { id: "60", problem: "Find $n$.", answer: "204" },
    { id: "61", problem: "Find $m$.", answer: "25" },
  ];
  const hub = await startHubFixture({
    "HuggingFaceH4/aime_2024": {
      "README.md": "# AIME 2024",
      "data/train-00000-of-00001.parquet": encodeParquet(aimeRows),
    },
    "knoveleng/Minerva-Math": {
      "train.jsonl": `${JSON.stringify({ problem: "Mass?", solution: "m = \\boxed{2}" })}\n`,
    },
  });
  const cacheDir = join(root, "hub-cache");
  try {
    const aime = await loadBenchmark(builtinBenchmark("aime24"), {
      cacheDir,
      hubUrl: hub.url,
      warn: () => {},
    });
    assert.deepEqual(
      aime.problems.map((p) => [p.id, p.answer]),
      [
        ["60", "204"],
        ["61", "25"],
      ],
    );
    assert.ok(aime.source.startsWith(join(cacheDir, "HuggingFaceH4", "aime_2024", "main", "data")));
    assert.ok(hub.requests.some((r) => r.startsWith("GET /api/datasets/HuggingFaceH4/aime_2024/tree/main")));
    assert.ok(!hub.requests.some((r) => r.endsWith("README.md")), "only the split's files are downloaded");
    const minerva = await loadBenchmark(builtinBenchmark("minerva"), {
      cacheDir,
      hubUrl: hub.url,
      warn: () => {},
    });
    assert.equal(minerva.problems[0].answer, "2");

    const before = hub.requests.length;
    const again = await loadBenchmark(builtinBenchmark("aime24"), {
      cacheDir,
      hubUrl: hub.url,
      warn: () => {},
    });
    assert.equal(again.problems.length, 2);
    assert.equal(hub.requests.length, before, "the cache answers without a request");
    const cached = await readdir(join(cacheDir, "HuggingFaceH4", "aime_2024", "main"), { recursive: true });
    assert.ok(!cached.some((f) => f.endsWith(".tmp")), "no temporary files left");

    // A dataset the hub does not have, and a hub that is not there: errors that say what to do.
    await assert.rejects(
      loadBenchmark(builtinBenchmark("amc23"), { cacheDir, hubUrl: hub.url }),
      /cannot download the dataset knoveleng\/AMC-23 .*in a data folder \(dataDir\)/s,
    );
  } finally {
    await hub.close();
  }
  await assert.rejects(
    loadBenchmark(builtinBenchmark("math500"), { cacheDir, hubUrl: hub.url }),
    /cannot download the dataset HuggingFaceH4\/MATH-500 \(split test\) from http:\/\/127\.0\.0\.1:\d+.*in a data folder \(dataDir\)/s,
  );
  // Offline, a file put by hand into the cache (the layout `reasonrl data download` fills) is used.
  const byHand = join(cacheDir, "HuggingFaceH4", "MATH-500", "main");
  await mkdir(byHand, { recursive: true });
  await writeFile(join(byHand, "test.jsonl"), `${JSON.stringify({ problem: "1+1?", answer: "2" })}\n`);
  const offline = await loadBenchmark(builtinBenchmark("math500"), {
    cacheDir,
    hubUrl: hub.url,
    warn: () => {},
  });
  assert.deepEqual(
    offline.problems.map((p) => [p.problem, p.answer]),
    [["1+1?", "2"]],
  );
});
