/**
 * A built-in synthetic task with verifiable answers: multi-step integer
 * arithmetic ("Compute 37+48-15."), small enough for a tiny model trained from
 * scratch on a laptop CPU. Problems come from a seed (the same options and seed
 * give the same problems, in the same order), with a reference reasoning trace
 * for SFT and, optionally, deliberately weak traces (one arithmetic slip) so that
 * SFT gives a weak start that RL can improve.
 *
 * Train / held-out split: a problem's split is a function of its expression
 * alone (a 32-bit hash of the text, compared with heldoutFraction), never of the
 * seed, the draw order or the other options. An expression therefore belongs to
 * exactly one split, and no problem text can be in both, whatever seeds and
 * difficulty settings the two sets were drawn with (as long as heldoutFraction is
 * the same). Within a set, problems are distinct when `unique` is on (default).
 */
import { z } from "zod";
import { mix32, seededRandom } from "../../model/random.ts";
import { hashString } from "../text.ts";
import {
  type ArithmeticOp,
  expressionText,
  referenceTrace,
  slippedTrace,
  solveSteps,
  THINK_CLOSE,
  THINK_OPEN,
  traceCompletion,
} from "./arithmetic-steps.ts";

export {
  type ArithmeticOp,
  type ArithmeticStep,
  expressionText,
  expressionValue,
  referenceTrace,
  renderTrace,
  type Slip,
  type SlippedTrace,
  slippedTrace,
  solveSteps,
  THINK_CLOSE,
  THINK_OPEN,
  traceCompletion,
} from "./arithmetic-steps.ts";

/** The split a problem belongs to. */
export type ArithmeticSplit = "train" | "heldout";

/** The task's difficulty knobs and split, shared by every set drawn from it. */
const taskShape = {
  /** Fewest operands of an expression (>= 2). Default 2. */
  minOperands: z.number().int().min(2).max(8).default(2),
  /** Most operands of an expression (<= 8). Default 4. */
  maxOperands: z.number().int().min(2).max(8).default(4),
  /** Fewest digits of an operand (1: 0-9, 2: 10-99, ...). Default 1. */
  minDigits: z.number().int().min(1).max(4).default(1),
  /** Most digits of an operand. Default 2. */
  maxDigits: z.number().int().min(1).max(4).default(2),
  /** Operators drawn uniformly between operands; "*" binds tighter, as usual. Default ["+", "-"]. */
  ops: z
    .array(z.enum(["+", "-", "*"]))
    .min(1)
    .default(["+", "-"])
    .refine((ops) => new Set(ops).size === ops.length, "operators must be distinct"),
  /** Allow negative intermediate values and answers; when false such draws are rejected. Default false. */
  allowNegative: z.boolean().default(false),
  /** Bound on |value| of every step and the answer; larger draws are rejected. Default 999. */
  maxValue: z.number().int().positive().default(999),
  /** Share of all expressions that belong to the held-out split (by hash). Default 0.2. */
  heldoutFraction: z.number().gt(0).lt(1).default(0.2),
};

type TaskKnobs = {
  minOperands: number;
  maxOperands: number;
  minDigits: number;
  maxDigits: number;
};

function checkRanges(o: TaskKnobs, ctx: z.RefinementCtx): void {
  if (o.minOperands > o.maxOperands)
    ctx.addIssue({ code: "custom", message: "minOperands exceeds maxOperands", path: ["minOperands"] });
  if (o.minDigits > o.maxDigits)
    ctx.addIssue({ code: "custom", message: "minDigits exceeds maxDigits", path: ["minDigits"] });
}

/** The arithmetic task's options (difficulty and split), with the defaults documented per field. */
export const ArithmeticTaskOptions = z.object(taskShape).superRefine(checkRanges);
export type ArithmeticTaskOptions = z.input<typeof ArithmeticTaskOptions>;

/** Options of one set of problems: the task's, and which split, how many, from which seed. */
export const ArithmeticSetOptions = z
  .object({
    ...taskShape,
    /** Which split to draw from. Default "train". */
    split: z.enum(["train", "heldout"]).default("train"),
    /** Number of problems. */
    count: z.number().int().nonnegative(),
    /** Seed of the draws (an unsigned 32-bit integer). Default 0. */
    seed: z.number().int().nonnegative().max(0xffffffff).default(0),
    /** No problem twice within the set. Default true. */
    unique: z.boolean().default(true),
  })
  .superRefine(checkRanges);
export type ArithmeticSetOptions = z.input<typeof ArithmeticSetOptions>;

/** One problem, as a dataset row (id, problem, answer, solution as in the math data files) plus its parts. */
export interface ArithmeticProblem {
  /** Unique within a set: "arith-<split>-s<seed>-<index>". */
  id: string;
  /** "Compute 37+48-15." */
  problem: string;
  /** The gold answer as a string: "70". */
  answer: string;
  /** The reference reasoning trace: "<think>\n37+48=85\n85-15=70\n</think>\n\\boxed{70}". */
  solution: string;
  split: ArithmeticSplit;
  /** "37+48-15". */
  expression: string;
  operands: number[];
  ops: ArithmeticOp[];
}

/** The problem statement of an expression. */
export function problemText(expression: string): string {
  return `Compute ${expression}.`;
}

/**
 * Every character the task's problems and traces are made of, outside the <think> tags: the digits,
 * the operators, "=", and the letters and punctuation of the statement and of "\\boxed{}".
 */
export const ARITHMETIC_CHARACTERS: string = [
  ...new Set(["0123456789+-*=", problemText(""), "\n\\boxed{}"].join("")),
].join("");

/** A 32-bit hash of a string (FNV-1a, then murmur3's finaliser to spread the bits). */
export function hash32(text: string): number {
  return mix32(hashString(text));
}

/** The split of an expression: held-out when its hash falls in the lowest `heldoutFraction` of the range. */
export function splitOf(expression: string, heldoutFraction: number): ArithmeticSplit {
  return hash32(expression) / 2 ** 32 < heldoutFraction ? "heldout" : "train";
}

/** How many draws in a row may fail (wrong split, duplicate, out of bounds) before giving up. */
const MAX_FAILED_DRAWS = 100_000;

/**
 * An endless stream of problems of one split, in a fixed order for the seed: each draw picks the operand
 * count, each operand's digit count and value, and each operator uniformly; draws out of bounds, of the
 * other split, or (with `unique`) already given are skipped. Throws when the options leave (almost) no
 * new problem to find.
 */
export function* arithmeticStream(
  options: Omit<ArithmeticSetOptions, "count">,
): Generator<ArithmeticProblem> {
  const o = ArithmeticSetOptions.parse({ ...options, count: 0 });
  const rand = seededRandom(o.seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const seen = new Set<string>();
  let failed = 0;
  for (let index = 0; ; ) {
    const n = int(o.minOperands, o.maxOperands);
    const operands: number[] = [];
    const ops: ArithmeticOp[] = [];
    for (let i = 0; i < n; i++) {
      const digits = int(o.minDigits, o.maxDigits);
      operands.push(int(digits === 1 ? 0 : 10 ** (digits - 1), 10 ** digits - 1));
      if (i > 0) ops.push(o.ops[int(0, o.ops.length - 1)]);
    }
    const expression = expressionText(operands, ops);
    const steps = solveSteps(operands, ops);
    const ok =
      steps.every((s) => Math.abs(s.result) <= o.maxValue && (o.allowNegative || s.result >= 0)) &&
      splitOf(expression, o.heldoutFraction) === o.split &&
      !(o.unique && seen.has(expression));
    if (!ok) {
      if (++failed > MAX_FAILED_DRAWS)
        throw new Error(
          `arithmetic: no new ${o.split} problem in ${MAX_FAILED_DRAWS} draws after ${index} problems; ` +
            "the options leave too few problems (raise the operand count or digits, or lower the count)",
        );
      continue;
    }
    failed = 0;
    if (o.unique) seen.add(expression);
    const answer = steps[steps.length - 1].result;
    yield {
      id: `arith-${o.split}-s${o.seed}-${index}`,
      problem: problemText(expression),
      answer: String(answer),
      solution: referenceTrace(operands, ops),
      split: o.split,
      expression,
      operands,
      ops,
    };
    index++;
  }
}

/** The first `count` problems of `arithmeticStream` (so a smaller count gives a prefix of a larger one). */
export function arithmeticProblems(options: ArithmeticSetOptions): ArithmeticProblem[] {
  const { count } = ArithmeticSetOptions.parse(options);
  const out: ArithmeticProblem[] = [];
  if (count === 0) return out;
  for (const p of arithmeticStream(options)) {
    out.push(p);
    if (out.length === count) break;
  }
  return out;
}

/** Options of the SFT traces. */
export const SftTraceOptions = z.object({
  /**
   * Share of traces with one arithmetic slip (a wrong step, the steps after it computed from the wrong
   * value, a wrong \boxed answer). 0 gives reference traces only. Default 0.3.
   */
  slipRate: z.number().min(0).max(1).default(0.3),
  /**
   * Share of traces that answer at once, with no working ("<think>\n</think>\n\boxed{70}", the right
   * answer): a model trained on them reasons only some of the time, a weak start that RL can improve by
   * learning to work the steps. Drawn before slips (a direct trace never slips). Default 0.
   */
  directRate: z.number().min(0).max(1).default(0),
  /** Seed of which traces slip and how. Default 0. */
  seed: z.number().int().nonnegative().max(0xffffffff).default(0),
});
export type SftTraceOptions = z.input<typeof SftTraceOptions>;

/** One SFT example of a problem. */
export interface SftTrace {
  /** The problem's id. */
  id: string;
  /** The full trace, "<think>\n...\n</think>\n\\boxed{...}". */
  trace: string;
  /** What the model writes after a generation prompt that opens "<think>\n" (trace without it). */
  completion: string;
  /** Whether the trace has a slip (then its \boxed answer is wrong). */
  slipped: boolean;
  /** Whether the trace answers without working. */
  direct: boolean;
}

/**
 * SFT traces for problems, deliberately weak when slipRate > 0: each problem's trace slips with
 * probability slipRate (and answers directly with probability directRate). Each problem's draw depends only on the seed and its expression, not on its
 * place in the list.
 */
export function sftTraces(problems: readonly ArithmeticProblem[], options: SftTraceOptions = {}): SftTrace[] {
  const o = SftTraceOptions.parse(options);
  return problems.map((p) => {
    const rand = seededRandom((hash32(p.expression) ^ Math.imul(o.seed, 0x9e3779b1)) >>> 0);
    if (o.directRate > 0 && rand() < o.directRate) {
      const trace = `${THINK_OPEN}${THINK_CLOSE.slice(1)}\\boxed{${p.answer}}`;
      return { id: p.id, trace, completion: traceCompletion(trace), slipped: false, direct: true };
    }
    const slipped = rand() < o.slipRate;
    const trace = slipped ? slippedTrace(p.operands, p.ops, rand).trace : p.solution;
    return { id: p.id, trace, completion: traceCompletion(trace), slipped, direct: false };
  });
}
