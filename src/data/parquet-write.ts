/**
 * Records (plain JSON objects, as the `write` step makes them) as a Parquet
 * file, with hyparquet-writer. One column per field, in the order fields first
 * appear; a record without a field has null there. Each column's type comes
 * from its values:
 *
 *   all strings                     STRING (UTF-8 byte array)
 *   all booleans                    BOOLEAN
 *   all integers (safe, |x| < 2^53) INT64
 *   all numbers, some not integers  DOUBLE
 *   anything else (objects, lists,  JSON (a UTF-8 byte array of converted type JSON, which
 *   values of mixed types)          Parquet readers, ours included, decode back to the values)
 *   only nulls                      STRING, all null
 *
 * Every column is optional (nullable). Pages are snappy-compressed.
 */
import { type ColumnSource, parquetWriteBuffer } from "hyparquet-writer";

type ColumnType = "STRING" | "BOOLEAN" | "INT64" | "DOUBLE" | "JSON";

/** The Parquet type of a column holding `values` (see the file's comment). */
export function columnType(values: readonly unknown[]): ColumnType {
  const present = values.filter((v) => v !== null && v !== undefined);
  if (present.length === 0 || present.every((v) => typeof v === "string")) return "STRING";
  if (present.every((v) => typeof v === "boolean")) return "BOOLEAN";
  if (present.every((v) => typeof v === "number" && Number.isFinite(v)))
    return present.every((v) => Number.isSafeInteger(v)) ? "INT64" : "DOUBLE";
  return "JSON";
}

/** The columns of `records`. */
export function parquetColumns(records: readonly Record<string, unknown>[]): ColumnSource[] {
  const names: string[] = [];
  const seen = new Set<string>();
  for (const record of records)
    for (const name of Object.keys(record))
      if (!seen.has(name)) {
        seen.add(name);
        names.push(name);
      }
  return names.map((name) => {
    const values = records.map((r) => r[name] ?? null);
    const type = columnType(values);
    const data = type === "INT64" ? values.map((v) => (v === null ? null : BigInt(v as number))) : values;
    return { name, data, type, nullable: true };
  });
}

/**
 * `records` as the bytes of a Parquet file. Without records, the file has no rows and the
 * STRING columns `emptyColumns`.
 */
export function encodeParquet(
  records: readonly Record<string, unknown>[],
  emptyColumns: readonly string[] = [],
): Uint8Array {
  const columnData: ColumnSource[] =
    records.length > 0
      ? parquetColumns(records)
      : emptyColumns.map((name) => ({ name, data: [], type: "STRING", nullable: true }));
  return new Uint8Array(parquetWriteBuffer({ columnData, createdBy: "reasonrl" }));
}
