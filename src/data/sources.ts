/**
 * Sources of problems for curation: a local file (JSON Lines, JSON or Parquet)
 * or a Hugging Face hub dataset split, with a mapping from the file's fields to
 * problem / answer / solution / id, and labels copied from other fields. Every
 * row keeps its provenance (source name, file, index, line).
 *
 * A row is bad, counted and reported with its place, never fatal, when it is
 * not a JSON object, has no problem text, or has neither an answer nor a
 * solution to take one from. A row with an empty answer but a solution goes
 * on: the `verifiable` step takes the last \boxed{} of the solution or drops it.
 */
import { z } from "zod";
import { type FileFormat, readRecords } from "./files.ts";
import { type HubOptions, hubDatasetFiles } from "./hub.ts";
import type { BadRow, DataRow, LabelValue } from "./row.ts";

/** Which field of a record holds what; a dotted path reads into nested objects ("meta.level"). */
export const FieldMap = z
  .object({
    problem: z.string().min(1).default("problem"),
    answer: z.string().min(1).default("answer"),
    solution: z.string().min(1).default("solution"),
    /** A unique id; rows without one get `<source>-<index>`. */
    id: z.string().min(1).default("id"),
  })
  .strict();

const SourceCommon = {
  /** The source's name: rows carry it as provenance, and steps and pools select by it. */
  name: z.string().regex(/^[\w.-]+$/, "letters, digits, '_', '.', '-'"),
  fields: FieldMap.default({ problem: "problem", answer: "answer", solution: "solution", id: "id" }),
  /** Labels copied from fields: label name -> field path, e.g. { level: "meta.level" }. */
  labels: z.record(z.string(), z.string()).default({}),
  /** Use only the first N good rows. */
  limit: z.number().int().positive().optional(),
};

/** Problems from a local file. */
export const FileSource = z
  .object({
    ...SourceCommon,
    /** The file: .jsonl, .json or .parquet (relative to the working directory). */
    path: z.string().min(1),
    /** Override the format the extension implies. */
    format: z.enum(["jsonl", "json", "parquet"]).optional(),
  })
  .strict();

/** Problems from a Hugging Face hub dataset, downloaded into the cache (see hub.ts). */
export const HubSource = z
  .object({
    ...SourceCommon,
    /** "owner/name" of the dataset, e.g. knoveleng/open-s1. */
    hub: z.string().regex(/^[\w.-]+\/[\w.-]+$/, "owner/name"),
    split: z.string().min(1).default("train"),
    revision: z.string().min(1).default("main"),
    /** Only files under this folder of the repository (a configuration). */
    under: z.string().optional(),
    /** Exact repository paths to read instead of the split's files. */
    files: z.array(z.string().min(1)).optional(),
  })
  .strict();

export const Source = z.union([FileSource, HubSource]);
export type Source = z.output<typeof Source>;
export type SourceInput = z.input<typeof Source>;

/** The rows of a source, its bad rows, and the files they came from. */
export interface LoadedSource {
  name: string;
  files: string[];
  rows: DataRow[];
  bad: BadRow[];
}

/** Reads a dotted field path ("meta.level") from a record; undefined when absent. */
export function fieldAt(record: Record<string, unknown>, path: string): unknown {
  if (path in record) return record[path];
  let node: unknown = record;
  for (const key of path.split(".")) {
    if (typeof node !== "object" || node === null) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/** A string or number field as trimmed text; "" when absent, null or of another type. */
function textField(value: unknown): string {
  if (typeof value === "string") return value.trim();
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return "";
}

function labelValue(value: unknown): LabelValue {
  if (value === undefined || value === null) return null;
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") return value;
  return JSON.stringify(value);
}

/** Loads every row of `source`, hub datasets through the cache. */
export async function loadSource(input: SourceInput, hub: HubOptions = {}): Promise<LoadedSource> {
  const source = Source.parse(input);
  const files: { path: string; name: string; format?: FileFormat }[] =
    "hub" in source
      ? (
          await hubDatasetFiles(
            {
              repo: source.hub,
              split: source.split,
              revision: source.revision,
              under: source.under,
              files: source.files,
            },
            hub,
          )
        ).map((f) => ({ path: f.path, name: f.hubName }))
      : [{ path: source.path, name: source.path, format: source.format }];

  const out: LoadedSource = { name: source.name, files: files.map((f) => f.name), rows: [], bad: [] };
  for (const file of files) {
    const bad = (place: { index: number; line?: number }, reason: string) =>
      out.bad.push({ source: source.name, file: file.name, ...place, reason });
    for await (const { value, index, line } of readRecords(
      file.path,
      (e) => bad({ index: e.index, line: e.line }, e.reason),
      file.format,
    )) {
      const place = line === undefined ? { index } : { index, line };
      const problem = textField(fieldAt(value, source.fields.problem));
      const answer = textField(fieldAt(value, source.fields.answer));
      const solution = textField(fieldAt(value, source.fields.solution));
      if (problem === "") {
        bad(place, `field "${source.fields.problem}" is missing or empty`);
        continue;
      }
      if (answer === "" && solution === "") {
        bad(place, `field "${source.fields.answer}" is missing or empty, and there is no solution`);
        continue;
      }
      const id = textField(fieldAt(value, source.fields.id)) || `${source.name}-${index}`;
      const labels: Record<string, LabelValue> = {};
      for (const [label, path] of Object.entries(source.labels))
        labels[label] = labelValue(fieldAt(value, path));
      out.rows.push({
        id,
        problem,
        answer,
        ...(solution ? { solution } : {}),
        provenance: { source: source.name, file: file.name, ...place },
        labels,
      });
      if (source.limit && out.rows.length >= source.limit) return out;
    }
  }
  return out;
}
