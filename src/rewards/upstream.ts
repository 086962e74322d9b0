/**
 * The rewards that judge correctness exactly as the paper ran them: the
 * `*_upstream` variants of accuracy, cosine and length, with open-rs's settings
 * fixed rather than configurable, so that a recipe naming them reruns the paper.
 * Line numbers refer to knoveleng/open-rs at 2889c47 (src/open_r1/rewards.py, grpo.py).
 *
 * What upstream does, and these variants with it:
 * - the gold is the row's `solution` column, the full worked solution (TRL passes
 *   every dataset column to the rewards; rewards.py:22, 194, 274); a row without it
 *   is an error, as upstream's KeyError was;
 * - the gold is read with Math-Verify 0.5.2's `LatexExtractionConfig()` defaults
 *   (LaTeX only, \boxed at priority 50, bare math environments accepted) in
 *   "first_match" mode (rewards.py:27-31, 213-217, 295);
 * - a gold counts as unparseable only when nothing matched at all (Math-Verify's
 *   parse() keeps the first match's text as a fallback), and then the reward is a
 *   flat 1.0 with no length signal (rewards.py:61-64, 296-299), or "correct" for
 *   the length reward (rewards.py:218-222);
 * - the completion's answer is read with \boxed first, an anchor required
 *   ('final answer is', 'answer:'), first match (rewards.py:34-52, 224-241, 301-318);
 * - verify() is called with the ANSWER FIRST and the gold second (rewards.py:55,
 *   242, 320; open-r1 fixed the order later), with precision 6 and a 3 s limit (its
 *   defaults); a comparison that fails counts as wrong (rewards.py:54-60);
 * - lengths are characters of the decoded completion (Python len, code points),
 *   and cosine's L / Lmax is never clamped, so past 2 x Lmax the curve repeats
 *   (rewards.py:321-325, 245).
 * One approximation: cosine and length read the answer with latex2sympy's
 * `boxed=True` normalisation (rewards.py:233, 310), which skips boxed-content
 * extraction inside $...$ and leaves \boxed to the grammar; here they read it as
 * accuracy does (all boxes of the match). A bare \boxed{...} is read the same way
 * by both (Math-Verify forces "last" for it).
 */
import { z } from "zod";
import { EXTRACTION_PRESETS, type ExtractionConfig } from "../verify/config.ts";
import { type CorrectnessParams, type JudgeRules, judge } from "./accuracy.ts";
import { COSINE_PAPER, CosineParams, cosineTerm, KimiLengthParams, kimiLengthTerm } from "./length.ts";
import { defineReward } from "./types.ts";

/** How open-rs read the gold: Math-Verify 0.5.2's `LatexExtractionConfig()`, first match. */
export const OPEN_RS_GOLD_EXTRACTION: ExtractionConfig = EXTRACTION_PRESETS["open-rs-gold"];

/** open-rs's answer side: LaTeX only, \boxed at priority 0, no anchorless match, first match. */
export const OPEN_RS_ANSWER_EXTRACTION: ExtractionConfig = EXTRACTION_PRESETS["open-rs-answer"];

/** open-rs's judgement: gold from `solution`, unparseable gold = 1 (or correct), precision 6, 3 s. */
const OPEN_RS_CORRECTNESS: CorrectnessParams = {
  goldFields: ["solution"],
  unparseableGold: "one",
  gold: OPEN_RS_GOLD_EXTRACTION,
  pred: OPEN_RS_ANSWER_EXTRACTION,
  precision: 6,
  timeoutMs: 3000,
};

/** verify(answer, gold); unusable = no match at all; a row without `solution` is an error. */
export const OPEN_RS_RULES: JudgeRules = {
  order: "answer-first",
  unusableGold: "nothing-found",
  missingGold: "error",
};

export const accuracyUpstream = defineReward({
  name: "accuracy_upstream",
  description:
    "open-rs's accuracy_reward (rewards.py:22-67): 1 if verify(answer, gold), else 0; 1.0 when the gold cannot be parsed.",
  params: z.object({}).strict(),
  create: () => {
    const warned = new Set<string>();
    return async (inputs, ctx) =>
      (await judge(inputs, OPEN_RS_CORRECTNESS, ctx, "accuracy_upstream", warned, OPEN_RS_RULES)).map(
        (v) => v.forced ?? (v.correct ? 1 : 0),
      );
  },
});

/** The cosine values are upstream's script arguments (grpo.py:76-95); only they can be set. */
export const CosineUpstreamParams = z
  .object({
    minValueCorrect: CosineParams.shape.minValueCorrect,
    maxValueCorrect: CosineParams.shape.maxValueCorrect,
    minValueWrong: CosineParams.shape.minValueWrong,
    maxValueWrong: CosineParams.shape.maxValueWrong,
    maxLength: z
      .number()
      .positive()
      .default(COSINE_PAPER.maxLength)
      .describe(
        "Lmax in CHARACTERS: the paper passed --cosine_max_len 3584 (open-rs README.md:91-98); grpo.py:92-95 defaults to 1000.",
      ),
  })
  .strict();

export const cosineUpstream = defineReward({
  name: "cosine_upstream",
  description:
    "open-rs's cosine_scaled_reward (rewards.py:267-340): correctness scaled by cos(pi * characters / Lmax), unclamped; 1.0 when the gold cannot be parsed.",
  params: CosineUpstreamParams,
  create: (p) =>
    cosineTerm(
      CosineParams.parse({ ...OPEN_RS_CORRECTNESS, ...p, unit: "chars", clampRatio: false }),
      "cosine_upstream",
      OPEN_RS_RULES,
    ),
});

export const lengthUpstream = defineReward({
  name: "length_upstream",
  description:
    "open-rs's len_reward (rewards.py:194-264), Kimi k1.5's length reward over a group, in characters; an unparseable gold counts as correct.",
  params: z.object({}).strict(),
  create: () =>
    kimiLengthTerm(
      KimiLengthParams.parse({ ...OPEN_RS_CORRECTNESS, unit: "chars" }),
      "length_upstream",
      OPEN_RS_RULES,
    ),
});
