/**
 * Parquet output of the `write` step, round-tripped through the reader that
 * sources use (src/data/files.ts): the same records as the JSONL output
 * (nulls where a row lacks a field), typed columns, labels flattened or as one
 * JSON column, an empty output, the format chosen by extension; and reading a
 * gzip-compressed file, which needs hyparquet-compressors.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { gzipSync } from "node:zlib";
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from "hyparquet";
import { parquetWriteBuffer } from "hyparquet-writer";
import { writeStep } from "../../src/data/curate/steps/write.ts";
import { readRecords } from "../../src/data/files.ts";
import { context, row } from "./helpers.ts";

const root = await mkdtemp(join(tmpdir(), "reasonrl-parquet-"));
after(() => rm(root, { recursive: true, force: true }));

/** Rows with labels of every kind: strings, integers, doubles, booleans, mixed types, missing. */
const rows = () => [
  row("a", "What is 2+3?", "5", {
    solution: "2+3=5",
    labels: { answer_kind: "integer", level: 4, pass_rate: 0.25, keep: true, mixed: "Level 4" },
  }),
  row("b", "What is \\frac{1}{2} + 1?", "\\frac{3}{2}", {
    index: 1,
    labels: { answer_kind: "fraction", level: 2, pass_rate: 1, keep: false, mixed: 3 },
  }),
  row("c", "Ünïcödé: find $x$ with $x^2=4$, $x>0$.", "2", { index: 2, solution: "$x=2$", labels: {} }),
];

/** Every record of a data file, as the sources read them. */
async function read(path: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for await (const r of readRecords(path, (e) => assert.fail(`bad record ${e.reason}`))) out.push(r.value);
  return out;
}

test("format parquet writes the JSONL records, typed, and the reader gives them back", async () => {
  const out = join(root, "flat");
  await writeStep.run(rows(), writeStep.params.parse({ path: "train.jsonl" }), context(out));
  const result = await writeStep.run(rows(), writeStep.params.parse({ format: "parquet" }), context(out));
  assert.deepEqual(result.outputs, [join(out, "train.parquet")]);
  const jsonl = (await readFile(join(out, "train.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  const parquet = await read(join(out, "train.parquet"));
  const columns = ["id", "problem", "answer", "solution", "source", "origin"];
  const labels = ["answer_kind", "level", "pass_rate", "keep", "mixed"];
  assert.deepEqual(Object.keys(parquet[0]), [...columns, ...labels]);
  // Same values as the JSONL lines; null where a line has no such field.
  assert.deepEqual(
    parquet,
    jsonl.map((line) => Object.fromEntries([...columns, ...labels].map((k) => [k, line[k] ?? null]))),
  );
  assert.equal(parquet[1].solution, null);
  assert.equal(parquet[2].problem, "Ünïcödé: find $x$ with $x^2=4$, $x>0$.");

  // The column types other readers see.
  const file = await asyncBufferFromFile(join(out, "train.parquet"));
  const schema = parquetSchema(await parquetMetadataAsync(file)).children.map((c) => [
    c.element.name,
    c.element.type,
    c.element.converted_type ?? null,
  ]);
  assert.deepEqual(schema.slice(5), [
    ["origin", "BYTE_ARRAY", "UTF8"],
    ["answer_kind", "BYTE_ARRAY", "UTF8"],
    ["level", "INT64", null],
    ["pass_rate", "DOUBLE", null],
    ["keep", "BOOLEAN", null],
    ["mixed", "BYTE_ARRAY", "JSON"],
  ]);
  assert.deepEqual(await readdir(out), ["train.jsonl", "train.parquet"], "no temporary file left");
});

test("labelsField makes one JSON column; no solution column with solution: false; .parquet picks the format", async () => {
  const out = join(root, "nested");
  await writeStep.run(
    rows(),
    writeStep.params.parse({ path: "sub/out.parquet", labelsField: "labels", solution: false }),
    context(out),
  );
  const records = await read(join(out, "sub", "out.parquet"));
  assert.deepEqual(Object.keys(records[0]), ["id", "problem", "answer", "source", "origin", "labels"]);
  assert.deepEqual(records[0].labels, {
    answer_kind: "integer",
    level: 4,
    pass_rate: 0.25,
    keep: true,
    mixed: "Level 4",
  });
  assert.deepEqual(records[2].labels, {});
});

test("no rows: a valid Parquet file with the base columns and no rows", async () => {
  const out = join(root, "empty");
  await writeStep.run([], writeStep.params.parse({ format: "parquet", path: "none.parquet" }), context(out));
  const file = await asyncBufferFromFile(join(out, "none.parquet"));
  const metadata = await parquetMetadataAsync(file);
  assert.equal(Number(metadata.num_rows), 0);
  assert.deepEqual(
    parquetSchema(metadata).children.map((c) => c.element.name),
    ["id", "problem", "answer", "solution", "source", "origin"],
  );
  assert.deepEqual(await read(join(out, "none.parquet")), []);
});

test("gzip-compressed Parquet is read (hyparquet-compressors)", async () => {
  const path = join(root, "gzip.parquet");
  const bytes = parquetWriteBuffer({
    columnData: [
      { name: "problem", data: ["What is 1+1?", "What is 2+2?"], type: "STRING" },
      { name: "answer", data: ["2", "4"], type: "STRING" },
    ],
    codec: "GZIP",
    compressors: { GZIP: (input: Uint8Array) => new Uint8Array(gzipSync(input)) },
  });
  await writeFile(path, new Uint8Array(bytes));
  // hyparquet alone cannot read it...
  await assert.rejects(parquetReadObjects({ file: await asyncBufferFromFile(path) }), /GZIP|compress/i);
  // ...the sources' reader can.
  assert.deepEqual(await read(path), [
    { problem: "What is 1+1?", answer: "2" },
    { problem: "What is 2+2?", answer: "4" },
  ]);
});
