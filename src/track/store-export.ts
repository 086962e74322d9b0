/**
 * A run store as Parquet files, one per table (`reasonrl runs export`), for
 * pandas, DuckDB and Hugging Face datasets. Plain columns only, no nesting:
 *
 *   meta.parquet           key, value
 *   steps.parquet          stage, step, time, then one column per metric (the metrics.jsonl
 *                          record flattened: nested fields joined with "_", lists as JSON text)
 *   prompts.parquet        id, text
 *   rollouts.parquet       the table's columns, with `rewards` split into one column per term
 *                          (reward_<term>)
 *   evals.parquet, eval_samples.parquet, events.parquet   the table's columns
 *
 * Column types follow the table's declared types (INTEGER: INT64, REAL: DOUBLE, TEXT: STRING);
 * metric columns are DOUBLE for numbers, BOOLEAN for true/false, STRING otherwise. Every column
 * is nullable. Each file is written under a temporary name and renamed.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type ColumnSource, parquetWriteBuffer } from "hyparquet-writer";
import { writeFileAtomic } from "../model/safetensors-write.ts";
import { RunStoreReader } from "./store-read.ts";

/** The tables exported, in the order written. */
export const EXPORTED_TABLES = [
  "meta",
  "steps",
  "prompts",
  "rollouts",
  "evals",
  "eval_samples",
  "events",
] as const;

type ParquetType = "INT64" | "DOUBLE" | "STRING" | "BOOLEAN";

/** One exported file: its path and rows. */
export interface ExportedFile {
  table: string;
  path: string;
  rows: number;
}

/** Exports the store at `storePath` into folder `out` (made if needed); returns the files written. */
export async function exportStoreParquet(storePath: string, out: string): Promise<ExportedFile[]> {
  const reader = RunStoreReader.open(storePath);
  try {
    await mkdir(out, { recursive: true });
    const files: ExportedFile[] = [];
    for (const table of EXPORTED_TABLES) {
      const columns = tableColumns(reader, table);
      const path = join(out, `${table}.parquet`);
      const bytes = parquetWriteBuffer({ columnData: columns, createdBy: "reasonrl" });
      await writeFileAtomic(path, new Uint8Array(bytes));
      files.push({ table, path, rows: columns[0]?.data.length ?? 0 });
    }
    return files;
  } finally {
    reader.close();
  }
}

/** The columns of `table` as Parquet column data (steps' metrics and rollouts' rewards flattened). */
function tableColumns(reader: RunStoreReader, table: (typeof EXPORTED_TABLES)[number]): ColumnSource[] {
  const declared = reader.columns(table);
  const rows = reader.table(table);
  if (table === "steps") {
    const metrics = rows.map((r) => flatten(JSON.parse(r.metrics as string)));
    const fixed = declared.filter((c) => c.name !== "metrics");
    // The stage and step are columns already; a metric named as another column gets a prefix.
    const names = keysOf(metrics).filter((k) => k !== "stage" && k !== "step");
    const taken = new Set(fixed.map((c) => c.name));
    return [
      ...fixed.map((c) => column(c.name, sqlType(c.type), rows)),
      ...names.map((k) => ({
        ...column(k, valueType(metrics.map((m) => m[k])), metrics),
        name: taken.has(k) ? `metric_${k}` : k,
      })),
    ];
  }
  if (table === "rollouts") {
    const rewards = rows.map((r) =>
      Object.fromEntries(
        Object.entries(JSON.parse(r.rewards as string) as Record<string, unknown>).map(([k, v]) => [
          `reward_${k}`,
          v,
        ]),
      ),
    );
    return [
      ...declared.filter((c) => c.name !== "rewards").map((c) => column(c.name, sqlType(c.type), rows)),
      ...keysOf(rewards).map((k) => column(k, "DOUBLE", rewards)),
    ];
  }
  return declared.map((c) => column(c.name, sqlType(c.type), rows));
}

/** A Parquet column of field `name` of `rows`, converted to `type` (missing values: null). */
function column(name: string, type: ParquetType, rows: readonly Record<string, unknown>[]): ColumnSource {
  const data = rows.map((r) => {
    const v = r[name];
    if (v === null || v === undefined) return null;
    if (type === "INT64") return BigInt(v as number);
    if (type === "DOUBLE") return Number(v);
    if (type === "BOOLEAN") return Boolean(v);
    return typeof v === "string" ? v : JSON.stringify(v);
  });
  return { name, data, type, nullable: true };
}

function sqlType(declared: string): ParquetType {
  if (declared === "INTEGER") return "INT64";
  if (declared === "REAL") return "DOUBLE";
  return "STRING";
}

/** DOUBLE for numbers, BOOLEAN for true/false, else STRING (text, or JSON text of anything else). */
function valueType(values: readonly unknown[]): ParquetType {
  const present = values.filter((v) => v !== null && v !== undefined);
  if (present.length > 0 && present.every((v) => typeof v === "number")) return "DOUBLE";
  if (present.length > 0 && present.every((v) => typeof v === "boolean")) return "BOOLEAN";
  return "STRING";
}

/** `record` with nested objects' fields as top-level fields joined with "_" (lists stay values). */
function flatten(record: Record<string, unknown>, prefix = ""): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(record)) {
    if (typeof v === "object" && v !== null && !Array.isArray(v))
      Object.assign(out, flatten(v as Record<string, unknown>, `${prefix}${k}_`));
    else out[`${prefix}${k}`] = v;
  }
  return out;
}

/** The keys of `records`, in the order they first appear. */
function keysOf(records: readonly Record<string, unknown>[]): string[] {
  const keys = new Set<string>();
  for (const r of records) for (const k of Object.keys(r)) keys.add(k);
  return [...keys];
}
