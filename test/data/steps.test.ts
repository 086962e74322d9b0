/**
 * Every curation step on small fixtures with known outcomes: which rows it
 * keeps, and the reason of each drop.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { decontaminateStep } from "../../src/data/curate/steps/decontaminate.ts";
import { dedupeStep } from "../../src/data/curate/steps/dedupe.ts";
import { languageStep } from "../../src/data/curate/steps/language.ts";
import { lengthStep } from "../../src/data/curate/steps/length.ts";
import { mixStep } from "../../src/data/curate/steps/mix.ts";
import { verifiableStep } from "../../src/data/curate/steps/verifiable.ts";
import { writeStep } from "../../src/data/curate/steps/write.ts";
import { context, ids, reasons, row } from "./helpers.ts";

const root = await mkdtemp(join(tmpdir(), "reasonrl-steps-"));
after(() => rm(root, { recursive: true, force: true }));
const ctx = context(root);

function verifiableRows() {
  return [
    row("ok", "What is 2+3?", "5"),
    row("from-solution", "What is half of one?", "", { solution: "Half of 1 is $\\boxed{\\frac{1}{2}}$." }),
    row("no-answer", "What is 7 times 6?", "", { solution: "It is forty-two." }),
    row("proof", "Prove that $\\sqrt{2}$ is irrational.", "\\text{irrational}"),
    row("letter", "Which is prime? (A) 4 (B) 7 (C) 9", "\\text{(B)}"),
    row(
      "parts",
      "A car goes 60 km in 1 hour.\n(a) Find its speed.\n(b) How far does it go in 3 hours?",
      "180",
    ),
    row("two-boxes", "Solve $x^2 = 1$.", "1", { solution: "So $\\boxed{-1}$ or $\\boxed{1}$." }),
    row("unparsed", "Write 126 in base 11.", "\\text{A5}_{11}"),
    row("choices-value", "Which is largest? (A) 1 (B) 2 (C) 3", "3"),
    row("text", "On which day did she have more than 100 paperclips?", "\\text{Tuesday}"),
    row("bad-gold", "Compute the value.", "\\( \\frac{2\\sqrt{3}-3}{2} \\)"),
  ];
}

test("verifiable: the gold from the answer or the last box; proofs, letters, parts, boxes, unparsed dropped", async () => {
  const rows = verifiableRows();
  const out = await verifiableStep.run(rows, verifiableStep.params.parse({}), ctx);
  assert.deepEqual(ids(out.kept), ["ok", "from-solution", "choices-value", "text"]);
  assert.deepEqual(reasons(out.dropped), {
    "no-answer": "no-answer",
    proof: "proof",
    letter: "multiple-choice",
    parts: "multi-part",
    "two-boxes": "several-boxed-answers",
    unparsed: "unparsed-answer",
    "bad-gold": "not-self-verifying",
  });
  const fromSolution = out.kept[1];
  assert.equal(fromSolution.answer, "\\frac{1}{2}");
  assert.deepEqual(fromSolution.labels, { answer_kind: "fraction", answer_from: "solution" });
  assert.equal(out.kept[0].labels.answer_kind, "integer");
});

test("verifiable: options turn rules on and off", async () => {
  const strict = await verifiableStep.run(
    verifiableRows(),
    verifiableStep.params.parse({ dropListedChoices: true, dropKinds: ["text"], answerFrom: "answer" }),
    ctx,
  );
  assert.deepEqual(ids(strict.kept), ["ok"]);
  const r = reasons(strict.dropped);
  assert.equal(r["from-solution"], "no-answer");
  assert.equal(r["choices-value"], "listed-choices");
  assert.equal(r.text, "answer-kind");

  const lenient = await verifiableStep.run(
    verifiableRows(),
    verifiableStep.params.parse({
      dropProofs: false,
      dropMultipleChoice: false,
      dropMultiPart: false,
      dropSeveralBoxed: false,
      selfCheck: false,
    }),
    ctx,
  );
  assert.deepEqual(reasons(lenient.dropped), { "no-answer": "no-answer", unparsed: "unparsed-answer" });
  assert.throws(() => verifiableStep.params.parse({ dropKinds: ["words"] }));
});

test("dedupe: exact repeats and near repeats with the same answer dropped, template siblings kept", async () => {
  const base =
    "A bag holds 5 red marbles and 7 blue marbles. Two marbles are drawn at random without replacement. " +
    "What is the probability that both marbles are red? Express your answer as a common fraction.";
  const rows = [
    row("first", base, "\\frac{10}{66}"),
    row("exact", `  ${base.toUpperCase().replace("5", "$5$")}  `, "\\frac{5}{33}"),
    row("near", base.replace("Express your answer", "Express the answer"), "\\frac{10}{66}"),
    row("sibling", base.replace("5 red", "6 red").replace("7 blue", "8 blue"), "\\frac{15}{91}"),
    row("near-other-answer", base.replace("Express your answer", "Write your answer"), "\\frac{1}{2}"),
    row("unrelated", "Find the remainder when $2^{100}$ is divided by 7.", "2"),
  ];
  const out = await dedupeStep.run(rows, dedupeStep.params.parse({}), ctx);
  assert.deepEqual(ids(out.kept), ["first", "sibling", "near-other-answer", "unrelated"]);
  assert.deepEqual(reasons(out.dropped), { exact: "exact-duplicate", near: "near-duplicate" });
  assert.match(out.dropped[1].detail ?? "", /^of first \(Jaccard 0\.\d+\)$/);
  const pairs = (out.details as { pairs: { dropped: string; kept: string; exact: boolean }[] }).pairs;
  assert.deepEqual(
    pairs.map((p) => [p.dropped, p.kept, p.exact]),
    [
      ["exact", "first", true],
      ["near", "first", false],
    ],
  );

  const anyAnswer = await dedupeStep.run(rows, dedupeStep.params.parse({ sameAnswer: false }), ctx);
  assert.deepEqual(ids(anyAnswer.kept), ["first", "sibling", "unrelated"]);
  const exactOnly = await dedupeStep.run(rows, dedupeStep.params.parse({ near: false }), ctx);
  assert.deepEqual(reasons(exactOnly.dropped), { exact: "exact-duplicate" });
  assert.throws(() => dedupeStep.params.parse({ permutations: 100, bands: 32 }), /multiple of bands/);
});

test("decontaminate: copies, respellings and paraphrases dropped; look-alikes kept and labelled; every match reported", async () => {
  const dir = join(root, "benchmarks");
  await mkdir(dir, { recursive: true });
  const bench = (name: string, items: { id: string; problem: string; answer: string }[]) =>
    writeFile(join(dir, `${name}.jsonl`), items.map((x) => JSON.stringify(x)).join("\n"));
  await bench("alpha", [
    {
      id: "alpha-1",
      problem:
        "How many positive divisors does the number 48 have that are also perfect squares of integers?",
      answer: "2",
    },
    {
      id: "alpha-2",
      problem:
        "A jar holds $12$ red and $\\frac{1}{2} \\cdot 30$ blue beads. What share of the beads is red?",
      answer: "\\frac{4}{9}",
    },
  ]);
  await bench("beta", [
    {
      id: "beta-7",
      problem: "Determine the number of ways to arrange the letters of the word ELLIPSE.",
      answer: "1260",
    },
  ]);
  const rows = [
    row(
      "copy",
      "How many positive divisors does the number 48 have that are also perfect squares of integers?",
      "2",
    ),
    row(
      "inside",
      "Problem 4 (10 points). How many positive divisors does the number 48 have that are also perfect squares of integers? Explain.",
      "2",
    ),
    row(
      "respelled",
      "A jar holds 12 red and ½ × 30 blue beads. What share of the beads is red?",
      "$\\dfrac49$",
    ),
    row(
      "paraphrase",
      "Count the divisors of the number 48 that are also perfect squares of integers.",
      "2.0",
    ),
    row("sibling", "Determine the number of ways to arrange the letters of the word RADII.", "30"),
    row("clean", "What is the area of a circle of radius 3 in square units?", "9\\pi"),
  ];
  const params = decontaminateStep.params.parse({ dir, names: ["alpha", "beta"] });
  const out = await decontaminateStep.run(rows, params, ctx);
  assert.deepEqual(ids(out.kept), ["sibling", "clean"]);
  assert.deepEqual(reasons(out.dropped), {
    copy: "benchmark-overlap",
    inside: "benchmark-overlap",
    respelled: "benchmark-overlap",
    paraphrase: "benchmark-paraphrase",
  });
  assert.deepEqual(out.kept[0].labels, { benchmark_relation: "lookalike", benchmark_match: "beta-7" });
  assert.deepEqual(out.kept[1].labels, {});
  const hits = (
    out.details as {
      hits: { id: string; benchmarkId: string; relation: string; overlap: number; sameAnswer: boolean }[];
    }
  ).hits;
  assert.deepEqual(
    hits.map((h) => [h.id, h.benchmarkId, h.relation, h.sameAnswer]),
    [
      ["copy", "alpha-1", "same", true],
      ["inside", "alpha-1", "same", true],
      ["respelled", "alpha-2", "same", true],
      ["paraphrase", "alpha-1", "paraphrase", true],
      ["sibling", "beta-7", "lookalike", false],
    ],
  );
  assert.equal(hits[2].overlap, 1);
  assert.ok(hits[4].overlap >= 0.5 && hits[4].overlap < 1);
  assert.ok(out.notes?.some((n) => n.includes("| sibling | beta-7 | lookalike |")));

  const strict = await decontaminateStep.run(
    rows,
    { ...params, lookalikes: "drop", paraphrases: false },
    ctx,
  );
  assert.deepEqual(ids(strict.kept), ["paraphrase", "clean"]);
  assert.equal(reasons(strict.dropped).sibling, "benchmark-lookalike");
  await assert.rejects(
    decontaminateStep.run(rows, { ...params, names: ["gamma"] }, ctx),
    /no benchmark file .*gamma\.jsonl/,
  );
});

test("length: character limits on problem, solution and answer", async () => {
  const rows = [
    row("ok", "What is 12 + 30?", "42", { solution: "12 + 30 = 42" }),
    row("short", "2+2?", "4"),
    row("long", `What is ${"1 + ".repeat(100)}1?`, "101"),
    row(
      "long-answer",
      "Write the first 30 primes.",
      "2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53",
    ),
    row("no-solution", "What is 6 times 7?", "42"),
  ];
  const out = await lengthStep.run(
    rows,
    lengthStep.params.parse({ problem: { min: 10, max: 200 }, answer: { max: 20 }, solution: { min: 1 } }),
    ctx,
  );
  assert.deepEqual(ids(out.kept), ["ok"]);
  assert.deepEqual(reasons(out.dropped), {
    short: "problem-too-short",
    long: "problem-too-long",
    "long-answer": "answer-too-long",
    "no-solution": "solution-too-short",
  });
});

test("language: other scripts and non-English prose dropped; formula-only problems pass", async () => {
  const rows = [
    row("en", "Find the number of positive integers $n$ such that $n^2 < 50$.", "7"),
    row("zh", "求满足 $n^2 < 50$ 的正整数 $n$ 的个数。", "7"),
    row("ru", "Найдите количество натуральных чисел $n$, для которых $n^2 < 50$.", "7"),
    row(
      "fr",
      "Trouver le nombre des entiers positifs $n$ tels que leur carré soit plus petit que cinquante.",
      "7",
    ),
    row("formula", "Compute $\\sum_{k=1}^{10} k^2$.", "385"),
  ];
  const out = await languageStep.run(rows, languageStep.params.parse({}), ctx);
  assert.deepEqual(ids(out.kept), ["en", "formula"]);
  assert.deepEqual(reasons(out.dropped), { zh: "script", ru: "script", fr: "not-english" });
  const cyrillicOk = await languageStep.run(
    rows,
    languageStep.params.parse({ scripts: ["Latin", "Cyrillic"], english: false }),
    ctx,
  );
  assert.deepEqual(ids(cyrillicOk.kept), ["en", "ru", "fr", "formula"]);
});

function poolRows() {
  const rows = [];
  for (let i = 0; i < 10; i++) rows.push(row(`s1-${i}`, `S1 problem ${i}`, `${i}`, { source: "s1" }));
  for (let i = 0; i < 8; i++)
    rows.push(
      row(`ds-${i}`, `DS problem ${i}`, `${i}`, {
        source: "ds",
        labels: { difficulty: i < 5 ? "hard" : "easy" },
      }),
    );
  rows.push(row("other", "Other problem", "1", { source: "other" }));
  return rows;
}

test("mix: fixed counts and shares from named pools, seeded, with pool labels", async () => {
  const params = mixStep.params.parse({
    seed: 3,
    pools: [
      { name: "s1", where: { source: "s1" }, count: 4 },
      { name: "hard", where: { source: "ds", difficulty: "hard" }, fraction: 0.6 },
      { name: "easy", where: { source: "ds" }, count: 1 },
    ],
  });
  const a = await mixStep.run(poolRows(), params, ctx);
  const b = await mixStep.run(poolRows(), params, ctx);
  assert.deepEqual(ids(a.kept), ids(b.kept), "same seed, same draw");
  const byPool = (pool: string) => a.kept.filter((r) => r.labels.pool === pool).map((r) => r.id);
  assert.equal(byPool("s1").length, 4);
  assert.equal(byPool("hard").length, 3); // round(0.6 * 5)
  assert.equal(byPool("easy").length, 1);
  assert.ok(byPool("hard").every((id) => Number(id.slice(3)) < 5));
  assert.ok(byPool("easy").every((id) => Number(id.slice(3)) >= 5));
  const counts: Record<string, number> = {};
  for (const d of a.dropped) counts[d.reason] = (counts[d.reason] ?? 0) + 1;
  assert.deepEqual(counts, { "in-no-pool": 1, "not-drawn": 6 + 2 + 2 });
  // input order is kept
  const order = ids(poolRows());
  assert.deepEqual(
    ids(a.kept),
    [...ids(a.kept)].sort((x, y) => order.indexOf(x) - order.indexOf(y)),
  );

  const other = await mixStep.run(poolRows(), { ...params, seed: 4 }, ctx);
  assert.notDeepEqual(ids(other.kept), ids(a.kept), "another seed, another draw");
});

test("mix: a pool short of its count stops the run unless take-all", async () => {
  const params = mixStep.params.parse({ pools: [{ name: "s1", where: { source: "s1" }, count: 20 }] });
  await assert.rejects(
    mixStep.run(poolRows(), params, ctx),
    /pool "s1" has 10 rows, fewer than its count 20/,
  );
  const logs: string[] = [];
  const out = await mixStep.run(poolRows(), { ...params, onShort: "take-all" }, context(root, logs));
  assert.equal(out.kept.length, 10);
  assert.match(logs.join("\n"), /only 10 of 20/);
  assert.throws(() => mixStep.params.parse({ pools: [{ name: "x", count: 1, fraction: 0.5 }] }), /not both/);
});

test("write: JSONL with the trainer's fields, provenance and labels, written atomically", async () => {
  const out = join(root, "write");
  await mkdir(out, { recursive: true });
  const rows = [
    row("a", "What is 2+3?", "5", { solution: "2+3=5", labels: { answer_kind: "integer", pool: "easy" } }),
    row("b", "What is 2+4?", "6", { index: 1 }),
  ];
  const result = await writeStep.run(rows, writeStep.params.parse({ path: "sub/train.jsonl" }), context(out));
  assert.equal(result.kept.length, 2);
  const lines = (await readFile(join(out, "sub", "train.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.deepEqual(lines[0], {
    id: "a",
    problem: "What is 2+3?",
    answer: "5",
    solution: "2+3=5",
    source: "fixture",
    origin: "fixture.jsonl:1",
    answer_kind: "integer",
    pool: "easy",
  });
  assert.deepEqual(lines[1], {
    id: "b",
    problem: "What is 2+4?",
    answer: "6",
    source: "fixture",
    origin: "fixture.jsonl:2",
  });
  assert.deepEqual(await readdir(join(out, "sub")), ["train.jsonl"], "no temporary file left");

  await writeStep.run(
    rows,
    writeStep.params.parse({ path: "nested.jsonl", solution: false, labelsField: "labels" }),
    context(out),
  );
  const nested = JSON.parse((await readFile(join(out, "nested.jsonl"), "utf8")).split("\n")[0]);
  assert.deepEqual(nested.labels, { answer_kind: "integer", pool: "easy" });
  assert.equal(nested.solution, undefined);
  await assert.rejects(
    writeStep.run(rows, writeStep.params.parse({ path: "../escape.jsonl" }), context(out)),
    /inside/,
  );
  assert.throws(() => writeStep.params.parse({ format: "csv" }));
});
