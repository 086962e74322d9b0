/**
 * What kind of answer a gold answer is, as the verifier reads it:
 *
 *   integer         an integer: 42, -7, 1{,}008, 10^3 is not one (expression)
 *   fraction        a non-integer rational number: \frac{3}{4}, -0.25, 12.5\%
 *   expression      anything else mathematical: 2\sqrt{3}, \pi/4, x^2+1, y = 2x
 *   interval/tuple  a structure: (1, 2), [0, 1), \{1, 2\}, "3, 5", matrices, unions
 *   text            words: \text{Tuesday}, a choice letter (C)
 *   unparsed        text the verifier cannot read at all
 *   missing         empty
 */
import { GOLD_EXTRACTION } from "../verify/config.ts";
import { extractAnswer } from "../verify/extract.ts";
import type { Node } from "../verify/index.ts";
import { isChoiceLetterAnswer } from "./problem-rules.ts";

export const ANSWER_KINDS = [
  "integer",
  "fraction",
  "expression",
  "interval/tuple",
  "text",
  "unparsed",
  "missing",
] as const;
export type AnswerKind = (typeof ANSWER_KINDS)[number];

const STRUCTURES = new Set<Node["type"]>(["tuple", "interval", "list", "set", "union", "matrix", "ratio"]);

/** The rational value of a plain number, a negated one, a quotient of two or a percentage; else null. */
function numberValue(node: Node): { integer: boolean } | null {
  switch (node.type) {
    case "num":
      return { integer: node.value !== null ? node.value.isInteger() : Number.isInteger(node.approx) };
    case "neg":
      return numberValue(node.arg);
    case "percent": {
      const inner = numberValue(node.arg);
      return inner ? { integer: false } : null;
    }
    case "div":
      return numberValue(node.num) && numberValue(node.den) ? { integer: false } : null;
    default:
      return null;
  }
}

/** The kind of a parsed answer. */
export function kindOfNode(node: Node): AnswerKind {
  if (STRUCTURES.has(node.type)) return "interval/tuple";
  if (node.type === "text") return "text";
  const value = numberValue(node);
  if (value) return value.integer ? "integer" : "fraction";
  return "expression";
}

/** The kind of a gold answer string (parsed the way the verifier reads gold answers). */
export function answerKind(answer: string): AnswerKind {
  if (answer.trim() === "") return "missing";
  if (isChoiceLetterAnswer(answer)) return "text";
  const extracted = extractAnswer(answer, GOLD_EXTRACTION);
  if (extracted.values.length === 0) return "unparsed";
  return kindOfNode(extracted.values[0]);
}
