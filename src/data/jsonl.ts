/**
 * JSON Lines files, read line by line with the line number kept, so a bad row
 * is reported as `file:line` (a broken JSON line, a row that is not an object).
 * Blank lines are skipped.
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";

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
