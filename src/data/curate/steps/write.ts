/**
 * `write`: writes the rows into the run's output folder, as JSON Lines or
 * Parquet, and keeps them all (so a recipe can write at several points). Each
 * row has the fields the trainer reads, then provenance and labels:
 *
 *   {"id": .., "problem": .., "answer": .., "solution": .., "source": "math",
 *    "origin": "../shared/data/train/math_train.jsonl:12", "answer_kind": "integer", "pool": "hard", ...}
 *
 * (labels sit at the top level unless `labelsField` names an object to hold
 * them). The format is `format`, else the path's extension (".parquet" is
 * Parquet, anything else JSON Lines); the default path is train.jsonl, or
 * train.parquet for `format: parquet`.
 *
 * Parquet (parquet-write.ts) has the same fields as columns, in the same
 * order: id, problem, answer, solution (null where a row has none), source,
 * origin, then one column per label, typed by its values (strings, booleans,
 * 64-bit integers, doubles); a label whose values mix types, and the
 * `labelsField` object, are JSON columns that Parquet readers (ours, pandas
 * with pyarrow, DuckDB's json type) decode back to the values. A row without a
 * label has null in its column.
 *
 * The file is written to a temporary name and renamed, so a reader never sees
 * half of it.
 */
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../../../model/safetensors-write.ts";
import { encodeParquet } from "../../parquet-write.ts";
import { type DataRow, originOf } from "../../row.ts";
import { defineStep } from "../step.ts";

export const WriteParams = z
  .object({
    /** File name inside the output folder (default train.jsonl, or train.parquet with format parquet). */
    path: z.string().min(1).optional(),
    /** jsonl or parquet (default: by the path's extension, else jsonl). */
    format: z.enum(["jsonl", "parquet"]).optional(),
    /** Leave the solution out (smaller files; GRPO reads only problem and answer). */
    solution: z.boolean().default(true),
    /** Put labels in an object of this name instead of at the top level. */
    labelsField: z.string().min(1).optional(),
  })
  .strict();

/** The output record of a row. */
export function outputRecord(
  row: DataRow,
  p: Pick<z.output<typeof WriteParams>, "solution" | "labelsField">,
): Record<string, unknown> {
  const record: Record<string, unknown> = { id: row.id, problem: row.problem, answer: row.answer };
  if (p.solution && row.solution !== undefined) record.solution = row.solution;
  record.source = row.provenance.source;
  record.origin = originOf(row.provenance);
  if (p.labelsField) record[p.labelsField] = { ...row.labels };
  else for (const [k, v] of Object.entries(row.labels)) if (!(k in record)) record[k] = v;
  return record;
}

export const writeStep = defineStep({
  type: "write",
  summary:
    "write the rows as JSONL or Parquet (problem, answer, solution, provenance, labels) into the output folder",
  params: WriteParams,
  async run(rows, p, ctx) {
    const format = p.format ?? (p.path?.toLowerCase().endsWith(".parquet") ? "parquet" : "jsonl");
    const path = p.path ?? `train.${format}`;
    if (path.includes("..")) throw new Error(`write: path "${path}" must stay inside the output folder`);
    const file = join(ctx.outDir, path);
    await mkdir(dirname(file), { recursive: true });
    if (format === "parquet") {
      // Every row has the solution column (null without one), so the columns keep their order.
      const records = rows.map((row) => {
        const r = outputRecord(row, p);
        if (!p.solution || "solution" in r) return r;
        const { id, problem, answer, ...rest } = r;
        return { id, problem, answer, solution: null, ...rest };
      });
      const base = ["id", "problem", "answer", ...(p.solution ? ["solution"] : []), "source", "origin"];
      await writeFileAtomic(file, encodeParquet(records, base));
    } else {
      const text = rows.map((row) => JSON.stringify(outputRecord(row, p))).join("\n");
      await writeFileAtomic(file, rows.length > 0 ? `${text}\n` : "");
    }
    ctx.log(`write: ${rows.length} rows -> ${file}`);
    return {
      kept: rows,
      dropped: [],
      outputs: [file],
      notes: [
        `${rows.length} rows written to \`${path}\` (${format === "parquet" ? "Parquet" : "JSON Lines"}).`,
      ],
    };
  },
});
