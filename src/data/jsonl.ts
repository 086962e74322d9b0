/**
 * JSON Lines files, read line by line with the line number kept, so a bad row
 * is reported as `file:line` (a broken JSON line, a row that is not an object).
 * Blank lines are skipped.
 *
 * Also the append-only JSON Lines logs that resumable work keeps (the
 * evaluation's samples.jsonl, the curation steps' result caches): records
 * appended and flushed as they are made, and read back after a kill, which
 * can leave a half-written last line.
 */
import { createReadStream, existsSync } from "node:fs";
import { type FileHandle, open, readFile, stat, truncate } from "node:fs/promises";
import { createInterface } from "node:readline";
import { fileWriteError } from "../model/safetensors-write.ts";

/** One row of a JSONL file and where it came from. */
export interface JsonlRow {
  /** 1-based line number in the file. */
  line: number;
  value: Record<string, unknown>;
}

/** A row that could not be read, with its place in the file. */
export class JsonlRowError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
  }
}

/** Yields the rows of `path`; a line that is not a JSON object is passed to `onBad` (default: throw). */
export async function* readJsonl(
  path: string,
  onBad: (error: JsonlRowError) => void = (e) => {
    throw e;
  },
): AsyncGenerator<JsonlRow> {
  const info = await stat(path).catch(() => null);
  if (!info) throw new Error(`${path}: file not found`);
  if (!info.isFile()) throw new Error(`${path}: not a file (a JSONL file was expected)`);
  const lines = createInterface({
    input: createReadStream(path, "utf8"),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let line = 0;
  for await (const text of lines) {
    line++;
    if (text.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      onBad(new JsonlRowError(path, line, `not valid JSON (${(err as Error).message})`));
      continue;
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      onBad(new JsonlRowError(path, line, "not a JSON object"));
      continue;
    }
    yield { line, value: value as Record<string, unknown> };
  }
}

/** What an append-only log held: its records, and how many lines were ignored. */
export interface JsonlLog<R> {
  records: R[];
  /** Lines ignored: a half-written last line, lines that do not parse or fail `isRecord`. */
  ignored: number;
}

/**
 * Reads the append-only log at `path` (none yet: no records). A half-written last line (the
 * process was killed while appending) is cut off the file, so the next append starts clean.
 */
export async function readJsonlLog<R>(
  path: string,
  isRecord: (value: unknown) => value is R,
): Promise<JsonlLog<R>> {
  const log: JsonlLog<R> = { records: [], ignored: 0 };
  if (!existsSync(path)) return log;
  const text = await readFile(path, "utf8");
  const end = text.lastIndexOf("\n") + 1;
  if (end < text.length) {
    await truncate(path, Buffer.byteLength(text.slice(0, end)));
    log.ignored++;
  }
  for (const line of text.slice(0, end).split("\n")) {
    if (line.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      log.ignored++;
      continue;
    }
    if (isRecord(value)) log.records.push(value);
    else log.ignored++;
  }
  return log;
}

/**
 * Appends `records` to the log at `path` as JSON lines, in one write, then flushes it to disk.
 * When the write fails (disk full, ...) the file is cut back to its length before, so it never
 * keeps part of a line; the error names `path`.
 */
export async function appendJsonlLog(path: string, records: readonly unknown[]): Promise<void> {
  if (records.length === 0) return;
  const bytes = Buffer.from(records.map((r) => `${JSON.stringify(r)}\n`).join(""));
  let handle: FileHandle;
  try {
    handle = await open(path, "a");
  } catch (err) {
    throw fileWriteError(path, err);
  }
  let before = -1;
  try {
    before = (await handle.stat()).size;
    for (let done = 0; done < bytes.length; )
      done += (await handle.write(bytes, done, bytes.length - done)).bytesWritten;
    await handle.sync();
  } catch (err) {
    if (before >= 0) await handle.truncate(before).catch(() => {});
    throw fileWriteError(path, err);
  } finally {
    await handle.close();
  }
}
