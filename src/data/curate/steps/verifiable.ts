/**
 * `verifiable`: keeps the problems whose gold answer a reward can check.
 *
 * The rules, in the order they are applied (the first that fires names the drop):
 *
 * 1. no-answer: the gold answer is the answer field, or, when that is empty, the
 *    content of the last \boxed{} of the solution (`answerFrom` chooses); a row
 *    with neither is dropped.
 * 2. proof: the problem asks for a proof ("prove", "show that", ...).
 * 3. multiple-choice: the gold is only option letters ("C", "\text{(C)}").
 * 4. multi-part: two or more marked parts that each ask something.
 * 5. several-boxed-answers: the solution boxes two or more different answers.
 * 6. listed-choices: the problem lists options (A) (B) (C); only with `dropListedChoices`.
 * 7. unparsed-answer: the verifier cannot read the gold.
 * 8. answer-kind: the gold's kind is in `dropKinds` (e.g. text).
 * 9. not-self-verifying: a model output ending "The final answer is
 *    $\boxed{gold}$." does not verify against the gold (the reward could never
 *    be earned; e.g. a gold wrapped in \( ... \)).
 *
 * (problem-rules.ts documents rules 2-6.) Kept rows get the labels `answer_kind`
 * and `answer_from` ("answer" or "solution"), and `answer` is set to the gold.
 */
import { z } from "zod";
import { findBoxes } from "../../../verify/boxed.ts";
import { verifySync } from "../../../verify/verify.ts";
import { ANSWER_KINDS, answerKind } from "../../answer-kind.ts";
import {
  asksForProof,
  distinctBoxedAnswers,
  isChoiceLetterAnswer,
  isMultiPart,
  listsChoices,
} from "../../problem-rules.ts";
import type { DataRow } from "../../row.ts";
import { type Drop, defineStep } from "../step.ts";

export const VerifiableParams = z
  .object({
    /** Where the gold comes from: the answer field, the solution's last \boxed{}, or the first that is present. */
    answerFrom: z.enum(["answer-or-solution", "answer", "solution"]).default("answer-or-solution"),
    dropProofs: z.boolean().default(true),
    dropMultipleChoice: z.boolean().default(true),
    dropMultiPart: z.boolean().default(true),
    dropSeveralBoxed: z.boolean().default(true),
    /** Also drop problems that list options (A) (B) (C) even when the gold is a value. */
    dropListedChoices: z.boolean().default(false),
    /** Answer kinds to drop (see answer-kind.ts), e.g. ["text"]. */
    dropKinds: z.array(z.enum(ANSWER_KINDS)).default([]),
    /** Check that "The final answer is $\boxed{gold}$." verifies against the gold. */
    selfCheck: z.boolean().default(true),
    /** Time limit of one verifier comparison (self-check, boxed answers), milliseconds. */
    timeoutMs: z.number().positive().default(2000),
  })
  .strict();

/** The gold answer of a row by `answerFrom`, and where it was found; null without one. */
function goldOf(row: DataRow, from: z.output<typeof VerifiableParams>["answerFrom"]) {
  const boxed = () => {
    if (!row.solution) return null;
    const boxes = findBoxes(row.solution);
    const last = boxes[boxes.length - 1]?.content.trim();
    return last ? { answer: last, from: "solution" } : null;
  };
  const field = row.answer.trim() ? { answer: row.answer.trim(), from: "answer" } : null;
  if (from === "answer") return field;
  if (from === "solution") return boxed();
  return field ?? boxed();
}

export const verifiableStep = defineStep({
  type: "verifiable",
  summary:
    "keep problems whose gold answer is extractable and verifiable; drop proofs, multiple choice, multi-part",
  params: VerifiableParams,
  async run(rows, p, ctx) {
    const kept: DataRow[] = [];
    const dropped: Drop[] = [];
    const equal = (gold: string, pred: string) =>
      verifySync(gold, `The final answer is $\\boxed{${pred}}$.`, { timeoutMs: p.timeoutMs }).equivalent;
    for (const row of rows) {
      if (ctx.signal.aborted) throw new Error("stopped");
      const gold = goldOf(row, p.answerFrom);
      const drop = (reason: string, detail?: string) => dropped.push({ row, reason, detail });
      if (!gold) {
        drop(
          "no-answer",
          `no ${p.answerFrom === "answer" ? "answer field" : "answer field or \\boxed{} in the solution"}`,
        );
        continue;
      }
      if (p.dropProofs && asksForProof(row.problem)) {
        drop("proof");
        continue;
      }
      if (p.dropMultipleChoice && isChoiceLetterAnswer(gold.answer)) {
        drop("multiple-choice", `gold is an option letter: ${gold.answer}`);
        continue;
      }
      if (p.dropMultiPart && isMultiPart(row.problem)) {
        drop("multi-part");
        continue;
      }
      if (p.dropSeveralBoxed && row.solution) {
        const answers = distinctBoxedAnswers(row.solution, equal);
        if (answers.length > 1) {
          drop("several-boxed-answers", answers.join(" | ").slice(0, 200));
          continue;
        }
      }
      if (p.dropListedChoices && listsChoices(row.problem)) {
        drop("listed-choices");
        continue;
      }
      const kind = answerKind(gold.answer);
      if (kind === "unparsed") {
        drop("unparsed-answer", gold.answer.slice(0, 200));
        continue;
      }
      if (p.dropKinds.includes(kind)) {
        drop("answer-kind", `${kind}: ${gold.answer.slice(0, 200)}`);
        continue;
      }
      if (p.selfCheck && !equal(gold.answer, gold.answer)) {
        drop("not-self-verifying", gold.answer.slice(0, 200));
        continue;
      }
      row.answer = gold.answer;
      row.labels.answer_kind = kind;
      row.labels.answer_from = gold.from;
      kept.push(row);
    }
    return { kept, dropped };
  },
});
