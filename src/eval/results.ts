/**
 * results.json: an evaluation's numbers, per benchmark and averaged, built
 * from the graded samples (metrics.ts defines each number), and read back by
 * `reasonrl eval compare`.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Benchmark } from "./benchmarks.ts";
import { averageEstimate, type Estimate, majAtK, meanEstimate, passAtK } from "./metrics.ts";
import type { BenchmarkSamples, RunStats } from "./runner.ts";
import type { SampleRecord } from "./samples.ts";

/** One benchmark's results. */
export interface BenchmarkResult {
  name: string;
  /** Column header ("AIME24"). */
  title: string;
  /** Where the problems were read from. */
  source: string;
  problems: number;
  /** Rows of the data left out as unusable. */
  skipped_rows: number;
  /** "pass@1", "pass@k", "maj@k" -> mean over problems with its 95% interval. */
  metrics: Record<string, Estimate>;
  /** Share of completions cut at max_tokens. */
  truncated: number;
  /** Mean completion length, in tokens. */
  mean_tokens: number;
  /** Completions whose grading timed out or failed (counted as wrong). */
  grading_failures: number;
}

/** The settings that shaped the samples. */
export interface ResultSettings {
  /** "lighteval", "deepseek" or the template file. */
  prompt: string;
  system: string | null;
  n: number;
  k: number[];
  temperature: number;
  top_p: number;
  max_tokens: number;
  seed: number;
  /** --limit: problems per benchmark, or null for all. */
  limit: number | null;
}

/** The content of results.json. */
export interface EvalResults {
  version: 1;
  /** The row label of the tables. */
  model: string;
  /** The generator's own description ("local models/x", "endpoint http://..."). */
  target: string;
  settings: ResultSettings;
  benchmarks: BenchmarkResult[];
  /** Unweighted mean over the benchmarks of each metric (the paper's "Avg"). */
  average: Record<string, Estimate>;
  truncated: number;
  mean_tokens: number;
  run: RunStats;
  created: string;
}

/** The metric names reported for n samples and the k list: pass@k for each k, maj@k for k > 1. */
export function metricNames(ks: readonly number[]): string[] {
  return [...ks.map((k) => `pass@${k}`), ...ks.filter((k) => k > 1).map((k) => `maj@${k}`)];
}

/** One benchmark's metrics from its samples (records[problem][sample], all n present). */
export function benchmarkResult(
  benchmark: Benchmark,
  records: readonly SampleRecord[][],
  ks: readonly number[],
): BenchmarkResult {
  const metrics: Record<string, Estimate> = {};
  for (const k of ks) {
    metrics[`pass@${k}`] = meanEstimate(
      records.map((r) => passAtK(r.length, r.filter((s) => s.correct).length, k)),
    );
  }
  for (const k of ks.filter((k) => k > 1)) {
    metrics[`maj@${k}`] = meanEstimate(records.map((r) => majAtK(r, k)));
  }
  const all = records.flat();
  return {
    name: benchmark.name,
    title: benchmark.title,
    source: benchmark.source,
    problems: records.length,
    skipped_rows: benchmark.skipped,
    metrics,
    truncated: share(all, (s) => s.finish_reason === "length"),
    mean_tokens: mean(all.map((s) => s.tokens)),
    grading_failures: all.filter((s) => s.grading !== undefined).length,
  };
}

/** results.json's content from a run's samples. */
export function buildResults(args: {
  model: string;
  target: string;
  settings: ResultSettings;
  benchmarks: readonly Benchmark[];
  samples: BenchmarkSamples;
  stats: RunStats;
}): EvalResults {
  const { settings } = args;
  const ks = settings.k.filter((k) => k <= settings.n);
  const benchmarks = args.benchmarks.map((b) => benchmarkResult(b, args.samples.get(b.name) ?? [], ks));
  const average: Record<string, Estimate> = {};
  for (const name of metricNames(ks)) average[name] = averageEstimate(benchmarks.map((b) => b.metrics[name]));
  const all = [...args.samples.values()].flat(2);
  return {
    version: 1,
    model: args.model,
    target: args.target,
    settings: { ...settings, k: ks },
    benchmarks,
    average,
    truncated: share(all, (s) => s.finish_reason === "length"),
    mean_tokens: mean(all.map((s) => s.tokens)),
    run: args.stats,
    created: new Date().toISOString(),
  };
}

/** Reads `<dir>/results.json` (or a results.json path). */
export async function readResults(dirOrFile: string): Promise<EvalResults> {
  const path = dirOrFile.endsWith(".json") ? dirOrFile : join(dirOrFile, "results.json");
  let value: EvalResults;
  try {
    value = JSON.parse(await readFile(path, "utf8")) as EvalResults;
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as Error).message}`);
  }
  if (value?.version !== 1 || !Array.isArray(value.benchmarks))
    throw new Error(`${path} is not a reasonrl eval results.json`);
  return value;
}

function share<T>(xs: readonly T[], pred: (x: T) => boolean): number {
  return xs.length === 0 ? 0 : xs.filter(pred).length / xs.length;
}

function mean(xs: readonly number[]): number {
  return xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
}
