/**
 * The evaluation loop: for every benchmark problem, n samples from a
 * ChatGenerator, each graded by the verifier and appended to the sample cache
 * as soon as its generation call returns.
 *
 * Work is planned from the cache: a problem's missing sample indices are
 * generated, nothing else. Problems missing the same indices are sent
 * together, `concurrency` problems per chat() call, with n = the number of
 * missing samples, `parallelCalls` calls at a time. Each call's seed is derived from the run's seed, the
 * benchmark, its first problem's id and first sample index, so a sampled
 * (temperature > 0) evaluation is reproducible for a fixed --seed and
 * --concurrency, and greedy decoding gives the same completions however the
 * run was interrupted and resumed.
 *
 * A sample whose request failed (an endpoint's 500 or 400: sampler.ts) is
 * graded as wrong, recorded with its error, and asked for again by the next
 * run. When the first samples of a run all fail (8, or all there are), the
 * run stops: the server refuses every request, and a table of zeros would be
 * a wrong result. A stop asked for by `signal` starts no new call and ends
 * quietly with `stopped` set; what was cached stays.
 */
import { z } from "zod";
import { derivedSeed } from "../model/random.ts";
import type { VerifierPool } from "../verify/pool.ts";
import type { Benchmark, EvalProblem } from "./benchmarks.ts";
import { gradeCompletion } from "./grading.ts";
import { problemConversation } from "./prompts.ts";
import type { ChatSample, EvalSampler } from "./sampler.ts";
import { problemHash, type SampleRecord, type SampleStore } from "./samples.ts";

/** How samples are drawn (the defaults are the paper's evaluation: spec section 5). */
export const EvalSettings = z.object({
  /** The prompt template, with `{problem}`. */
  promptTemplate: z.string().includes("{problem}"),
  /** An optional system prompt. */
  system: z.string().optional(),
  /** Samples per problem. */
  n: z.number().int().positive().default(1),
  temperature: z.number().min(0).default(0.6),
  topP: z.number().gt(0).max(1).default(0.95),
  /** New tokens at most per completion (the paper: 32768). */
  maxTokens: z.number().int().positive().default(32768),
  /** Base seed of the sampling (lighteval's vLLM default: 1234). */
  seed: z.number().int().default(1234),
  /** Problems per chat() call. */
  concurrency: z.number().int().positive().default(8),
  /**
   * chat() calls in flight at once (default 1). An HTTP endpoint is best served one problem per
   * call with many calls in flight: a slow completion then holds back only its own problem.
   */
  parallelCalls: z.number().int().positive().default(1),
});
export type EvalSettings = z.output<typeof EvalSettings>;

/** Progress reports of a run. */
export interface EvalHooks {
  /** Before generating: samples to generate, and samples found in the cache. */
  onStart?(todo: number, cached: number): void;
  /** After each generation call: samples generated so far of `todo`. */
  onProgress?(done: number, todo: number, benchmark: string): void;
  /** Stops the run when aborted: no new call starts; an endpoint's requests in flight are cut. */
  signal?: AbortSignal;
}

/** Samples of a run that must all fail, with none succeeding, before the run is given up. */
export const GIVE_UP_AFTER_FAILURES = 8;

/** Every problem's samples 0..n-1 by benchmark name: records[problem][sample]. */
export type BenchmarkSamples = Map<string, SampleRecord[][]>;

/** What a run did, besides its samples. */
export interface RunStats {
  /** Samples asked for in this run (failed ones included). */
  generated: number;
  /** Of those, samples whose request failed. */
  failed: number;
  cached: number;
  /** Cached samples graded again because the gold answer changed. */
  regraded: number;
  seconds: number;
}

/** A problem and the sample indices it still needs. */
interface WorkItem {
  benchmark: string;
  problem: EvalProblem;
  missing: number[];
}

/**
 * The work the cache leaves: each problem's sample indices that are missing, failed, or made
 * for another text of the problem. Cached samples whose gold answer changed are regraded.
 */
async function planWork(
  benchmarks: readonly Benchmark[],
  n: number,
  store: SampleStore,
  pool: VerifierPool,
  stats: RunStats,
): Promise<WorkItem[]> {
  const work: WorkItem[] = [];
  for (const b of benchmarks) {
    for (const problem of b.problems) {
      const cached = store.samples(b.name, problem.id);
      const hash = problemHash(problem.problem);
      const missing: number[] = [];
      for (let s = 0; s < n; s++) {
        const r = cached.get(s);
        if (!r || r.error !== undefined || r.problem_hash !== hash) missing.push(s);
        else {
          stats.cached++;
          if (r.gold !== problem.answer) {
            store.replace(await regrade(pool, r, problem.answer));
            stats.regraded++;
          }
        }
      }
      if (missing.length > 0) work.push({ benchmark: b.name, problem, missing });
    }
  }
  return work;
}

/**
 * Runs the evaluation: generates the samples the cache lacks, grades and stores them, and
 * returns every benchmark's samples 0..n-1 per problem (none when stopped).
 */
export async function runEvaluation(
  generator: EvalSampler,
  benchmarks: readonly Benchmark[],
  settingsInput: z.input<typeof EvalSettings>,
  store: SampleStore,
  pool: VerifierPool,
  hooks: EvalHooks = {},
): Promise<{ samples: BenchmarkSamples; stats: RunStats; stopped: boolean }> {
  const settings = EvalSettings.parse(settingsInput);
  const started = performance.now();
  const stats: RunStats = { generated: 0, failed: 0, cached: 0, regraded: 0, seconds: 0 };
  const signal = hooks.signal;
  const work = await planWork(benchmarks, settings.n, store, pool, stats);
  const todo = work.reduce((a, w) => a + w.missing.length, 0);
  hooks.onStart?.(todo, stats.cached);

  const runBatch = async (batch: WorkItem[]) => {
    const { benchmark, missing } = batch[0];
    const conversations = batch.map((w) =>
      problemConversation(settings.promptTemplate, w.problem.problem, settings.system),
    );
    const results = await generator.sample(
      conversations,
      {
        n: missing.length,
        temperature: settings.temperature,
        topP: settings.topP,
        maxTokens: settings.maxTokens,
        seed: callSeed(settings.seed, benchmark, batch[0].problem.id, missing[0]),
      },
      signal,
    );
    checkShape(generator, results, batch.length, missing.length);
    const records = await Promise.all(
      batch.flatMap((w, i) =>
        missing.map((sample, j) => gradeSample(pool, benchmark, w.problem, sample, results[i][j])),
      ),
    );
    await store.append(records);
    stats.generated += records.length;
    stats.failed += records.filter((r) => r.error !== undefined).length;
    hooks.onProgress?.(stats.generated, todo, benchmark);
    const firstError = records.find((r) => r.error !== undefined)?.error;
    if (stats.failed === stats.generated && stats.failed >= Math.min(GIVE_UP_AFTER_FAILURES, todo))
      throw new Error(
        `the first ${stats.failed} sample(s) all failed, so the run stops (rerun to retry them): ${firstError}`,
      );
  };
  // `parallelCalls` workers take batches in order; after a failure or a stop no new batch
  // starts, and the calls in flight finish (and are cached) before the error is thrown.
  const queue = batches(work, settings.concurrency);
  let failure: { error: unknown } | null = null;
  const worker = async () => {
    for (let batch = queue.shift(); batch && !failure && !signal?.aborted; batch = queue.shift()) {
      try {
        await runBatch(batch);
      } catch (error) {
        if (!signal?.aborted) failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: settings.parallelCalls }, worker));
  if (failure) throw (failure as { error: unknown }).error;
  stats.seconds = (performance.now() - started) / 1000;
  if (signal?.aborted) return { samples: new Map(), stats, stopped: true };

  const samples: BenchmarkSamples = new Map();
  for (const b of benchmarks) {
    samples.set(
      b.name,
      b.problems.map((p) => {
        const cached = store.samples(b.name, p.id);
        return Array.from({ length: settings.n }, (_, s) => cached.get(s) as SampleRecord);
      }),
    );
  }
  return { samples, stats, stopped: false };
}

/** Consecutive work items of one benchmark needing the same samples, `size` at most per batch. */
function batches(work: readonly WorkItem[], size: number): WorkItem[][] {
  const out: WorkItem[][] = [];
  let current: WorkItem[] = [];
  const same = (a: WorkItem, b: WorkItem) =>
    a.benchmark === b.benchmark && a.missing.join() === b.missing.join();
  for (const w of work) {
    if (current.length > 0 && (current.length >= size || !same(current[0], w))) {
      out.push(current);
      current = [];
    }
    current.push(w);
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** A 31-bit seed from the run's seed and a call's first sample (its benchmark, problem and index). */
export function callSeed(seed: number, benchmark: string, problemId: string, sample: number): number {
  return derivedSeed(seed, `${benchmark}\u0000${problemId}\u0000${sample}`);
}

function checkShape(generator: EvalSampler, results: ChatSample[][], conversations: number, n: number): void {
  const ok = results.length === conversations && results.every((r) => r.length === n);
  if (!ok)
    throw new Error(
      `${generator.name}: asked for ${n} completion(s) of ${conversations} conversation(s), got [${results.map((r) => r.length).join(", ")}]`,
    );
}

async function gradeSample(
  pool: VerifierPool,
  benchmark: string,
  problem: EvalProblem,
  sample: number,
  c: ChatSample,
): Promise<SampleRecord> {
  const made = { benchmark, problem_id: problem.id, sample, gold: problem.answer };
  const problem_hash = problemHash(problem.problem);
  if (c.error !== undefined)
    return {
      ...made,
      problem_hash,
      completion: "",
      answer: null,
      correct: false,
      tokens: null,
      finish_reason: null,
      error: c.error,
    };
  const grade = await gradeCompletion(pool, problem.answer, c.text);
  const record: SampleRecord = {
    ...made,
    problem_hash,
    completion: c.text,
    answer: grade.answer,
    correct: grade.correct,
    tokens: c.tokens,
    finish_reason: c.finishReason,
  };
  if (grade.problem) record.grading = grade.problem;
  return record;
}

async function regrade(pool: VerifierPool, r: SampleRecord, gold: string): Promise<SampleRecord> {
  const grade = await gradeCompletion(pool, gold, r.completion);
  const { grading: _, ...rest } = r;
  return {
    ...rest,
    gold,
    answer: grade.answer,
    correct: grade.correct,
    ...(grade.problem ? { grading: grade.problem } : {}),
  };
}
