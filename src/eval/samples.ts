/**
 * The sample cache of an output folder: samples.jsonl, one graded completion
 * per line, appended as each generation call finishes. An interrupted
 * evaluation finds there what was done and generates only the rest; at the
 * end the file is rewritten in order (benchmark, problem, sample), atomically.
 *
 * A kill can leave a half-written last line: it is cut off when the file is
 * opened. Lines that do not parse are counted and dropped.
 *
 * A sample whose request failed (see OpenAIChatGenerator) is kept with its
 * error, so the results can report it, and counts as missing for the next run,
 * which asks for it again. So does a sample of a problem whose text changed
 * since (its `problem_hash` differs).
 */
import { createHash } from "node:crypto";
import { appendJsonlLog, readJsonlLog } from "../data/jsonl.ts";
import type { FinishReason } from "../generate/types.ts";
import { writeFileAtomic } from "../model/safetensors-write.ts";

/** One graded completion (or failed request), as a line of samples.jsonl. */
export interface SampleRecord {
  benchmark: string;
  problem_id: string;
  /** Sample index within the problem, 0-based. */
  sample: number;
  /** The gold answer it was graded against. */
  gold: string;
  /** problemHash() of the problem's text when the sample was made. */
  problem_hash: string;
  /** The completion ("" when the request failed). */
  completion: string;
  /** The extracted answer (the verifier's canonical rendering), or null: maj@k's vote. */
  answer: string | null;
  correct: boolean;
  /** Completion tokens, or null when the engine did not say (and when the request failed). */
  tokens: number | null;
  /** Why the completion ended, or null when the engine did not say (and when the request failed). */
  finish_reason: FinishReason | null;
  /** "timeout" or "error" when grading failed (the sample then counts as wrong). */
  grading?: "timeout" | "error";
  /** Why the request for this sample failed (the sample then counts as wrong, and is asked for again next run). */
  error?: string;
}

/** The hash of a problem's text that ties a sample to it (16 hex digits of its SHA-256). */
export function problemHash(problem: string): string {
  return createHash("sha256").update(problem).digest("hex").slice(0, 16);
}

function isRecord(v: unknown): v is SampleRecord {
  const r = v as SampleRecord;
  return (
    typeof r === "object" &&
    r !== null &&
    typeof r.benchmark === "string" &&
    typeof r.problem_id === "string" &&
    Number.isInteger(r.sample) &&
    typeof r.problem_hash === "string" &&
    typeof r.completion === "string" &&
    typeof r.correct === "boolean" &&
    (typeof r.tokens === "number" || r.tokens === null) &&
    (r.finish_reason === "stop" || r.finish_reason === "length" || r.finish_reason === null) &&
    (r.error === undefined || typeof r.error === "string")
  );
}

const key = (benchmark: string, problemId: string) => `${benchmark}\u0000${problemId}`;

/** The samples of an output folder, in memory and on disk. */
export class SampleStore {
  /** Lines dropped when the file was read (broken or not a sample). */
  readonly dropped: number;
  /** Samples by problem (`key`), each by its sample index. */
  readonly #byProblem = new Map<string, Map<number, SampleRecord>>();

  private constructor(
    readonly path: string,
    dropped: number,
  ) {
    this.dropped = dropped;
  }

  /** Opens (or starts) the cache at `path`, cutting off a half-written last line. */
  static async open(path: string): Promise<SampleStore> {
    const log = await readJsonlLog(path, isRecord);
    const store = new SampleStore(path, log.ignored);
    store.#keep(log.records);
    return store;
  }

  /** The cached samples of one problem, by sample index. */
  samples(benchmark: string, problemId: string): ReadonlyMap<number, SampleRecord> {
    return this.#byProblem.get(key(benchmark, problemId)) ?? new Map();
  }

  /** Number of cached samples. */
  get size(): number {
    let n = 0;
    for (const m of this.#byProblem.values()) n += m.size;
    return n;
  }

  /** Keeps `records` and appends them to the file (one write, then fsync). */
  async append(records: readonly SampleRecord[]): Promise<void> {
    this.#keep(records);
    await appendJsonlLog(this.path, records);
  }

  /** Files `records` under their problem, a later record replacing one with the same index. */
  #keep(records: readonly SampleRecord[]): void {
    for (const r of records) {
      const k = key(r.benchmark, r.problem_id);
      let samples = this.#byProblem.get(k);
      if (!samples) {
        samples = new Map();
        this.#byProblem.set(k, samples);
      }
      samples.set(r.sample, r);
    }
  }

  /** Replaces a cached record in memory (e.g. regraded); written by the next rewrite(). */
  replace(record: SampleRecord): void {
    this.#byProblem.get(key(record.benchmark, record.problem_id))?.set(record.sample, record);
  }

  /**
   * Rewrites the file with the problems of `order` first (in that order, samples by index), then
   * every other cached sample as it was; through a temporary file and a rename.
   */
  async rewrite(order: ReadonlyArray<{ benchmark: string; problemId: string }>): Promise<void> {
    const lines: string[] = [];
    const done = new Set<string>();
    const emit = (k: string) => {
      if (done.has(k)) return;
      done.add(k);
      const samples = [...(this.#byProblem.get(k)?.values() ?? [])].sort((a, b) => a.sample - b.sample);
      for (const r of samples) lines.push(JSON.stringify(r));
    };
    for (const { benchmark, problemId } of order) emit(key(benchmark, problemId));
    for (const k of this.#byProblem.keys()) emit(k);
    await writeFileAtomic(this.path, lines.map((l) => `${l}\n`).join(""));
  }
}
