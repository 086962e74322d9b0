/**
 * `decontaminate`: drops training problems that are evaluation benchmark
 * problems, however they are spelled, and reports the look-alikes it keeps.
 * Texts are compared in the normal form of math-tokens.ts (Unicode math,
 * \frac and \dfrac12, \left/\right, \cdot/\times, "3m"/"3 m", thousands
 * separators); answers with the verifier (src/verify), not as strings.
 *
 * For each row, the benchmark problems it overlaps (contamination.ts) are
 * sorted into:
 * - benchmark-overlap (dropped): the same problem. Its `ngram`-token n-grams
 *   overlap a benchmark problem's by `minOverlap` or more (shared over those
 *   of the shorter text, so a preamble or appended choices do not hide it; a
 *   benchmark problem shorter than `ngram` tokens counts when the row contains
 *   it) and the gold answers are equivalent, or the row holds the benchmark
 *   problem's whole token sequence (a copy) whatever its answer says.
 * - benchmark-paraphrase (dropped, unless `paraphrases: false`): a reworded
 *   problem. Its `looseNgram`-token n-grams overlap by `looseOverlap` or more
 *   (n-grams found in many benchmark problems, boilerplate like "express your
 *   answer as a common fraction", do not count; at least 3 must be shared;
 *   twice the overlap when the problem has no number), or its other words
 *   overlap by 0.6 weighted by rarity (a rewrite too thorough for n-grams, see
 *   contamination.ts), it has the same numbers as the benchmark problem, and
 *   the answers are equivalent.
 * - benchmark-lookalike (kept unless `lookalikes: drop`): the same template with
 *   another answer, e.g. MATH's "Convert the point (0, 3) to polar coordinates"
 *   against "(1, -1)": overlapping n-grams, answers not equivalent.
 * Kept look-alikes, and paraphrase candidates that the answer did not confirm,
 * get the labels `benchmark_relation` ("lookalike" or "candidate") and
 * `benchmark_match` (the benchmark problem's id): a `judge` step with
 * `where: { benchmark_relation: [lookalike, candidate] }` and `benchmarks:`
 * can then let an LLM decide (the LMSYS "LLM decontaminator" approach).
 *
 * The benchmarks are files `<dir>/<name>.jsonl` (or .json, .parquet) with the
 * fields id / problem / answer, as in ../shared/data/benchmarks. Every match
 * is reported with both ids, the overlaps and both answers (report.json, and a
 * table in report.md).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { type BenchmarkProblem, ContaminationIndex, type OverlapHit } from "../../contamination.ts";
import { type DataRow, originOf } from "../../row.ts";
import { equivalentAnswers } from "../../same-answer.ts";
import { FieldMap, loadSource } from "../../sources.ts";
import { type Drop, defineStep } from "../step.ts";

/** The five benchmarks of the paper's evaluation. */
export const PAPER_BENCHMARKS = ["aime24", "amc23", "math500", "minerva", "olympiadbench"];

export const DecontaminateParams = z
  .object({
    /** Folder of the benchmark files. */
    dir: z.string().min(1),
    /** Benchmark file names without extension. */
    names: z.array(z.string().min(1)).min(1).default(PAPER_BENCHMARKS),
    /** Field names in the benchmark files. */
    fields: FieldMap.default({ problem: "problem", answer: "answer", solution: "solution", id: "id" }),
    /** Tokens per n-gram of the same-problem rule. */
    ngram: z.number().int().min(1).max(50).default(8),
    /** Share of the shorter text's n-grams that must be shared for the same-problem rule. */
    minOverlap: z.number().gt(0).max(1).default(0.5),
    /** Drop paraphrases: looser n-gram overlap, every number kept, an equivalent answer. */
    paraphrases: z.boolean().default(true),
    /** Tokens per n-gram of the paraphrase rule. */
    looseNgram: z.number().int().min(1).max(20).default(3),
    /** Share of the shorter text's loose n-grams that must be shared for the paraphrase rule. */
    looseOverlap: z.number().gt(0).max(1).default(0.3),
    /** Template look-alikes (overlap, but the answers differ): kept and labelled, or dropped. */
    lookalikes: z.enum(["keep", "drop"]).default("keep"),
  })
  .strict();
export type DecontaminateParams = z.output<typeof DecontaminateParams>;

/** How a row relates to a benchmark problem. */
export type BenchmarkRelation = "same" | "paraphrase" | "lookalike" | "candidate";

/** One training row that matches a benchmark problem. */
export interface ContaminationHit {
  id: string;
  origin: string;
  benchmark: string;
  benchmarkId: string;
  relation: BenchmarkRelation;
  /** Strict and loose n-gram overlaps (contamination.ts). */
  overlap: number;
  looseOverlap: number;
  answer: string;
  benchmarkAnswer: string;
  /** The verifier found the two answers equivalent. */
  sameAnswer: boolean;
}

/** Reads the benchmark problems named in `p` (every file must exist). */
export async function loadBenchmarks(p: Pick<DecontaminateParams, "dir" | "names" | "fields">) {
  const problems: BenchmarkProblem[] = [];
  for (const name of p.names) {
    const path = [".jsonl", ".json", ".parquet"].map((ext) => join(p.dir, `${name}${ext}`)).find(existsSync);
    if (!path)
      throw new Error(`decontaminate: no benchmark file ${join(p.dir, name)}.jsonl (or .json, .parquet)`);
    const loaded = await loadSource({ name, path, fields: p.fields });
    for (const row of loaded.rows)
      problems.push({ id: row.id, benchmark: name, problem: row.problem, answer: row.answer });
  }
  return problems;
}

/** The closest relation of `row` to one benchmark problem, or null when none holds. */
export function relate(
  row: Pick<DataRow, "problem" | "answer">,
  index: ContaminationIndex,
  p: Pick<DecontaminateParams, "minOverlap" | "paraphrases" | "looseOverlap">,
): { relation: BenchmarkRelation; hit: OverlapHit; sameAnswer: boolean } | null {
  const hits = index.hits(row.problem, p.minOverlap, p.looseOverlap);
  const rank: Record<BenchmarkRelation, number> = { same: 0, paraphrase: 1, lookalike: 2, candidate: 3 };
  let best: { relation: BenchmarkRelation; hit: OverlapHit; sameAnswer: boolean } | null = null;
  for (const hit of hits) {
    const strict = hit.overlap >= p.minOverlap;
    // A paraphrase keeps the numbers; with no number to confirm it, it needs twice the loose overlap.
    if (!strict && !hit.sameNumbers) continue;
    if (!strict && hit.benchmarkNumbers === 0 && hit.looseOverlap < Math.min(1, 2 * p.looseOverlap)) continue;
    const sameAnswer = equivalentAnswers(hit.answer, row.answer);
    const relation: BenchmarkRelation = strict
      ? sameAnswer || hit.contains
        ? "same"
        : "lookalike"
      : p.paraphrases && sameAnswer
        ? "paraphrase"
        : "candidate";
    if (!best || rank[relation] < rank[best.relation]) best = { relation, hit, sameAnswer };
    if (relation === "same") break;
  }
  return best;
}

const DROP_REASON = {
  same: "benchmark-overlap",
  paraphrase: "benchmark-paraphrase",
  lookalike: "benchmark-lookalike",
} as const;

/** Splits rows into clean ones and benchmark matches (exposed for the benchmark). */
export function findContamination(
  rows: readonly DataRow[],
  index: ContaminationIndex,
  p: Pick<DecontaminateParams, "minOverlap" | "paraphrases" | "looseOverlap" | "lookalikes">,
): { kept: DataRow[]; dropped: Drop[]; hits: ContaminationHit[] } {
  const kept: DataRow[] = [];
  const dropped: Drop[] = [];
  const hits: ContaminationHit[] = [];
  for (const row of rows) {
    const found = relate(row, index, p);
    if (!found) {
      kept.push(row);
      continue;
    }
    const { relation, hit, sameAnswer } = found;
    hits.push({
      id: row.id,
      origin: originOf(row.provenance),
      benchmark: hit.benchmark,
      benchmarkId: hit.benchmarkId,
      relation,
      overlap: hit.overlap,
      looseOverlap: hit.looseOverlap,
      answer: row.answer,
      benchmarkAnswer: hit.answer,
      sameAnswer,
    });
    if (
      relation === "same" ||
      relation === "paraphrase" ||
      (relation === "lookalike" && p.lookalikes === "drop")
    ) {
      const answers = sameAnswer ? "same answer" : "other answer";
      dropped.push({
        row,
        reason: DROP_REASON[relation],
        detail: `${hit.benchmarkId} (overlap ${hit.overlap}, loose ${hit.looseOverlap}, ${answers})`,
      });
    } else {
      row.labels.benchmark_relation = relation;
      row.labels.benchmark_match = hit.benchmarkId;
      kept.push(row);
    }
  }
  return { kept, dropped, hits };
}

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\s+/g, " ").slice(0, 60);

export const decontaminateStep = defineStep({
  type: "decontaminate",
  summary:
    "drop evaluation benchmark problems however spelled or reworded (n-grams + verified answers); report look-alikes",
  params: DecontaminateParams,
  async run(rows, p, ctx) {
    const benchmarks = await loadBenchmarks(p);
    ctx.log(`decontaminate: ${benchmarks.length} benchmark problems from ${p.names.join(", ")}`);
    const index = new ContaminationIndex(benchmarks, { ngram: p.ngram, looseNgram: p.looseNgram });
    const { kept, dropped, hits } = findContamination(rows, index, p);
    const count = (f: (h: ContaminationHit) => boolean) => hits.filter(f).length;
    const byBenchmark: Record<string, number> = {};
    for (const h of hits)
      if (h.relation === "same" || h.relation === "paraphrase")
        byBenchmark[h.benchmark] = (byBenchmark[h.benchmark] ?? 0) + 1;
    const notes = [
      `${benchmarks.length} benchmark problems (${p.names.join(", ")}); ${p.ngram}-token n-grams overlapping ` +
        `>= ${p.minOverlap}${p.paraphrases ? `, paraphrases by ${p.looseNgram}-grams >= ${p.looseOverlap}` : ""}; ` +
        "answers compared by the verifier.",
      `${count((h) => h.relation === "same")} same problems and ${count((h) => h.relation === "paraphrase")} ` +
        `paraphrases dropped (${
          Object.entries(byBenchmark)
            .map(([b, n]) => `${b} ${n}`)
            .join(", ") || "none"
        }); ${count((h) => h.relation === "lookalike")} look-alikes ` +
        `(other answer) ${p.lookalikes === "keep" ? "kept" : "dropped"}; ` +
        `${count((h) => h.relation === "candidate")} unconfirmed paraphrase candidates kept.`,
    ];
    if (hits.length > 0) {
      notes.push(
        "",
        "| row | benchmark problem | relation | overlap | loose | answer | benchmark answer |",
        "| --- | --- | --- | ---: | ---: | --- | --- |",
      );
      for (const h of hits)
        notes.push(
          `| ${cell(h.id)} | ${cell(h.benchmarkId)} | ${h.relation} | ${h.overlap} | ${h.looseOverlap} | ` +
            `${cell(h.answer)} | ${cell(h.benchmarkAnswer)} |`,
        );
    }
    return {
      kept,
      dropped,
      details: { benchmarks: benchmarks.length, names: p.names, hits },
      notes,
    };
  },
});
