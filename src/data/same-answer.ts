/**
 * Whether two gold answers are the same answer, by the verifier (src/verify)
 * rather than as strings: "\frac{1}{2}", "$\dfrac12$" and "0.5" agree, "(1, 2)"
 * and "(2, 1)" do not. Both sides are read as gold answers (bare LaTeX
 * allowed). Dedupe and decontaminate use it to tell a repeat from a template
 * sibling.
 */
import { VerifyOptionsSchema, verifySync } from "../verify/index.ts";

const PLAIN_NUMBER = /^-?\d+(?:\.\d+)?$/;

const OPTIONS = VerifyOptionsSchema.parse({ pred: "gold", timeoutMs: 1000 });

/** The verifier's verdict on two gold answers (false when either is empty; true when equal as text; plain numbers by value). */
export function equivalentAnswers(a: string, b: string): boolean {
  const x = a.trim();
  const y = b.trim();
  if (x === "" || y === "") return false;
  if (x.replace(/\s+/g, "") === y.replace(/\s+/g, "")) return true;
  // Two plain numbers (most answers) need no parser.
  if (PLAIN_NUMBER.test(x) && PLAIN_NUMBER.test(y)) return Number(x) === Number(y);
  return verifySync(x, y, OPTIONS).equivalent;
}
