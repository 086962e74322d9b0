/**
 * `reasonrl data inspect FILE`: what a data file holds, before curating it.
 * Rows and bad rows (with their lines), each top-level field's fill rate, the
 * kinds of gold answers (answer-kind.ts), length percentiles of problem,
 * solution and answer in characters, and exact duplicates of the problem text
 * (after the normalisation of text.ts).
 */
import { basename } from "node:path";
import { ANSWER_KINDS, type AnswerKind, answerKind } from "./answer-kind.ts";
import { type FileFormat, readRecords } from "./files.ts";
import { fieldAt } from "./sources.ts";
import { exactKey } from "./text.ts";

/** Which fields hold the problem, answer and solution (defaults: those names). */
export interface InspectFields {
  problem?: string;
  answer?: string;
  solution?: string;
  id?: string;
}

/** Length percentiles (nearest rank) of a text field, in characters, over rows that have it. */
export interface Percentiles {
  count: number;
  min: number;
  p5: number;
  p25: number;
  p50: number;
  p75: number;
  p95: number;
  max: number;
  mean: number;
}

export interface InspectResult {
  file: string;
  rows: number;
  bad: number;
  /** The first bad rows with their place. */
  badRows: { index: number; line?: number; reason: string }[];
  /** Each top-level field, in order of first appearance: rows where it is present and not empty. */
  fields: { name: string; filled: number; fill: number }[];
  answerField: string;
  answerKinds: Record<AnswerKind, number>;
  lengths: Record<"problem" | "solution" | "answer", Percentiles | null>;
  duplicates: {
    /** Rows whose problem text repeats an earlier row's. */
    rows: number;
    /** Distinct texts that occur more than once. */
    groups: number;
    /** Ids (or row places) of the first groups. */
    examples: string[][];
  };
}

const BAD_ROWS_KEPT = 20;
const DUPLICATE_EXAMPLES = 5;

/** The nearest-rank percentiles of `values` (null when empty). */
export function percentiles(values: number[]): Percentiles | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  return {
    count: sorted.length,
    min: sorted[0],
    p5: at(0.05),
    p25: at(0.25),
    p50: at(0.5),
    p75: at(0.75),
    p95: at(0.95),
    max: sorted[sorted.length - 1],
    mean: Math.round(mean),
  };
}

const isFilled = (v: unknown) =>
  v !== undefined &&
  v !== null &&
  !(typeof v === "string" && v.trim() === "") &&
  !(Array.isArray(v) && v.length === 0);

/** Reads `path` and describes it. */
export async function inspectFile(
  path: string,
  fields: InspectFields = {},
  format?: FileFormat,
): Promise<InspectResult> {
  const f = { problem: "problem", answer: "answer", solution: "solution", id: "id", ...fields };
  const result: InspectResult = {
    file: path,
    rows: 0,
    bad: 0,
    badRows: [],
    fields: [],
    answerField: f.answer,
    answerKinds: Object.fromEntries(ANSWER_KINDS.map((k) => [k, 0])) as Record<AnswerKind, number>,
    lengths: { problem: null, solution: null, answer: null },
    duplicates: { rows: 0, groups: 0, examples: [] },
  };
  const filled = new Map<string, number>();
  const lengths = { problem: [] as number[], solution: [] as number[], answer: [] as number[] };
  const groups = new Map<string, string[]>();
  const onBad = (e: { index: number; line?: number; reason: string }) => {
    result.bad++;
    if (result.badRows.length < BAD_ROWS_KEPT) result.badRows.push(e);
  };
  for await (const { value, index, line } of readRecords(path, onBad, format ?? undefined)) {
    result.rows++;
    for (const [k, v] of Object.entries(value)) {
      if (!filled.has(k)) filled.set(k, 0);
      if (isFilled(v)) filled.set(k, (filled.get(k) ?? 0) + 1);
    }
    const text = (name: string) => {
      const v = fieldAt(value, name);
      return typeof v === "string" ? v : typeof v === "number" ? String(v) : "";
    };
    const problem = text(f.problem);
    const answer = text(f.answer).trim();
    const solution = text(f.solution);
    if (problem) lengths.problem.push(problem.length);
    if (solution) lengths.solution.push(solution.length);
    if (answer) lengths.answer.push(answer.length);
    result.answerKinds[answerKind(answer)]++;
    if (problem) {
      const key = exactKey(problem);
      const name = text(f.id) || (line !== undefined ? `line ${line}` : `row ${index}`);
      const group = groups.get(key);
      if (group) group.push(name);
      else groups.set(key, [name]);
    }
  }
  result.fields = [...filled].map(([name, n]) => ({
    name,
    filled: n,
    fill: result.rows ? Math.round((1000 * n) / result.rows) / 1000 : 0,
  }));
  result.lengths = {
    problem: percentiles(lengths.problem),
    solution: percentiles(lengths.solution),
    answer: percentiles(lengths.answer),
  };
  for (const ids of groups.values()) {
    if (ids.length < 2) continue;
    result.duplicates.groups++;
    result.duplicates.rows += ids.length - 1;
    if (result.duplicates.examples.length < DUPLICATE_EXAMPLES)
      result.duplicates.examples.push(ids.slice(0, 4));
  }
  return result;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** The result as text for the terminal. */
export function describeInspect(r: InspectResult): string {
  const lines = [
    `${basename(r.file)}: ${r.rows} rows, ${r.bad} bad`,
    ...r.badRows.map(
      (b) => `  bad ${b.line !== undefined ? `line ${b.line}` : `row ${b.index}`}: ${b.reason}`,
    ),
    `fields: ${r.fields.map((x) => `${x.name} ${pct(x.fill)}`).join(", ")}`,
    `answer kinds (${r.answerField}): ${ANSWER_KINDS.filter((k) => r.answerKinds[k] > 0)
      .map((k) => `${k} ${r.answerKinds[k]}`)
      .join(", ")}`,
    "length (chars)   count    min     p5    p25    p50    p75    p95     max",
  ];
  for (const name of ["problem", "solution", "answer"] as const) {
    const p = r.lengths[name];
    if (!p) continue;
    const cols = [p.count, p.min, p.p5, p.p25, p.p50, p.p75, p.p95]
      .map((v) => String(v).padStart(6))
      .join(" ");
    lines.push(`  ${name.padEnd(13)} ${cols} ${String(p.max).padStart(7)}`);
  }
  lines.push(
    `exact duplicates: ${r.duplicates.rows} rows repeat an earlier problem (${r.duplicates.groups} texts)` +
      (r.duplicates.examples.length
        ? `, e.g. ${r.duplicates.examples.map((g) => g.join(" = ")).join("; ")}`
        : ""),
  );
  return lines.join("\n");
}
