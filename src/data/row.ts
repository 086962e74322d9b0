/**
 * The row that flows through data curation: a problem, its gold answer and
 * worked solution, where it came from, and labels the steps add (answer kind,
 * pool, later difficulty). Rows that could not be read are `BadRow`s, kept
 * with their place in the file so they can be reported.
 */

/** Where a row came from. */
export interface Provenance {
  /** The name of the source in the recipe (or the file name for `data inspect`). */
  source: string;
  /** The file read: a path, or `hf://datasets/<owner>/<name>@<revision>/<path>` for the hub. */
  file: string;
  /** 0-based position of the row among the file's rows (bad rows included, blank lines not). */
  index: number;
  /** 1-based line number, for JSON Lines files. */
  line?: number;
}

/** Values a label can take (written as they are into the output). */
export type LabelValue = string | number | boolean | null;

/** One problem in curation. Steps may set `answer` (from the solution) and add labels. */
export interface DataRow {
  /** The source's id field when it has one, else `<source>-<index>`. */
  id: string;
  problem: string;
  /** The gold answer; "" when the source gave none (the `verifiable` step may take it from the solution). */
  answer: string;
  /** The worked solution, when the source has one. */
  solution?: string;
  provenance: Provenance;
  labels: Record<string, LabelValue>;
}

/** A row that could not be used, and why. */
export interface BadRow {
  source: string;
  file: string;
  index: number;
  line?: number;
  reason: string;
}

/** "file:line" for JSON Lines, "file#index" otherwise. */
export function originOf(place: { file: string; index: number; line?: number }): string {
  return place.line !== undefined ? `${place.file}:${place.line}` : `${place.file}#${place.index}`;
}
