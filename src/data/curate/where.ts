/**
 * Selecting rows by source and labels, for a step's `where` and a mix pool:
 *
 *   where: { source: deepscaler, difficulty: hard }
 *   where: { source: [math, aime], level: [4, 5] }
 *
 * Every key must match: `source` is the row's source name, any other key a
 * label; a list matches any of its values. An empty `where` matches every row.
 */
import { z } from "zod";
import type { DataRow, LabelValue } from "../row.ts";

const LabelScalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

export const Where = z.record(z.string(), z.union([LabelScalar, z.array(LabelScalar).min(1)]));
export type Where = z.output<typeof Where>;

/** True when `row` matches every key of `where`. */
export function matchesWhere(row: DataRow, where: Where | undefined): boolean {
  if (!where) return true;
  for (const [key, wanted] of Object.entries(where)) {
    const value: LabelValue | undefined = key === "source" ? row.provenance.source : row.labels[key];
    const values = Array.isArray(wanted) ? wanted : [wanted];
    if (
      !values.some(
        (w) => w === value || (value !== undefined && value !== null && String(w) === String(value)),
      )
    )
      return false;
  }
  return true;
}

/** `where` as text: "source=deepscaler, difficulty=hard". */
export function describeWhere(where: Where | undefined): string {
  if (!where || Object.keys(where).length === 0) return "all rows";
  return Object.entries(where)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("|") : String(v)}`)
    .join(", ");
}
