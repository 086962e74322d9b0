/**
 * Sources: JSONL / JSON / Parquet files with a field mapping, bad rows reported
 * with their line and never fatal, provenance on every row, and hub datasets
 * downloaded from a loopback fixture into a cache and read from there afterwards.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { hubDatasetFiles, splitFiles } from "../../src/data/hub.ts";
import { encodeParquet } from "../../src/data/parquet-write.ts";
import { loadSource } from "../../src/data/sources.ts";
import { startHubFixture } from "./hub-fixture.ts";

const root = await mkdtemp(join(tmpdir(), "reasonrl-sources-"));
after(() => rm(root, { recursive: true, force: true }));

const jsonl = [
  JSON.stringify({ id: "a", problem: "What is 1+1?", answer: "2", meta: { level: 1 } }),
  "",
  "{broken json",
  JSON.stringify({ problem: "What is 2+2?", answer: 4, solution: "It is \\boxed{4}." }),
  JSON.stringify(["not", "an", "object"]),
  JSON.stringify({ id: "no-problem", answer: "1" }),
  JSON.stringify({ id: "empty", problem: "What is 3+3?", answer: "  " }),
  JSON.stringify({ id: "from-solution", problem: "What is 5+5?", answer: "", solution: "So \\boxed{10}." }),
].join("\n");

test("a JSONL source keeps good rows with provenance and reports each bad row with its line", async () => {
  const path = join(root, "train.jsonl");
  await writeFile(path, jsonl);
  const loaded = await loadSource({ name: "t", path, labels: { level: "meta.level" } });
  assert.deepEqual(
    loaded.rows.map((r) => [
      r.id,
      r.answer,
      r.solution ?? null,
      r.provenance.line,
      r.provenance.index,
      r.labels.level,
    ]),
    [
      ["a", "2", null, 1, 0, 1],
      ["t-2", "4", "It is \\boxed{4}.", 4, 2, null],
      ["from-solution", "", "So \\boxed{10}.", 8, 6, null],
    ],
  );
  assert.deepEqual(
    loaded.bad.map((b) => [b.line, b.reason.replace(/ \(.*$/, "")]),
    [
      [3, "not valid JSON"],
      [5, "not a JSON object"],
      [6, 'field "problem" is missing or empty'],
      [7, 'field "answer" is missing or empty, and there is no solution'],
    ],
  );
  assert.equal(loaded.rows[0].provenance.source, "t");
  assert.equal(loaded.rows[0].provenance.file, path);
});

test("field mapping reads other names and dotted paths; limit stops early", async () => {
  const path = join(root, "mapped.jsonl");
  await writeFile(
    path,
    [
      JSON.stringify({ question: "Q1?", gold: { value: "7" }, uid: 11 }),
      JSON.stringify({ question: "Q2?", gold: { value: "8" }, uid: 12 }),
    ].join("\n"),
  );
  const loaded = await loadSource({
    name: "m",
    path,
    fields: { problem: "question", answer: "gold.value", id: "uid" },
    limit: 1,
  });
  assert.deepEqual(
    loaded.rows.map((r) => [r.id, r.problem, r.answer]),
    [["11", "Q1?", "7"]],
  );
});

test("a JSON array file and a Parquet file read like JSONL, rows numbered by index", async () => {
  const json = join(root, "rows.json");
  await writeFile(json, JSON.stringify([{ problem: "P0", answer: "0" }, 3, { problem: "P2", answer: "2" }]));
  const fromJson = await loadSource({ name: "j", path: json });
  assert.deepEqual(
    fromJson.rows.map((r) => [r.id, r.provenance.index, r.provenance.line]),
    [
      ["j-0", 0, undefined],
      ["j-2", 2, undefined],
    ],
  );
  assert.deepEqual(
    fromJson.bad.map((b) => [b.index, b.reason]),
    [[1, "not a JSON object"]],
  );

  const parquet = join(root, "rows.parquet");
  await writeFile(
    parquet,
    encodeParquet([
      { problem: "What is 6·7?", answer: "42", level: 3 },
      { problem: null, answer: "1", level: 4 },
      { problem: "Compute 2^10.", answer: null, level: 5 },
    ]),
  );
  const fromParquet = await loadSource({ name: "pq", path: parquet, labels: { level: "level" } });
  assert.deepEqual(
    fromParquet.rows.map((r) => [r.id, r.problem, r.answer, r.labels.level]),
    [["pq-0", "What is 6·7?", "42", 3]],
  );
  assert.deepEqual(
    fromParquet.bad.map((b) => [b.index, b.reason]),
    [
      [1, 'field "problem" is missing or empty'],
      [2, 'field "answer" is missing or empty, and there is no solution'],
    ],
  );
});

test("the split's files are found by name, Parquet first; without split names everything is train", () => {
  const paths = [
    "README.md",
    "data/train-00000-of-00002.parquet",
    "data/train-00001-of-00002.parquet",
    "data/test-00000-of-00001.parquet",
    "train.jsonl",
  ];
  assert.deepEqual(splitFiles(paths, "train"), [
    "data/train-00000-of-00002.parquet",
    "data/train-00001-of-00002.parquet",
  ]);
  assert.deepEqual(splitFiles(paths, "test"), ["data/test-00000-of-00001.parquet"]);
  assert.deepEqual(splitFiles(["all.jsonl", "more.jsonl"], "train"), ["all.jsonl", "more.jsonl"]);
  assert.deepEqual(splitFiles(["all.jsonl"], "test"), []);
  // The split's name between separators anywhere in the path, never inside a word.
  assert.deepEqual(splitFiles(["test.jsonl", "train.jsonl", "latest.json"], "test"), ["test.jsonl"]);
  assert.deepEqual(splitFiles(["data/test/x.parquet", "contest.parquet"], "test"), ["data/test/x.parquet"]);
  assert.deepEqual(splitFiles(["aime_2024_train.parquet", "pretrain.parquet"], "train"), [
    "aime_2024_train.parquet",
  ]);
  assert.deepEqual(splitFiles(["README.md"], "train"), []);
});

let hub: Awaited<ReturnType<typeof startHubFixture>>;
before(async () => {
  const parquet = encodeParquet([
    { problem: "Hub problem one?", answer: "1" },
    { problem: "Hub problem two?", answer: "2" },
  ]);
  hub = await startHubFixture({
    "fixture/tiny-math": {
      "README.md": "# tiny",
      "data/train-00000-of-00001.parquet": parquet,
      "data/test-00000-of-00001.parquet": parquet,
    },
    "fixture/jsonl-only": { "problems.jsonl": `${JSON.stringify({ problem: "J?", answer: "3" })}\n{oops\n` },
  });
});
after(() => hub?.close());

test("a hub dataset is downloaded into the cache once, then read offline", async () => {
  const cacheDir = join(root, "hub-cache");
  const source = { name: "tiny", hub: "fixture/tiny-math", split: "train" };
  const loaded = await loadSource(source, { cacheDir, hubUrl: hub.url });
  assert.deepEqual(
    loaded.rows.map((r) => [r.problem, r.answer, r.provenance.file, r.provenance.index]),
    [
      ["Hub problem one?", "1", "hf://datasets/fixture/tiny-math@main/data/train-00000-of-00001.parquet", 0],
      ["Hub problem two?", "2", "hf://datasets/fixture/tiny-math@main/data/train-00000-of-00001.parquet", 1],
    ],
  );
  assert.ok(
    existsSync(join(cacheDir, "fixture", "tiny-math", "main", "data", "train-00000-of-00001.parquet")),
  );
  assert.ok(
    !existsSync(join(cacheDir, "fixture", "tiny-math", "main", "data", "test-00000-of-00001.parquet")),
  );
  assert.ok(hub.requests.some((r) => r.startsWith("GET /api/datasets/fixture/tiny-math/tree/main")));

  const before = hub.requests.length;
  const again = await loadSource(source, { cacheDir, hubUrl: "http://127.0.0.1:9" }); // nothing listens there
  assert.equal(again.rows.length, 2);
  assert.equal(hub.requests.length, before, "the second load made no request");
});

test("hub JSONL files report bad rows by line; an unreachable hub names the cache to fill", async () => {
  const cacheDir = join(root, "hub-cache-2");
  const loaded = await loadSource({ name: "j", hub: "fixture/jsonl-only" }, { cacheDir, hubUrl: hub.url });
  assert.equal(loaded.rows.length, 1);
  assert.deepEqual(
    loaded.bad.map((b) => [b.file, b.line]),
    [["hf://datasets/fixture/jsonl-only@main/problems.jsonl", 2]],
  );
  await assert.rejects(
    hubDatasetFiles({ repo: "fixture/other", split: "train" }, { cacheDir, hubUrl: "http://127.0.0.1:9" }),
    (e: Error) => {
      assert.match(
        e.message,
        /cannot download the dataset fixture\/other \(split train\) from http:\/\/127\.0\.0\.1:9: .*if offline, put the files in .*hub-cache-2/,
      );
      return true;
    },
  );
  await assert.rejects(
    hubDatasetFiles({ repo: "fixture/missing", split: "train" }, { cacheDir, hubUrl: hub.url }),
    /fixture\/missing/,
  );
});

test("files named in the source are fetched without a listing and leave the split's manifest alone", async () => {
  const options = { cacheDir: join(root, "hub-cache-3"), hubUrl: hub.url };
  const hubNames = (files: { hubName: string }[]) => files.map((f) => f.hubName.replace(/^.*@main\//, ""));
  const before = hub.requests.length;
  const named = await hubDatasetFiles(
    { repo: "fixture/tiny-math", split: "train", files: ["data/test-00000-of-00001.parquet"] },
    options,
  );
  assert.deepEqual(hubNames(named), ["data/test-00000-of-00001.parquet"]);
  assert.ok(!hub.requests.slice(before).some((r) => r.includes("/tree/")), "no listing");
  const split = await hubDatasetFiles({ repo: "fixture/tiny-math", split: "train" }, options);
  assert.deepEqual(hubNames(split), ["data/train-00000-of-00001.parquet"]);
});

test("offline, files put into the cache folder by hand serve as the dataset", async () => {
  const cacheDir = join(root, "hand-cache");
  const folder = join(cacheDir, "someone", "offline-set", "main", "data");
  await mkdir(folder, { recursive: true });
  await writeFile(join(folder, "train.jsonl"), `${JSON.stringify({ problem: "By hand?", answer: "1" })}\n`);
  await writeFile(join(folder, "test.jsonl"), `${JSON.stringify({ problem: "Test?", answer: "2" })}\n`);
  const logs: string[] = [];
  const loaded = await loadSource(
    { name: "h", hub: "someone/offline-set" },
    { cacheDir, hubUrl: "http://127.0.0.1:9", log: (m) => logs.push(m) },
  );
  assert.deepEqual(
    loaded.rows.map((r) => [r.problem, r.provenance.file]),
    [["By hand?", "hf://datasets/someone/offline-set@main/data/train.jsonl"]],
  );
  assert.match(logs.join("\n"), /hub unreachable .* using the files in/);
});
