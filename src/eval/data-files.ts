/**
 * Benchmark data files on disk: JSON Lines (one object per line, read with
 * src/data/jsonl.ts so a broken line is named by file:line) or Parquet (read
 * with hyparquet; rows are named file#row). Either way a row comes back as a
 * plain object with where it came from.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { asyncBufferFromFile, parquetReadObjects } from "hyparquet";
import { type JsonlRowError, readJsonl } from "../data/jsonl.ts";

/** One row of a data file and its place there ("file:line" or "file#row"). */
export interface RawRow {
  value: Record<string, unknown>;
  origin: string;
}

/** The file extensions a benchmark can be read from, in the order they are looked for. */
export const DATA_EXTENSIONS = [".jsonl", ".parquet"] as const;

/** `<dir>/<name>.jsonl`, else `<dir>/<name>.parquet`, else null. */
export function findDataFile(dir: string, name: string): string | null {
  for (const ext of DATA_EXTENSIONS) {
    const path = join(dir, `${name}${ext}`);
    if (existsSync(path)) return path;
  }
  return null;
}

/**
 * The rows of a .jsonl (also .json holding JSON Lines) or .parquet file. A JSONL line that is
 * not a JSON object goes to `onBad` with its file:line (default: throw).
 */
export async function readRows(
  path: string,
  onBad: (error: JsonlRowError) => void = (e) => {
    throw e;
  },
): Promise<RawRow[]> {
  if (path.endsWith(".parquet")) return readParquetRows(path);
  if (!path.endsWith(".jsonl") && !path.endsWith(".json"))
    throw new Error(`${path}: benchmark data must be .jsonl or .parquet`);
  const rows: RawRow[] = [];
  for await (const { line, value } of readJsonl(path, onBad)) rows.push({ value, origin: `${path}:${line}` });
  return rows;
}

async function readParquetRows(path: string): Promise<RawRow[]> {
  let objects: Record<string, unknown>[];
  try {
    objects = await parquetReadObjects({ file: await asyncBufferFromFile(path) });
  } catch (err) {
    throw new Error(`${path}: cannot read Parquet (${(err as Error).message})`);
  }
  return objects.map((o, i) => ({ value: plainValues(o), origin: `${path}#${i + 1}` }));
}

/** Parquet INT64 columns come back as bigint: numbers when exact, else strings. */
function plainValues(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(row)) {
    out[key] =
      typeof v === "bigint" ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : (v as unknown);
  }
  return out;
}
