/**
 * `decontaminate`: drops training problems that overlap an evaluation benchmark
 * problem (reason benchmark-overlap), by word n-grams (contamination.ts): a row
 * is a hit when the share of shared n-grams, over those of the shorter text,
 * reaches `minOverlap`. The default (8-grams, 0.5) catches verbatim copies,
 * rewordings that keep most phrases, and template siblings that change a few
 * numbers (say, "arrange the letters of the word RADII" against MATH-500's
 * "... ELLIPSE"): those are dropped too, to be safe; `sameAnswer: true` keeps
 * siblings whose gold answer differs.
 *
 * The benchmarks are files `<dir>/<name>.jsonl` (or .json, .parquet) with the
 * fields id / problem / answer, as in ../shared/data/benchmarks. Every hit is
 * reported with both ids, the overlap and both answers (report.json, and a
 * table in report.md).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { type BenchmarkProblem, ContaminationIndex } from "../../contamination.ts";
import { type DataRow, originOf } from "../../row.ts";
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
    /** Words per n-gram. */
    ngram: z.number().int().min(1).max(50).default(8),
    /** Share of the shorter text's n-grams that must be shared for a hit. */
    minOverlap: z.number().gt(0).max(1).default(0.5),
    /** A hit also needs the same gold answer (keeps template siblings with other numbers). */
    sameAnswer: z.boolean().default(false),
  })
  .strict();
export type DecontaminateParams = z.output<typeof DecontaminateParams>;

/** One training row that overlaps a benchmark problem. */
export interface ContaminationHit {
  id: string;
  origin: string;
  benchmark: string;
  benchmarkId: string;
  overlap: number;
  answer: string;
  benchmarkAnswer: string;
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

const answerKey = (answer: string) => answer.replace(/\s+/g, "");

/** Splits rows into clean ones and benchmark hits (exposed for the benchmark). */
export function findContamination(
  rows: readonly DataRow[],
  index: ContaminationIndex,
  p: Pick<DecontaminateParams, "minOverlap" | "sameAnswer">,
): { kept: DataRow[]; dropped: Drop[]; hits: ContaminationHit[] } {
  const kept: DataRow[] = [];
  const dropped: Drop[] = [];
  const hits: ContaminationHit[] = [];
  for (const row of rows) {
    const found = index
      .hits(row.problem, p.minOverlap)
      .filter((h) => !p.sameAnswer || answerKey(h.answer) === answerKey(row.answer));
    if (found.length === 0) {
      kept.push(row);
      continue;
    }
    const origin = originOf(row.provenance);
    for (const h of found)
      hits.push({
        id: row.id,
        origin,
        benchmark: h.benchmark,
        benchmarkId: h.benchmarkId,
        overlap: h.overlap,
        answer: row.answer,
        benchmarkAnswer: h.answer,
      });
    const best = found[0];
    const more = found.length > 1 ? ` and ${found.length - 1} more` : "";
    dropped.push({
      row,
      reason: "benchmark-overlap",
      detail: `${best.benchmarkId} (overlap ${best.overlap})${more}`,
    });
  }
  return { kept, dropped, hits };
}

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\s+/g, " ").slice(0, 60);

export const decontaminateStep = defineStep({
  type: "decontaminate",
  summary: "drop problems overlapping the evaluation benchmarks (word n-gram overlap); report every hit",
  params: DecontaminateParams,
  async run(rows, p, ctx) {
    const benchmarks = await loadBenchmarks(p);
    ctx.log(`decontaminate: ${benchmarks.length} benchmark problems from ${p.names.join(", ")}`);
    const index = new ContaminationIndex(benchmarks, p.ngram);
    const { kept, dropped, hits } = findContamination(rows, index, p);
    const byBenchmark: Record<string, number> = {};
    for (const h of hits) byBenchmark[h.benchmark] = (byBenchmark[h.benchmark] ?? 0) + 1;
    const notes = [
      `${benchmarks.length} benchmark problems (${p.names.join(", ")}); word ${p.ngram}-grams, ` +
        `overlap >= ${p.minOverlap}${p.sameAnswer ? ", same answer" : ""}: ${dropped.length} rows dropped, ` +
        `${hits.length} hits (${Object.entries(byBenchmark)
          .map(([b, n]) => `${b} ${n}`)
          .join(", ")}).`,
    ];
    if (hits.length > 0) {
      notes.push(
        "",
        "| row | benchmark problem | overlap | answer | benchmark answer |",
        "| --- | --- | ---: | --- | --- |",
      );
      for (const h of hits)
        notes.push(
          `| ${cell(h.id)} | ${cell(h.benchmarkId)} | ${h.overlap} | ${cell(h.answer)} | ${cell(h.benchmarkAnswer)} |`,
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
