/**
 * The benchmarks: the paper's five, built in with where their data lives and
 * how a row gives a problem and a gold answer, and custom ones from a JSONL
 * file with `problem` and `answer` fields.
 *
 * A built-in benchmark is read from `--data-dir` when given (`<name>.jsonl` or
 * `<name>.parquet`, e.g. ../shared/data/benchmarks, whose rows all carry
 * `id`, `problem` and `answer`), else from its Hugging Face dataset, the one
 * lighteval/open-rs evaluated on (../shared/research/open-rs-spec.md section
 * 5), through the dataset cache the curation sources use (src/data/hub.ts).
 * Files are read with src/data/files.ts. Field names are tried in order, so
 * one mapping reads both layouts:
 *
 * | name | hub dataset (split) | problem | gold answer |
 * | --- | --- | --- | --- |
 * | aime24 | HuggingFaceH4/aime_2024 (train) | problem | answer (integer) |
 * | math500 | HuggingFaceH4/MATH-500 (test) | problem | answer (= last \boxed{} of solution) |
 * | amc23 | knoveleng/AMC-23 (train) | problem | answer (a float upstream: 27.0 -> "27") |
 * | minerva | knoveleng/Minerva-Math (train) | problem | answer, else the last \boxed{} of solution |
 * | olympiadbench | knoveleng/OlympiadBench (train) | problem, else question | answer, else final_answer (a list, joined) |
 *
 * Gold answers are LaTeX or numbers without `\boxed{}` or surrounding `$`;
 * the verifier reads them with its "gold" extraction (grading.ts).
 */
import { basename, extname } from "node:path";
import { type FileRecordError, findDataFile, readRecords } from "../data/files.ts";
import { type HubOptions, hubDatasetFiles } from "../data/hub.ts";
import { boxedContent } from "../verify/boxed.ts";

/** Where a benchmark's data is and how its rows are read. */
export interface BenchmarkSpec {
  /** Short name: the --benchmarks key, the data file's name, the results' key. */
  name: string;
  /** Column header of the results table. */
  title: string;
  /** The Hugging Face dataset and split (built-ins only). */
  hub?: { repo: string; split: string };
  /** Fields holding the problem statement, tried in order. */
  problemFields: string[];
  /** Fields holding the gold answer, tried in order (a string, a number, or a list of strings). */
  answerFields: string[];
  /** When no answer field is set: the gold is the last \boxed{} of this field. */
  solutionField?: string;
  /** Rows of the full benchmark (a data file with another count is reported). */
  rows?: number;
}

/** The paper's five benchmarks, in the column order of its table. */
export const BUILTIN_BENCHMARKS: readonly BenchmarkSpec[] = [
  {
    name: "aime24",
    title: "AIME24",
    hub: { repo: "HuggingFaceH4/aime_2024", split: "train" },
    problemFields: ["problem"],
    answerFields: ["answer"],
    rows: 30,
  },
  {
    name: "math500",
    title: "MATH-500",
    hub: { repo: "HuggingFaceH4/MATH-500", split: "test" },
    problemFields: ["problem"],
    answerFields: ["answer"],
    solutionField: "solution",
    rows: 500,
  },
  {
    name: "amc23",
    title: "AMC23",
    hub: { repo: "knoveleng/AMC-23", split: "train" },
    problemFields: ["problem"],
    answerFields: ["answer"],
    rows: 40,
  },
  {
    name: "minerva",
    title: "Minerva",
    hub: { repo: "knoveleng/Minerva-Math", split: "train" },
    problemFields: ["problem"],
    answerFields: ["answer"],
    solutionField: "solution",
    rows: 272,
  },
  {
    name: "olympiadbench",
    title: "OlympiadBench",
    hub: { repo: "knoveleng/OlympiadBench", split: "train" },
    problemFields: ["problem", "question"],
    answerFields: ["answer", "final_answer"],
    rows: 675,
  },
];

/** The names of the built-in benchmarks, in table order. */
export const BUILTIN_NAMES = BUILTIN_BENCHMARKS.map((b) => b.name);

/** The built-in benchmark called `name`; throws listing the known names. */
export function builtinBenchmark(name: string): BenchmarkSpec {
  const spec = BUILTIN_BENCHMARKS.find((b) => b.name === name);
  if (!spec) throw new Error(`unknown benchmark "${name}" (known: ${BUILTIN_NAMES.join(", ")})`);
  return spec;
}

/** One row of a data file and its place there ("file:line", or "file#row" counting from 1). */
export interface RawRow {
  value: Record<string, unknown>;
  origin: string;
}

/** A custom benchmark from a JSONL file: its name is the file's, fields `problem` and `answer`. */
export function customBenchmarkSpec(path: string): BenchmarkSpec {
  const name = basename(path, extname(path));
  return { name, title: name, problemFields: ["problem"], answerFields: ["answer"] };
}

/** One problem of a benchmark. */
export interface EvalProblem {
  /** Stable id (the row's `id`, else `<benchmark>-<row number>`): the key of cached samples. */
  id: string;
  problem: string;
  /** The gold answer. */
  answer: string;
  /** Where the row came from (file:line, file#row). */
  origin: string;
}

/** A benchmark ready to evaluate. */
export interface Benchmark {
  name: string;
  title: string;
  /** The file(s) the problems were read from. */
  source: string;
  problems: EvalProblem[];
  /** Rows left out as unusable (with onBadRow "skip"). */
  skipped: number;
}

/** How to load benchmarks. */
export interface LoadOptions extends HubOptions {
  /** Folder of `<name>.jsonl` / `<name>.parquet` files; when set, the hub is not used. */
  dataDir?: string;
  /** A row without a usable problem or answer: "error" (default) stops, "skip" leaves it out. */
  onBadRow?: "error" | "skip";
  /** Receives warnings (skipped rows, unexpected row counts). */
  warn?: (message: string) => void;
}

/** Loads a built-in benchmark (from --data-dir or the hub) or a custom one (a spec without `hub`, from `path`). */
export async function loadBenchmark(
  spec: BenchmarkSpec,
  options: LoadOptions & { path?: string } = {},
): Promise<Benchmark> {
  const warn = options.warn ?? console.warn;
  const bad: string[] = [];
  const onBad = (message: string) => bad.push(message);
  let files: string[];
  if (options.path) files = [options.path];
  else if (options.dataDir) {
    const file = findDataFile(options.dataDir, spec.name);
    if (!file) throw new Error(`no ${spec.name}.jsonl or ${spec.name}.parquet in ${options.dataDir}`);
    files = [file];
  } else if (spec.hub) {
    try {
      files = (await hubDatasetFiles(spec.hub, options)).map((f) => f.path);
    } catch (err) {
      throw new Error(
        `${(err as Error).message}; or put ${spec.name}.jsonl or ${spec.name}.parquet in a data folder (dataDir) to read it from there`,
      );
    }
  } else throw new Error(`benchmark ${spec.name} has no data file`);

  const rows: RawRow[] = [];
  for (const file of files) {
    const badRecord = (e: FileRecordError) => onBad(`${placeOf(file, e)}: ${e.reason}`);
    for await (const record of readRecords(file, badRecord))
      rows.push({ value: record.value, origin: placeOf(file, record) });
  }
  const problems = rowsToProblems(spec, rows, onBad);
  if (bad.length > 0) {
    if (options.onBadRow !== "skip") {
      const shown = bad.slice(0, 10).join("\n  ");
      const more = bad.length > 10 ? `\n  ... and ${bad.length - 10} more` : "";
      throw new Error(
        `${spec.name}: ${bad.length} unusable row(s):\n  ${shown}${more}\n(skipping bad rows leaves them out)`,
      );
    }
    for (const message of bad) warn(`skipped ${message}`);
  }
  if (problems.length === 0) throw new Error(`${spec.name}: no usable problem in ${files.join(", ")}`);
  if (spec.rows !== undefined && problems.length !== spec.rows)
    warn(`${spec.name}: ${problems.length} problems, the benchmark has ${spec.rows}`);
  return { name: spec.name, title: spec.title, source: files.join(", "), problems, skipped: bad.length };
}

/** Problems from rows; a row without a problem or gold answer goes to `onBad` as "origin: reason". */
export function rowsToProblems(
  spec: BenchmarkSpec,
  rows: readonly RawRow[],
  onBad: (message: string) => void,
): EvalProblem[] {
  const out: EvalProblem[] = [];
  const seen = new Set<string>();
  rows.forEach(({ value, origin }, index) => {
    const problem = firstText(value, spec.problemFields);
    if (problem === null) {
      onBad(`${origin}: no problem (field ${spec.problemFields.join(" or ")} missing or empty)`);
      return;
    }
    let answer = firstAnswer(value, spec.answerFields);
    if (answer === null && spec.solutionField) {
      const solution = value[spec.solutionField];
      answer = typeof solution === "string" ? boxedContent(solution, "last") : null;
    }
    if (answer === null || answer === "") {
      const fields = [
        ...spec.answerFields,
        ...(spec.solutionField ? [`a \\boxed{} in ${spec.solutionField}`] : []),
      ];
      onBad(`${origin}: no gold answer (${fields.join(" or ")} missing or empty)`);
      return;
    }
    const raw = value.id;
    let id = typeof raw === "string" || typeof raw === "number" ? String(raw) : `${spec.name}-${index + 1}`;
    if (seen.has(id)) id = `${id}#${index + 1}`;
    seen.add(id);
    out.push({ id, problem, answer, origin });
  });
  return out;
}

/** "file:line" for a JSON Lines row, else "file#row" (counting from 1). */
function placeOf(file: string, at: { index: number; line?: number }): string {
  return at.line !== undefined ? `${file}:${at.line}` : `${file}#${at.index + 1}`;
}

function firstText(row: Record<string, unknown>, fields: readonly string[]): string | null {
  for (const f of fields) {
    const v = row[f];
    if (typeof v === "string" && v.trim() !== "") return v;
  }
  return null;
}

/** A gold answer as text: strings trimmed and unwrapped from `$...$`, numbers printed, lists joined. */
function firstAnswer(row: Record<string, unknown>, fields: readonly string[]): string | null {
  for (const f of fields) {
    const v = row[f];
    if (typeof v === "number" && Number.isFinite(v)) return String(v);
    if (typeof v === "string" && v.trim() !== "") return unwrapDollars(v.trim());
    if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "string"))
      return v.map((x) => unwrapDollars(x.trim())).join(", ");
  }
  return null;
}

function unwrapDollars(s: string): string {
  const m = /^\$+([^$]*)\$+$/.exec(s);
  return m ? m[1].trim() : s;
}
