/**
 * The labelled contamination set (bench/contamination-set.ts) and the issue's
 * targets on it: built from the committed fixture of 40 benchmark-style
 * problems (always), and from ../shared/data/benchmarks (skipped, with a
 * message, when that folder is absent). Also: every leaked variant really
 * differs from its benchmark problem, and every look-alike has other numbers
 * and an answer the verifier does not equate with the benchmark's.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { contaminationSet, TRANSFORMATIONS } from "../../bench/contamination-set.ts";
import { curateQuality, QUALITY_TARGETS } from "../../bench/curate-quality.ts";
import type { BenchmarkProblem } from "../../src/data/contamination.ts";
import { loadBenchmarks, PAPER_BENCHMARKS } from "../../src/data/curate/steps/decontaminate.ts";
import { equivalentAnswers } from "../../src/data/same-answer.ts";

const shared = resolve(import.meta.dirname, "../../../shared/data/benchmarks");

async function fixture(): Promise<BenchmarkProblem[]> {
  const text = await readFile(join(import.meta.dirname, "fixtures", "contamination-benchmark.jsonl"), "utf8");
  return text
    .trim()
    .split("\n")
    .map((l) => ({ ...(JSON.parse(l) as BenchmarkProblem), benchmark: "fixture" }));
}

function assertTargets(q: ReturnType<typeof curateQuality>) {
  for (const kind of TRANSFORMATIONS) {
    const target = kind === "paraphrase" ? QUALITY_TARGETS.paraphraseRecall : QUALITY_TARGETS.recall;
    assert.ok(q.reasonrl.recall[kind] >= target, `${kind}: recall ${q.reasonrl.recall[kind]} < ${target}`);
  }
  assert.ok(
    q.reasonrl.lookalike_false_positives <= QUALITY_TARGETS.lookalikeFalsePositives,
    `look-alikes dropped: ${q.reasonrl.lookalike_false_positives}`,
  );
  assert.equal(q.meets_targets, true);
}

test("the labelled set: every kind present, variants differ from the original, look-alikes are negatives", async () => {
  const benchmarks = await fixture();
  const cases = contaminationSet(benchmarks, { perKind: 30, seed: 5 });
  const byId = new Map(benchmarks.map((b) => [b.id, b]));
  const kinds = new Map<string, number>();
  for (const c of cases) {
    kinds.set(c.kind, (kinds.get(c.kind) ?? 0) + 1);
    const b = byId.get(c.benchmarkId) as BenchmarkProblem;
    if (c.kind === "exact") assert.equal(c.problem, b.problem);
    else assert.notEqual(c.problem, b.problem, `${c.id} is unchanged`);
    assert.equal(c.contaminated, c.kind !== "lookalike");
    if (c.kind === "lookalike") {
      assert.notDeepEqual(c.problem.match(/\d+/g), b.problem.match(/\d+/g), c.id);
      assert.equal(equivalentAnswers(b.answer, c.answer), false, c.id);
    } else assert.equal(equivalentAnswers(b.answer, c.answer), true, c.id);
  }
  assert.deepEqual([...kinds.keys()].sort(), [...TRANSFORMATIONS, "lookalike"].sort());
  assert.ok([...kinds.values()].every((n) => n === 30));
  // Seeded: the same seed gives the same set, another seed another one.
  assert.deepEqual(contaminationSet(benchmarks, { perKind: 30, seed: 5 }), cases);
  assert.notDeepEqual(contaminationSet(benchmarks, { perKind: 30, seed: 6 }), cases);
});

test("decontaminate meets the targets on the fixture's labelled set; open-r1's rule does not", async () => {
  const q = curateQuality(await fixture(), "fixture", 60);
  assertTargets(q);
  assert.ok(q.open_r1.recall.latex < 0.99 || q.open_r1.lookalike_false_positives > 0.02);
});

test("decontaminate meets the targets on a labelled set from ../shared/data/benchmarks", async (t) => {
  if (!existsSync(shared)) {
    t.skip(`${shared} not found: the five benchmark files are needed for this set`);
    return;
  }
  const benchmarks = await loadBenchmarks({
    dir: shared,
    names: PAPER_BENCHMARKS,
    fields: { problem: "problem", answer: "answer", solution: "solution", id: "id" },
  });
  assertTargets(curateQuality(benchmarks, shared, 100));
});
