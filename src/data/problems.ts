/**
 * Math problems for training and held-out evaluation, from a JSONL file (the
 * layout of ../shared/data: one object per line with `problem` and `answer`,
 * field names configurable) or from the built-in arithmetic task. Every
 * problem keeps its dataset row (rewards read it) and where it came from
 * (`file:line`), so a bad row is reported by place.
 */
import { z } from "zod";
import { readJsonl } from "./jsonl.ts";
import { ArithmeticTaskOptions, arithmeticProblems } from "./synthetic/arithmetic.ts";

/** Problems from a JSONL file. */
export const JsonlProblemSource = z
  .object({
    /** Path of the .jsonl file. */
    path: z.string().min(1),
    /** Field holding the problem statement. Default "problem". */
    problemField: z.string().default("problem"),
    /** Field holding the gold answer (string or number). Default "answer". */
    answerField: z.string().default("answer"),
    /** Use only the first N valid rows. */
    limit: z.number().int().positive().optional(),
    /** A row missing a field: "error" stops before training (default), "skip" reports it and goes on. */
    onBadRow: z.enum(["error", "skip"]).default("error"),
  })
  .strict();

/** Problems of the built-in arithmetic task (src/data/synthetic/arithmetic.ts). */
export const ArithmeticProblemSource = z
  .object({
    synthetic: z.literal("arithmetic"),
    /** Difficulty knobs of the task; train and held-out sets must share them. */
    task: ArithmeticTaskOptions.default(ArithmeticTaskOptions.parse({})),
    count: z.number().int().positive(),
    /** Seed of the draws. Default 0. */
    seed: z.number().int().nonnegative().default(0),
  })
  .strict();

export const ProblemSource = z.union([JsonlProblemSource, ArithmeticProblemSource]);
export type ProblemSource = z.input<typeof ProblemSource>;

/** One problem: its statement, gold answer, full row and provenance. */
export interface Problem {
  id: string;
  problem: string;
  answer: string;
  row: Readonly<Record<string, unknown>>;
  /** "file:line" or "arithmetic:<id>". */
  origin: string;
}

/**
 * Loads the problems of `source` (`split` picks the arithmetic task's split). Paths are
 * resolved by the caller. Bad rows go to `warn` when skipped.
 */
export async function loadProblems(
  source: ProblemSource,
  split: "train" | "heldout",
  warn: (message: string) => void = console.warn,
): Promise<Problem[]> {
  const s = ProblemSource.parse(source);
  if ("synthetic" in s) {
    return arithmeticProblems({ ...s.task, split, count: s.count, seed: s.seed }).map((p) => ({
      id: p.id,
      problem: p.problem,
      answer: p.answer,
      row: { id: p.id, problem: p.problem, answer: p.answer, solution: p.solution },
      origin: `arithmetic:${p.id}`,
    }));
  }
  const out: Problem[] = [];
  let skipped = 0;
  const bad = (message: string) => {
    if (s.onBadRow === "error") throw new Error(`${message} (set onBadRow: skip to leave such rows out)`);
    skipped++;
    warn(`skipped ${message}`);
  };
  for await (const { line, value } of readJsonl(s.path, (e) => bad(e.message))) {
    const problem = value[s.problemField];
    const answer = value[s.answerField];
    if (typeof problem !== "string" || problem.trim() === "") {
      bad(`${s.path}:${line}: field "${s.problemField}" is missing or not a non-empty string`);
    } else if ((typeof answer !== "string" || answer.trim() === "") && typeof answer !== "number") {
      bad(`${s.path}:${line}: field "${s.answerField}" is missing or empty`);
    } else {
      const id = typeof value.id === "string" ? value.id : `${s.path}:${line}`;
      out.push({ id, problem, answer: String(answer), row: value, origin: `${s.path}:${line}` });
      if (s.limit && out.length >= s.limit) break;
    }
  }
  if (out.length === 0) throw new Error(`${s.path}: no usable problem (${skipped} rows skipped)`);
  return out;
}
