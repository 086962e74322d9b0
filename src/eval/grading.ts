/**
 * Grading a completion: the verifier (src/verify) extracts the final answer
 * from the whole completion as it does for lighteval's evaluation setting
 * (boxes and "final answer is ... I hope" first, then any math or number,
 * rightmost first) and compares it with the gold answer, in worker threads
 * with a time limit. The settings follow the paper's scoring (spec section
 * 5): precision 5, 5 s per comparison; past it, or on a verifier error, the
 * sample counts as wrong.
 */
import type { VerifyOptionsInput } from "../verify/config.ts";
import type { VerifierPool } from "../verify/pool.ts";
import type { VerifyResult } from "../verify/verify.ts";

/** The verifier settings of an evaluation. */
export const EVAL_VERIFY_OPTIONS: VerifyOptionsInput = {
  gold: "gold",
  pred: "lighteval",
  precision: 5,
  timeoutMs: 5000,
};

/** What grading tells about one completion. */
export interface Grade {
  correct: boolean;
  /**
   * The extracted answer as the verifier canonically renders it (its parsed values, else the
   * normalised text of the match), or null when nothing was extracted: maj@k's vote.
   */
  answer: string | null;
  /** Set when the comparison ran out of time or failed. */
  problem?: "timeout" | "error";
}

/** The answer key of a verifier result (see Grade.answer). */
export function answerKey(result: VerifyResult): string | null {
  if (result.pred.parsed.length > 0) return result.pred.parsed.join(" | ");
  return result.pred.text && result.pred.text.trim() !== "" ? result.pred.text : null;
}

/** Grades `completion` against `gold` in `pool`. Never throws: a failure is a wrong answer. */
export async function gradeCompletion(pool: VerifierPool, gold: string, completion: string): Promise<Grade> {
  try {
    const r = await pool.verify(gold, completion, EVAL_VERIFY_OPTIONS);
    const grade: Grade = { correct: r.equivalent, answer: answerKey(r) };
    if (r.timedOut) grade.problem = "timeout";
    else if (r.error) grade.problem = "error";
    return grade;
  } catch {
    return { correct: false, answer: null, problem: "error" };
  }
}
