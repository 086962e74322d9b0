/** Rows and step contexts for the curation tests. */
import type { StepContext } from "../../src/data/curate/step.ts";
import type { DataRow, LabelValue } from "../../src/data/row.ts";

/** A row of source `source` (default "fixture"), numbered by `index`. */
export function row(
  id: string,
  problem: string,
  answer: string,
  extra: { solution?: string; source?: string; labels?: Record<string, LabelValue>; index?: number } = {},
): DataRow {
  return {
    id,
    problem,
    answer,
    ...(extra.solution !== undefined ? { solution: extra.solution } : {}),
    provenance: {
      source: extra.source ?? "fixture",
      file: "fixture.jsonl",
      index: extra.index ?? 0,
      line: (extra.index ?? 0) + 1,
    },
    labels: { ...extra.labels },
  };
}

/** A step context writing into `outDir`, logging into `logs`. */
export function context(outDir: string, logs: string[] = [], seed = 0): StepContext {
  return {
    name: "test",
    log: (m) => logs.push(m),
    cacheDir: `${outDir}/cache`,
    outDir,
    signal: new AbortController().signal,
    seed,
    hub: {},
  };
}

/** Ids of rows. */
export const ids = (rows: readonly DataRow[]) => rows.map((r) => r.id);

/** Reasons of drops by id. */
export const reasons = (dropped: readonly { row: DataRow; reason: string }[]) =>
  Object.fromEntries(dropped.map((d) => [d.row.id, d.reason]));
