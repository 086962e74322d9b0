/**
 * Records from data files, one plain object at a time with its place in the
 * file: JSON Lines (`.jsonl`, read with jsonl.ts so a broken line is named by
 * its number), a JSON array (`.json`; a `.json` file that is not an array is
 * read as JSON Lines, as the hub often names them), or Parquet (`.parquet`,
 * read with hyparquet in chunks of rows; every codec Parquet defines but LZO:
 * uncompressed, snappy, and gzip, brotli, zstd, lz4 through hyparquet-compressors).
 *
 * Parquet values are made JSON-friendly: 64-bit integers become numbers (or
 * strings past 2^53), dates ISO strings, byte arrays base64.
 */
import { existsSync } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { readJsonl } from "./jsonl.ts";

/** The file formats a source can be read from. */
export type FileFormat = "jsonl" | "json" | "parquet";

/** One record of a file: its value and its place (0-based index, 1-based line for JSON Lines). */
export interface FileRecord {
  value: Record<string, unknown>;
  index: number;
  line?: number;
}

/** A record that could not be read: its place and why. */
export interface FileRecordError {
  index: number;
  line?: number;
  reason: string;
}

/** The format of `path` by its extension (".jsonl", ".ndjson", ".json", ".parquet"), or null. */
export function formatOf(path: string): FileFormat | null {
  const ext = extname(path).toLowerCase();
  if (ext === ".jsonl" || ext === ".ndjson") return "jsonl";
  if (ext === ".json") return "json";
  if (ext === ".parquet") return "parquet";
  return null;
}

/**
 * The data file called `name` in `dir`: the first of `<dir>/<name><ext>` that exists for `ext`
 * in `extensions` (default: JSON Lines, then Parquet), else null.
 */
export function findDataFile(
  dir: string,
  name: string,
  extensions: readonly string[] = [".jsonl", ".parquet"],
): string | null {
  for (const ext of extensions) {
    const path = join(dir, `${name}${ext}`);
    if (existsSync(path)) return path;
  }
  return null;
}

/**
 * Yields the records of `path`. A record that cannot be read (broken JSON, not an
 * object) goes to `onBad` and reading goes on. `format` defaults to the extension's.
 */
export async function* readRecords(
  path: string,
  onBad: (error: FileRecordError) => void,
  format: FileFormat | null = formatOf(path),
): AsyncGenerator<FileRecord> {
  if (format === null) throw new Error(`${path}: unknown data format (expected .jsonl, .json or .parquet)`);
  if (format === "parquet") yield* readParquet(path);
  else if (format === "json" && (await startsWithBracket(path))) yield* readJsonArray(path, onBad);
  else yield* readJsonLines(path, onBad);
}

async function* readJsonLines(path: string, onBad: (e: FileRecordError) => void): AsyncGenerator<FileRecord> {
  let index = 0;
  const bad = (e: { line: number; message: string }) => {
    // JsonlRowError's message starts with "file:line: "; keep only the reason.
    onBad({ index: index++, line: e.line, reason: e.message.replace(/^.*?:\d+: /, "") });
  };
  for await (const { line, value } of readJsonl(path, bad)) yield { value, index: index++, line };
}

async function startsWithBracket(path: string): Promise<boolean> {
  const fh = await open(path, "r");
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(256), 0, 256, 0);
    return buffer.subarray(0, bytesRead).toString("utf8").trimStart().startsWith("[");
  } finally {
    await fh.close();
  }
}

async function* readJsonArray(path: string, onBad: (e: FileRecordError) => void): AsyncGenerator<FileRecord> {
  let items: unknown;
  try {
    items = JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(items)) throw new Error(`${path}: expected a JSON array of objects`);
  for (let index = 0; index < items.length; index++) {
    const value = items[index];
    if (typeof value !== "object" || value === null || Array.isArray(value))
      onBad({ index, reason: "not a JSON object" });
    else yield { value: value as Record<string, unknown>, index };
  }
}

/** Rows read from a Parquet file at a time (bounds memory on large files). */
const PARQUET_CHUNK = 10_000;

async function* readParquet(path: string): AsyncGenerator<FileRecord> {
  const file = await asyncBufferFromFile(path);
  let metadata: Awaited<ReturnType<typeof parquetMetadataAsync>>;
  try {
    metadata = await parquetMetadataAsync(file);
  } catch (err) {
    throw new Error(`${path}: not a readable Parquet file (${(err as Error).message})`);
  }
  const rows = Number(metadata.num_rows);
  for (let start = 0; start < rows; start += PARQUET_CHUNK) {
    const end = Math.min(rows, start + PARQUET_CHUNK);
    let chunk: Record<string, unknown>[];
    try {
      chunk = await parquetReadObjects({ file, metadata, rowStart: start, rowEnd: end, compressors });
    } catch (err) {
      throw new Error(`${path}: rows ${start}-${end - 1} could not be read (${(err as Error).message})`);
    }
    for (let i = 0; i < chunk.length; i++)
      yield { value: plainValue(chunk[i]) as Record<string, unknown>, index: start + i };
  }
}

/** A Parquet value as plain JSON data. */
function plainValue(v: unknown): unknown {
  if (typeof v === "bigint")
    return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER)
      ? Number(v)
      : String(v);
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString("base64");
  if (Array.isArray(v)) return v.map(plainValue);
  if (typeof v === "object" && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = plainValue(x);
    return out;
  }
  return v;
}
