/**
 * results.json: an evaluation's numbers, per benchmark and averaged, built
 * from the graded samples (metrics.ts defines each number), and read back by
 * `reasonrl eval compare`.
 *
 * Lengths are measured only where they are known: the share cut at max tokens
 * over the samples with a finish reason, the mean tokens over the samples with
 * a count (an endpoint may give neither: openai-client.ts); the samples left
 * out are counted, and a number with nothing to measure is null. Failed
 * samples (their request failed) count as wrong in every metric and are
 * listed with their errors.
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
  /** Share of completions cut at max_tokens, over those with a known finish reason (null: none). */
  truncated: number | null;
  /** Mean completion length in tokens, over those with a known count (null: none). */
  mean_tokens: number | null;
  /** Completions whose token count is unknown (the server did not say), left out of mean_tokens. */
  unknown_tokens: number;
  /** Completions whose finish reason is unknown, left out of truncated. */
  unknown_finish: number;
  /** Completions whose grading timed out or failed (counted as wrong). */
  grading_failures: number;
  /** Samples whose request failed (counted as wrong; a rerun asks for them again). */
  failed_samples: number;
}

/** A sample whose request failed. */
export interface FailedSample {
  benchmark: string;
  problem_id: string;
  sample: number;
  error: string;
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
  truncated: number | null;
  mean_tokens: number | null;
  unknown_tokens: number;
  unknown_finish: number;
  failed_samples: number;
  /** Every failed sample with its error. */
  failures: FailedSample[];
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
  return {
    name: benchmark.name,
    title: benchmark.title,
    source: benchmark.source,
    problems: records.length,
    skipped_rows: benchmark.skipped,
    metrics,
    ...lengths(records.flat()),
    grading_failures: records.flat().filter((s) => s.grading !== undefined).length,
  };
}

/** The length figures of some samples (see the file's comment). */
function lengths(samples: readonly SampleRecord[]) {
  const done = samples.filter((s) => s.error === undefined);
  const finished = done.filter((s) => s.finish_reason !== null);
  const counts = done.flatMap((s) => (s.tokens === null ? [] : [s.tokens]));
  return {
    truncated:
      finished.length === 0
        ? null
        : finished.filter((s) => s.finish_reason === "length").length / finished.length,
    mean_tokens: counts.length === 0 ? null : counts.reduce((a, b) => a + b, 0) / counts.length,
    unknown_tokens: done.length - counts.length,
    unknown_finish: done.length - finished.length,
    failed_samples: samples.length - done.length,
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
  const failures = all.flatMap((s) =>
    s.error === undefined
      ? []
      : [{ benchmark: s.benchmark, problem_id: s.problem_id, sample: s.sample, error: s.error }],
  );
  return {
    version: 1,
    model: args.model,
    target: args.target,
    settings: { ...settings, k: ks },
    benchmarks,
    average,
    ...lengths(all),
    failures,
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
