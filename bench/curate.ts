/**
 * `reasonrl bench curate`: how fast and how well curation removes repeats and
 * benchmark problems, each beside its comparison point measured in the same run.
 *
 * Speed: deduplication and decontamination of 10,000 problems against the five
 * evaluation benchmarks, the way the `dedupe` and `decontaminate` steps run
 * them (MinHash/LSH candidates checked by exact Jaccard; inverted n-gram
 * indexes of the benchmarks; answers by the verifier), against the naive way:
 * every pair of problems and every (problem, benchmark problem) pair compared
 * directly. The naive side runs on a subset and is extrapolated (pairs grow
 * with the square of the rows); on that subset both sides must find the same
 * repeats and the same benchmark overlaps.
 *
 * Quality: a labelled contamination set (contamination-set.ts: benchmark
 * problems leaked exactly, respaced, respelled in LaTeX or Unicode, behind a
 * preamble, with choices appended or with one clause reworded; and template
 * look-alikes with other numbers and answers, which must be kept): recall per
 * kind of leak and false positives on the look-alikes, for `decontaminate` and
 * for open-r1's rule (scripts/decontaminate.py: lower-cased, whitespace-split
 * words; a problem is contaminated when any of its 8-grams is one of a
 * benchmark problem's).
 *
 * Problems come from ../shared/data/train, a quarter of them repeated: exactly,
 * in another spelling, or with one number changed (so the set holds exact and
 * near duplicates throughout, also in the naive side's subset); the
 * benchmarks from ../shared/data/benchmarks. Without those folders the
 * problems are generated and the labelled set is built from
 * test/data/fixtures/contamination-benchmark.jsonl (40 problems).
 */
import { readFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { type BenchmarkProblem, ContaminationIndex } from "../src/data/contamination.ts";
import {
  DecontaminateParams,
  findContamination,
  loadBenchmarks,
  PAPER_BENCHMARKS,
} from "../src/data/curate/steps/decontaminate.ts";
import { DedupeParams, findDuplicates } from "../src/data/curate/steps/dedupe.ts";
import type { DataRow } from "../src/data/row.ts";
import { equivalentAnswers } from "../src/data/same-answer.ts";
import { loadSource } from "../src/data/sources.ts";
import { jaccard, ngramHashes, sharedCount, textTokens } from "../src/data/text.ts";
import { seededRandom } from "../src/model/random.ts";
import { dataDir } from "../src/verify/gold-data.ts";
import { type CurateQuality, curateQuality, describeQuality } from "./curate-quality.ts";

/** The target. */
export const CURATE_BENCH_TARGET_ROWS_PER_S = 2000;

export interface CurateBenchOptions {
  /** Problems to deduplicate and decontaminate (default 10,000). */
  rows?: number;
  /** Problems the naive side compares before extrapolating (default 1,000). */
  baselineRows?: number;
  /** Cases per kind of the labelled contamination set (default 200). */
  perKind?: number;
  log?: (line: string) => void;
}

export interface CurateBenchResult {
  bench: "curate";
  rows: number;
  seconds: number;
  rows_per_s: number;
  exact_duplicates: number;
  near_duplicates: number;
  benchmark_hits: number;
  benchmark_problems: number;
  /** The naive all-pairs comparison, timed on `baseline_rows` rows and extrapolated to `rows`. */
  baseline_rows: number;
  baseline_seconds: number;
  baseline_rows_per_s: number;
  speedup: number;
  /** Rows dropped as benchmark paraphrases, and look-alikes kept. */
  benchmark_paraphrases: number;
  benchmark_lookalikes: number;
  /** On the baseline subset: rows both sides find (repeats, benchmark overlaps), and rows only one side finds. */
  subset_agree: number;
  subset_disagree: number;
  /** Recall per kind of leak and false positives on look-alikes: decontaminate vs open-r1's rule. */
  quality: CurateQuality;
  target_rows_per_s: number;
  cores: number;
  source: string;
}

/** Changes every number of `text` by a seeded amount (a "template sibling"). */
function vary(text: string, random: () => number): string {
  return text.replace(/\d+/g, (d) => String(Number(d.slice(0, 6)) + 1 + Math.floor(random() * 9)));
}

/** Changes one number of `text` (a near repeat: a typo, a changed constant). */
function varyOne(text: string, random: () => number): string {
  const numbers = [...text.matchAll(/\d+/g)];
  if (numbers.length === 0) return `${text} Give the answer.`;
  const m = numbers[Math.floor(random() * numbers.length)];
  const at = m.index ?? 0;
  return `${text.slice(0, at)}${Number(m[0].slice(0, 6)) + 1}${text.slice(at + m[0].length)}`;
}

const WORDS = (
  "find the number of ways value sum product of all positive integers such that triangle circle " +
  "area radius point line probability chosen random real solutions equation polynomial roots remainder " +
  "divided by largest smallest prime digits sequence terms ratio square cube angle degrees"
).split(" ");

/** A generated problem: 20-40 words and numbers. */
function generated(random: () => number): string {
  const n = 20 + Math.floor(random() * 20);
  return Array.from({ length: n }, () =>
    random() < 0.2 ? String(Math.floor(random() * 100)) : WORDS[Math.floor(random() * WORDS.length)],
  ).join(" ");
}

const row = (id: string, problem: string, answer: string, source: string): DataRow => ({
  id,
  problem,
  answer,
  provenance: { source, file: source, index: 0 },
  labels: {},
});

/** The bench's problems and benchmarks. */
async function benchData(count: number) {
  const random = seededRandom(7);
  const dir = dataDir();
  let base: DataRow[] = [];
  let benchmarks: { id: string; benchmark: string; problem: string; answer: string }[] = [];
  if (dir) {
    for (const f of ["math_train", "aime_1983_2023", "deepscaler_subset"]) {
      const loaded = await loadSource({ name: f, path: join(dir, "train", `${f}.jsonl`) });
      base.push(...loaded.rows);
    }
    benchmarks = await loadBenchmarks({
      dir: join(dir, "benchmarks"),
      names: PAPER_BENCHMARKS,
      fields: { problem: "problem", answer: "answer", solution: "solution", id: "id" },
    });
  } else {
    base = Array.from({ length: 5000 }, (_, i) =>
      row(`gen-${i}`, generated(random), String(i % 97), "generated"),
    );
    benchmarks = Array.from({ length: 1500 }, (_, i) => ({
      id: `bench-${i}`,
      benchmark: "generated",
      problem: generated(random),
      answer: String(i),
    }));
  }
  // A quarter of the rows repeat an earlier one: exactly, in another spelling (\dfrac, spaces,
  // case), or with one number changed; the rest are the base rows in turn (with their numbers
  // changed once the base is used up).
  const rows: DataRow[] = [];
  for (let next = 0; rows.length < count; ) {
    const n = rows.length;
    if (n >= 100 && random() < 0.25) {
      const earlier = rows[Math.floor(random() * n)];
      const kind = Math.floor(random() * 3);
      const problem =
        kind === 0
          ? earlier.problem
          : kind === 1
            ? `  ${earlier.problem.replace(/\\frac/g, "\\dfrac").toUpperCase()} `
            : varyOne(earlier.problem, random);
      rows.push(row(`${earlier.id}~${n}`, problem, earlier.answer, earlier.provenance.source));
      continue;
    }
    const b = base[next % base.length];
    const round = Math.floor(next / base.length);
    rows.push(
      row(
        `${b.id}#${round}`,
        round === 0 ? b.problem : vary(b.problem, random),
        b.answer,
        b.provenance.source,
      ),
    );
    next++;
  }
  return { rows, benchmarks, source: dir ? `${dir}/train with repeats` : "generated" };
}

/** The naive way: each row against every kept row and every benchmark problem. */
function naive(rows: DataRow[], benchGrams: Uint32Array[], p: DedupeParams, minOverlap: number) {
  const t0 = performance.now();
  const keptGrams: Uint32Array[] = [];
  const keptRows: DataRow[] = [];
  const dropped = new Set<string>();
  const texts = new Set<string>();
  for (const r of rows) {
    const tokens = textTokens(r.problem);
    const key = tokens.join(" ");
    if (texts.has(key)) {
      dropped.add(r.id);
      continue;
    }
    const grams = ngramHashes(tokens, p.ngram);
    let dup = false;
    for (let k = 0; k < keptGrams.length && !dup; k++)
      dup = jaccard(grams, keptGrams[k]) >= p.threshold && equivalentAnswers(keptRows[k].answer, r.answer);
    if (dup) {
      dropped.add(r.id);
      continue;
    }
    texts.add(key);
    keptGrams.push(grams);
    keptRows.push(r);
  }
  const t1 = performance.now();
  // Benchmark overlaps (the strict n-gram rule; the answers decide afterwards, as in the step).
  const overlapping = new Set<string>();
  for (const r of keptRows) {
    const grams = ngramHashes(textTokens(r.problem), 8);
    for (const b of benchGrams) {
      if (grams.length === 0) break;
      if (sharedCount(grams, b) / Math.min(grams.length, b.length) >= minOverlap) {
        overlapping.add(r.id);
        break;
      }
    }
  }
  const t2 = performance.now();
  return {
    dropped,
    overlapping,
    dedupeSeconds: (t1 - t0) / 1000,
    decontaminateSeconds: (t2 - t1) / 1000,
  };
}

/** The labelled set's benchmark problems: the real benchmarks, or the committed fixture. */
async function labelledSource(benchmarks: BenchmarkProblem[], fromShared: boolean) {
  if (fromShared) return { problems: benchmarks, source: "../shared/data/benchmarks" };
  const path = join(import.meta.dirname, "../test/data/fixtures/contamination-benchmark.jsonl");
  const problems = (await readFile(path, "utf8"))
    .trim()
    .split("\n")
    .map((l) => ({ ...(JSON.parse(l) as BenchmarkProblem), benchmark: "fixture" }));
  return { problems, source: "test/data/fixtures/contamination-benchmark.jsonl" };
}

/** Rows a pass drops or flags: repeats, and rows whose text overlaps a benchmark problem. */
function fastFindings(rows: DataRow[], params: DedupeParams, index: ContaminationIndex, minOverlap: number) {
  const dedupe = findDuplicates(rows, params);
  const found = new Set(dedupe.dropped.map((d) => d.row.id));
  for (const r of dedupe.kept) if (index.hits(r.problem, minOverlap).length > 0) found.add(r.id);
  return found;
}

export async function benchCurate(opts: CurateBenchOptions = {}): Promise<CurateBenchResult> {
  const count = opts.rows ?? 10_000;
  const subset = Math.min(count, opts.baselineRows ?? 1000);
  const log = opts.log ?? (() => {});
  const { rows, benchmarks, source } = await benchData(count);
  log(`${rows.length} problems (${source}), ${benchmarks.length} benchmark problems`);
  const params = DedupeParams.parse({});
  const decontaminate = DecontaminateParams.parse({ dir: "-" });
  const minOverlap = decontaminate.minOverlap;

  // Warm-up (JIT, the verifier's first parse) on a few rows, outside the timing.
  const warm = rows.slice(0, 200);
  const warmIndex = new ContaminationIndex(benchmarks.slice(0, 100), 8);
  findContamination(findDuplicates(warm, params).kept, warmIndex, decontaminate);

  const t0 = performance.now();
  const dedupe = findDuplicates(rows, params);
  const index = new ContaminationIndex(benchmarks, { ngram: 8, looseNgram: decontaminate.looseNgram });
  const clean = findContamination(dedupe.kept, index, decontaminate);
  const seconds = (performance.now() - t0) / 1000;
  const exact = dedupe.dropped.filter((d) => d.reason === "exact-duplicate").length;
  const relations = (r: string) => clean.hits.filter((h) => h.relation === r).length;
  log(
    `dedupe + decontaminate: ${seconds.toFixed(2)} s (${exact} exact, ${dedupe.dropped.length - exact} near ` +
      `duplicates, ${clean.dropped.length} benchmark problems dropped, ${relations("lookalike")} look-alikes kept)`,
  );

  // The naive side on the first `subset` rows, extrapolated: dedupe pairs grow as n^2, benchmark pairs as n.
  const part = rows.slice(0, subset);
  const benchGrams = benchmarks.map((b) => ngramHashes(textTokens(b.problem), 8));
  const slow = naive(part, benchGrams, params, minOverlap);
  const pairRatio = (count * (count - 1)) / Math.max(1, subset * (subset - 1));
  const baselineSeconds = slow.dedupeSeconds * pairRatio + slow.decontaminateSeconds * (count / subset);
  log(
    `naive on ${subset} rows: ${(slow.dedupeSeconds + slow.decontaminateSeconds).toFixed(2)} s, ` +
      `extrapolated to ${count}: ${baselineSeconds.toFixed(1)} s`,
  );

  // Both sides on the subset must find the same repeats and the same benchmark overlaps.
  const fast = fastFindings(part, params, index, minOverlap);
  const slowFound = new Set([...slow.dropped, ...slow.overlapping]);
  const agree = [...fast].filter((id) => slowFound.has(id)).length;
  const disagree = fast.size + slowFound.size - 2 * agree;

  const labelled = await labelledSource(benchmarks, source !== "generated");
  const quality = curateQuality(labelled.problems, labelled.source, opts.perKind ?? 200);
  log(describeQuality(quality));

  return {
    bench: "curate",
    rows: count,
    seconds: Math.round(seconds * 1000) / 1000,
    rows_per_s: Math.round(count / seconds),
    exact_duplicates: exact,
    near_duplicates: dedupe.dropped.length - exact,
    benchmark_hits: clean.dropped.length,
    benchmark_paraphrases: relations("paraphrase"),
    benchmark_lookalikes: relations("lookalike"),
    benchmark_problems: benchmarks.length,
    baseline_rows: subset,
    baseline_seconds: Math.round(baselineSeconds * 100) / 100,
    baseline_rows_per_s: Math.round(count / baselineSeconds),
    speedup: Math.round((10 * baselineSeconds) / seconds) / 10,
    subset_agree: agree,
    subset_disagree: disagree,
    quality,
    target_rows_per_s: CURATE_BENCH_TARGET_ROWS_PER_S,
    cores: availableParallelism(),
    source,
  };
}

/** A summary of the result: speed, then the labelled set's table. */
export function describeCurateBench(r: CurateBenchResult): string {
  return [
    `dedupe + decontamination of ${r.rows} problems against ${r.benchmark_problems} benchmark problems:`,
    `  MinHash/LSH + n-gram index: ${r.rows_per_s} rows/s (${r.seconds} s; target >= ${r.target_rows_per_s})`,
    `  naive all pairs:            ${r.baseline_rows_per_s} rows/s (${r.baseline_seconds} s, extrapolated from ${r.baseline_rows} rows)`,
    `  speed-up ${r.speedup}x; on the ${r.baseline_rows}-row subset both find the same rows: ${r.subset_agree} agree, ${r.subset_disagree} differ`,
    `  benchmark problems dropped ${r.benchmark_hits} (paraphrases ${r.benchmark_paraphrases}); look-alikes kept ${r.benchmark_lookalikes}`,
    describeQuality(r.quality),
  ].join("\n");
}
