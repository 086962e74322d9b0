/**
 * `reasonrl eval` writes a run store in its output folder: kind "eval", every
 * sample as eval_samples (step 0, one row per problem x sample, the benchmark's
 * name), results.json in meta; a rerun's samples replace the earlier ones.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { SampleRecord } from "../../src/eval/samples.ts";
import { RunStoreReader, storeContents } from "../../src/track/store-read.ts";
import { createTinyQwen } from "../model/tiny-qwen.ts";

const bin = fileURLToPath(new URL("../../bin/reasonrl.js", import.meta.url));
const root = await mkdtemp(join(tmpdir(), "reasonrl-store-eval-"));
after(() => rm(root, { recursive: true, force: true }));

const model = join(root, "tiny");
await createTinyQwen(model);
const bench = join(root, "sums.jsonl");
await writeFile(
  bench,
  Array.from({ length: 5 }, (_, i) =>
    JSON.stringify({ id: `s${i}`, problem: `What is ${i} + ${i}?`, answer: `${2 * i}` }),
  ).join("\n"),
);
const out = join(root, "out");

function evalRun(n: number): void {
  const args = ["eval", "--model", model, "--benchmark", bench, "--n", String(n), "--temperature", "0.6"];
  const r = spawnSync(
    process.execPath,
    [bin, ...args, "--max-tokens", "16", "--name", "tiny", "--out", out, "--json"],
    { encoding: "utf8" },
  );
  assert.equal(r.status, 0, r.stderr);
}

function storeOf(dir: string) {
  const store = RunStoreReader.open(join(dir, "run.sqlite"));
  try {
    return { meta: store.meta(), samples: store.evalSamples() };
  } finally {
    store.close();
  }
}

test("eval writes its samples and results to run.sqlite in its output folder", () => {
  evalRun(3);
  const { meta, samples } = storeOf(out);
  assert.equal(meta.kind, "eval");
  assert.equal(meta.name, "tiny");
  assert.deepEqual(JSON.parse(meta.results), JSON.parse(readFileSync(join(out, "results.json"), "utf8")));
  const lines = readFileSync(join(out, "samples.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as SampleRecord);
  assert.equal(samples.length, 5 * 3);
  assert.deepEqual(
    samples.map((s) => [
      s.step,
      s.benchmark,
      s.problem_id,
      s.sample,
      s.completion,
      s.answer,
      s.gold,
      Boolean(s.correct),
      s.tokens,
      s.finish_reason,
    ]),
    lines.map((l) => [
      0,
      l.benchmark,
      l.problem_id,
      l.sample,
      l.completion,
      l.answer,
      l.gold,
      l.correct,
      l.tokens,
      l.finish_reason,
    ]),
  );
  assert.deepEqual(
    samples.map((s) => s.problem),
    [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4],
  );
  assert.equal(samples[3].prompt, "What is 1 + 1?");
  // For comparing runs: results parsed, samples with their prompts' text.
  const contents = storeContents(join(out, "run.sqlite"));
  const results = contents.meta.find((m) => m.key === "results")?.value as { model: string };
  assert.equal(results.model, "tiny");
  assert.equal(contents.eval_samples.length, 15);
  assert.equal(contents.eval_samples[3].prompt, "What is 1 + 1?");
});

test("a rerun with fewer samples replaces the store's samples", () => {
  evalRun(1);
  const { samples } = storeOf(out);
  assert.deepEqual(
    samples.map((s) => [s.problem, s.sample]),
    [0, 1, 2, 3, 4].map((p) => [p, 0]),
  );
});
