/**
 * The per-problem cache of the steps that call models (difficulty, judge), so
 * that a stopped or killed run resumes where it was:
 *
 *   <cacheDir>/<label>-<hash>.jsonl   one JSON line per problem, appended (and fsynced) as
 *                                     each batch of problems finishes
 *   <cacheDir>/<label>-<hash>.json    the settings the hash was taken of, for people
 *
 * The hash is of everything that shapes a result (the model's identity, the
 * prompt, the sampling settings, ...): other settings make another file, so
 * results made otherwise are never mixed. Inside a file each line carries a
 * `key`, the problem's identity (`problemKey`: a hash of its text and gold
 * answer), so the same problem met again, under another id or in another
 * recipe, is not asked again.
 *
 * A kill can leave a half-written last line: it is cut off when the file is
 * opened. Lines that do not parse, or are not records of the step's shape,
 * are counted and ignored; a key met twice keeps its last line.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../../model/safetensors-write.ts";
import { appendJsonlLog, readJsonlLog } from "../jsonl.ts";

/** What every cached record has: the problem's key. */
export interface KeyedRecord {
  key: string;
}

/** The hex digest of `text`, cut to `length` characters. */
function digest(text: string, length: number): string {
  return createHash("sha256").update(text).digest("hex").slice(0, length);
}

/** A problem's identity in caches: a hash of its text and its gold answer (either may be ""). */
export function problemKey(problem: string, answer: string): string {
  return digest(`${problem}\u0000${answer}`, 24);
}

/** Letters, digits, '.', '-' and '_' of `label`, at most 40 of them ("" becomes "cache"). */
function safeLabel(label: string): string {
  const cleaned = label.replace(/[^\w.-]+/g, "_").replace(/^[._]+/, "");
  return cleaned.slice(-40) || "cache";
}

export class ResultCache<R extends KeyedRecord> {
  readonly #records: Map<string, R>;

  private constructor(
    /** The JSONL file. */
    readonly path: string,
    records: Map<string, R>,
    /** Lines ignored when the file was read (half-written, broken, or not a record). */
    readonly ignoredLines: number,
  ) {
    this.#records = records;
  }

  /**
   * Opens (or starts) the cache of `settings` in `dir`: the file is
   * `<label>-<hash of settings>.jsonl`. `isRecord` tells a valid line.
   */
  static async open<R extends KeyedRecord>(
    dir: string,
    label: string,
    settings: Record<string, unknown>,
    isRecord: (value: unknown) => value is R,
  ): Promise<ResultCache<R>> {
    await mkdir(dir, { recursive: true });
    const settingsText = JSON.stringify(settings, null, 2);
    const base = join(dir, `${safeLabel(label)}-${digest(settingsText, 16)}`);
    const path = `${base}.jsonl`;
    if (!existsSync(`${base}.json`)) await writeFileAtomic(`${base}.json`, `${settingsText}\n`);
    const log = await readJsonlLog(path, isRecord);
    // A key met twice keeps its last line.
    const records = new Map(log.records.map((r): [string, R] => [r.key, r]));
    return new ResultCache(path, records, log.ignored);
  }

  /** The cached record of a problem key. */
  get(key: string): R | undefined {
    return this.#records.get(key);
  }

  has(key: string): boolean {
    return this.#records.has(key);
  }

  /** Number of problems cached. */
  get size(): number {
    return this.#records.size;
  }

  /** Keeps `records` and appends them to the file in one write, then fsyncs it. */
  async append(records: readonly R[]): Promise<void> {
    for (const r of records) this.#records.set(r.key, r);
    await appendJsonlLog(this.path, records);
  }
}
