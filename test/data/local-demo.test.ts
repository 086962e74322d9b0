/**
 * The shipped recipes: the four parse against the step registry, and
 * recipes/data/local-demo.yaml runs end to end on ../shared/data (skipped, with
 * a message, when that folder is absent) and writes its report and output,
 * whose rows repeat no problem and hold no benchmark problem: the leaks that
 * word n-grams missed in the shipped files are dropped, look-alikes kept.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, test } from "node:test";
import { ContaminationIndex } from "../../src/data/contamination.ts";
import { runCuration } from "../../src/data/curate/pipeline.ts";
import { loadCurationRecipe } from "../../src/data/curate/recipe.ts";
import { defaultRegistry } from "../../src/data/curate/registry.ts";
import {
  DecontaminateParams,
  loadBenchmarks,
  PAPER_BENCHMARKS,
  relate,
} from "../../src/data/curate/steps/decontaminate.ts";
import { exactKey } from "../../src/data/text.ts";

const checkout = resolve(import.meta.dirname, "../..");
const shared = resolve(checkout, "../shared/data");
const root = await mkdtemp(join(tmpdir(), "reasonrl-local-demo-"));
after(() => rm(root, { recursive: true, force: true }));

test("the shipped data recipes parse", async () => {
  for (const name of ["local-demo", "open-s1", "open-deepscaler", "open-rs"]) {
    const plan = await loadCurationRecipe(
      join(checkout, "recipes", "data", `${name}.yaml`),
      defaultRegistry(),
    );
    assert.equal(plan.name, name);
    assert.equal(plan.steps[plan.steps.length - 1].type, "write", name);
  }
  const rs = await loadCurationRecipe(join(checkout, "recipes", "data", "open-rs.yaml"), defaultRegistry(), [
    "sources.open-s1={name: open-s1, path: runs/data/open-s1/open-s1.jsonl}",
  ]);
  assert.deepEqual(rs.sources[0], {
    name: "open-s1",
    path: "runs/data/open-s1/open-s1.jsonl",
    fields: { problem: "problem", answer: "answer", solution: "solution", id: "id" },
    labels: {},
  });

  // The model steps, with their models as parameters.
  const types = async (name: string, sets: string[] = []) =>
    (await loadCurationRecipe(join(checkout, "recipes", "data", `${name}.yaml`), defaultRegistry(), sets))
      .steps;
  const s1 = await types("open-s1", [
    "steps.difficulty.target={model: models/DeepSeek-R1-Distill-Qwen-1.5B}",
  ]);
  assert.deepEqual(
    s1.map((s) => s.type),
    ["verifiable", "dedupe", "decontaminate", "language", "difficulty", "judge", "write"],
  );
  assert.deepEqual((s1[4].params as { target: unknown }).target, {
    model: "models/DeepSeek-R1-Distill-Qwen-1.5B",
  });
  const ds = (await types("open-deepscaler")).find((s) => s.type === "difficulty");
  const rsDifficulty = rs.steps.find((s) => s.type === "difficulty");
  const mix = rs.steps.find((s) => s.type === "mix");
  assert.ok(ds && rsDifficulty && mix);
  assert.deepEqual(rsDifficulty.where, { source: "deepscaler" });
  // open-rs labels with the settings open-deepscaler filters with, so the two share their cache.
  const { maxPassRate: _, ...dsSettings } = ds.params as Record<string, unknown>;
  assert.deepEqual(rsDifficulty.params, dsSettings);
  assert.deepEqual(
    (mix.params as { pools: { where: unknown }[] }).pools.map((p) => p.where),
    [
      { source: "open-s1" },
      { source: "deepscaler", difficulty: "hard" },
      { source: "deepscaler", difficulty: "easy" },
    ],
  );
});

test("local-demo runs on ../shared/data: funnel, report and a clean 5,000-row output", async (t) => {
  if (!existsSync(join(shared, "train")) || !existsSync(join(shared, "benchmarks"))) {
    t.skip(
      `../shared/data not found at ${shared}: the local-demo recipe needs its train/ and benchmarks/ files`,
    );
    return;
  }
  const cwd = process.cwd();
  process.chdir(checkout); // the recipe's paths are relative to the checkout
  try {
    const plan = await loadCurationRecipe("recipes/data/local-demo.yaml", defaultRegistry());
    const out = join(root, "local-demo");
    const { report, rows } = await runCuration(plan, { outDir: out, cacheDir: join(root, "cache") });

    const lines = (name: string) =>
      readFile(join(shared, "train", `${name}.jsonl`), "utf8").then((s) => s.trim().split("\n").length);
    const total =
      (await lines("math_train")) + (await lines("aime_1983_2023")) + (await lines("deepscaler_subset"));
    assert.deepEqual(report.funnel[0], { ...report.funnel[0], in: total, kept: total, dropped: 0 });
    // each step's rows in are the last step's rows kept, and in = kept + dropped
    for (let i = 1; i < report.funnel.length; i++) {
      const l = report.funnel[i];
      assert.equal(l.in, report.funnel[i - 1].kept, l.step);
      assert.equal(l.in, l.kept + l.dropped, l.step);
      assert.equal(
        Object.values(l.reasons).reduce((a, b) => a + b, 0),
        l.dropped,
        l.step,
      );
    }
    const step = (name: string) => report.funnel.find((l) => l.step === name);
    assert.ok((step("verifiable")?.reasons["multiple-choice"] ?? 0) > 0);
    assert.ok(
      (step("dedupe")?.reasons["exact-duplicate"] ?? 0) >= 300,
      "AIME repeats MATH's old AIME problems",
    );
    assert.ok((step("decontaminate")?.dropped ?? 0) > 0);
    assert.equal(report.final, 5000);

    const written = (await readFile(join(out, "train.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, string>);
    assert.equal(written.length, 5000);
    const pools: Record<string, number> = {};
    for (const w of written) {
      assert.ok(w.problem && w.answer && w.origin && w.source, w.id);
      pools[w.pool] = (pools[w.pool] ?? 0) + 1;
    }
    assert.deepEqual(pools, { competition: 1000, hard: 3000, easy: 1000 });
    assert.equal(new Set(written.map((w) => exactKey(w.problem))).size, 5000, "no problem repeated");
    const benchmarks = await loadBenchmarks({
      dir: join(shared, "benchmarks"),
      names: PAPER_BENCHMARKS,
      fields: { problem: "problem", answer: "answer", solution: "solution", id: "id" },
    });
    const params = DecontaminateParams.parse({ dir: "-" });
    const index = new ContaminationIndex(benchmarks, { ngram: params.ngram, looseNgram: params.looseNgram });
    assert.deepEqual(
      rows
        .filter((r) => ["same", "paraphrase"].includes(relate(r, index, params)?.relation ?? ""))
        .map((r) => r.id),
      [],
      "no output row is a benchmark problem",
    );
    // The leaks word n-grams missed in the shipped files: dropped, each under its reason.
    const decontaminated = report.steps.find((s) => s.name === "decontaminate")?.details?.hits as {
      id: string;
      benchmarkId: string;
      relation: string;
    }[];
    const found = (id: string) => decontaminated.find((h) => h.id === id);
    assert.deepEqual(found("math-train-intermediate_algebra-1148"), {
      ...found("math-train-intermediate_algebra-1148"),
      benchmarkId: "olympiadbench-2895",
      relation: "same",
    });
    assert.equal(found("math-train-algebra-1509")?.relation, "same");
    assert.equal(found("math-train-prealgebra-591")?.relation, "paraphrase");
    assert.equal(step("decontaminate")?.reasons["benchmark-paraphrase"], 1);
    // Template look-alikes (other numbers, other answer) stay, labelled.
    const lookalikes = rows.filter((r) => r.labels.benchmark_relation === "lookalike");
    assert.ok(lookalikes.length > 0);
    assert.equal(
      lookalikes.length,
      decontaminated.filter((h) => h.relation === "lookalike" && rows.some((r) => r.id === h.id)).length,
    );

    const md = await readFile(join(out, "report.md"), "utf8");
    assert.match(md, /^# Curation report: local-demo$/m);
    assert.match(md, /\| decontaminate \| all rows \| \d+ \|/);
    const hits = report.steps.find((s) => s.name === "decontaminate")?.details?.hits as {
      id: string;
      benchmarkId: string;
    }[];
    assert.equal(hits.length >= (step("decontaminate")?.dropped ?? 0), true);
    for (const h of hits) assert.ok(md.includes(`| ${h.id} | ${h.benchmarkId} |`), `${h.id} in report.md`);
  } finally {
    process.chdir(cwd);
  }
});
