/**
 * Length-shaped rewards: cosine length-scaled correctness (the paper's
 * Experiment 3, from "Demystifying Long CoT"), the Kimi k1.5 length reward,
 * and DAPO's soft overlong punishment. Lengths are in tokens by default.
 *
 * Cosine fixes the two upstream quirks the spec describes: upstream measures
 * characters against a limit meant in tokens, and does not clamp L/Lmax, so the
 * reward is periodic in length. Both behaviours stay available as settings, and
 * cosine_upstream (upstream.ts) is upstream's reward with everything fixed.
 * The Kimi length reward compares the completions of a group: it is given one
 * prompt's group at a time (perGroup), never the whole step.
 */
import { z } from "zod";
import { CorrectnessParams, JUDGE_RULES, type JudgeRules, judge } from "./accuracy.ts";
import { defineReward, perGroup, perItem, type RewardInput, type RewardTerm } from "./types.ts";

const Unit = z
  .enum(["tokens", "chars"])
  .default("tokens")
  .describe("Length unit: completion tokens, or characters of the decoded text (upstream).");

/** Length in tokens, or in characters (code points, as Python's len counts them). */
export function lengthOf(input: RewardInput, unit: "tokens" | "chars"): number {
  if (unit === "tokens") return input.completion.tokenIds.length;
  let n = 0;
  for (const _ of input.completion.text) n++;
  return n;
}

/** The paper's (open-rs grpo.py) cosine values, with the maximum length of Experiment 3. */
export const COSINE_PAPER = {
  minValueCorrect: 0.5,
  maxValueCorrect: 1.0,
  minValueWrong: 0.0,
  maxValueWrong: -0.5,
  maxLength: 3584,
} as const;

export const CosineParams = CorrectnessParams.extend({
  minValueCorrect: z
    .number()
    .default(COSINE_PAPER.minValueCorrect)
    .describe("Reward of a correct answer at maximum length."),
  maxValueCorrect: z
    .number()
    .default(COSINE_PAPER.maxValueCorrect)
    .describe("Reward of a correct answer at length 0."),
  minValueWrong: z
    .number()
    .default(COSINE_PAPER.minValueWrong)
    .describe("Reward of a wrong answer at length 0 (open-r1: -1)."),
  maxValueWrong: z
    .number()
    .default(COSINE_PAPER.maxValueWrong)
    .describe("Reward of a wrong answer at maximum length."),
  maxLength: z
    .number()
    .positive()
    .default(COSINE_PAPER.maxLength)
    .describe("Lmax (the paper: 3584 = max completion tokens)."),
  unit: Unit,
  clampRatio: z
    .boolean()
    .default(true)
    .describe("Clamp L/Lmax to [0, 1]; false reproduces upstream, where the reward repeats every 2·Lmax."),
});

/**
 * The cosine-scaled reward of a completion of `length` (in `p.unit`), correct or not:
 * with c = cos(pi * L / Lmax) (L / Lmax clamped to [0, 1] when p.clampRatio),
 *   correct: minValueCorrect + 0.5 * (maxValueCorrect - minValueCorrect) * (1 + c)
 *   wrong:   maxValueWrong   + 0.5 * (minValueWrong   - maxValueWrong)   * (1 + c)
 * (upstream swaps min and max for wrong answers, so both follow the same curve shape).
 */
export function cosineScaled(correct: boolean, length: number, p: CosineParams): number {
  let ratio = length / p.maxLength;
  if (p.clampRatio) ratio = Math.min(1, Math.max(0, ratio));
  const c = Math.cos(ratio * Math.PI);
  return correct
    ? p.minValueCorrect + 0.5 * (p.maxValueCorrect - p.minValueCorrect) * (1 + c)
    : p.maxValueWrong + 0.5 * (p.minValueWrong - p.maxValueWrong) * (1 + c);
}

/**
 * The cosine reward term, judging correctness under `rules`. An unusable gold scored
 * "one" or "zero" gives that value flat, with no length signal (as upstream's 1.0).
 */
export function cosineTerm(p: CosineParams, name: string, rules: JudgeRules = JUDGE_RULES): RewardTerm {
  const warned = new Set<string>();
  return async (inputs, ctx) => {
    const verdicts = await judge(inputs, p, ctx, name, warned, rules);
    return inputs.map((input, i) => {
      const v = verdicts[i];
      if (v.forced !== null) return v.forced;
      if (v.correct === null) return null;
      return cosineScaled(v.correct, lengthOf(input, p.unit), p);
    });
  };
}

export const cosine = defineReward({
  name: "cosine",
  description: "Correctness scaled by a cosine of the length: shorter correct answers score higher.",
  params: CosineParams,
  create: (p) => cosineTerm(p, "cosine"),
});
export type CosineParams = z.output<typeof CosineParams>;

export const KimiLengthParams = CorrectnessParams.extend({
  unit: Unit,
  unparseableGold: z
    .enum(["skip", "one", "zero"])
    .default("skip")
    .describe(
      "Gold that cannot be parsed: skip the group (null), or count as correct ('one', upstream) or wrong.",
    ),
});

/**
 * The Kimi k1.5 length reward term, judging correctness under `rules`, over one
 * prompt's group at a time (perGroup): with L the lengths within the group,
 * λ = 0.5 − (L − Lmin)/(Lmax − Lmin); correct → λ, wrong → min(0, λ); all 0 when
 * all lengths are equal. An unusable gold scored "one" counts as correct, "zero" as wrong.
 */
export function kimiLengthTerm(
  p: KimiLengthParams,
  name: string,
  rules: JudgeRules = JUDGE_RULES,
): RewardTerm {
  const warned = new Set<string>();
  return perGroup(async (inputs, ctx) => {
    const verdicts = await judge(inputs, p, ctx, name, warned, rules);
    const lengths = inputs.map((x) => lengthOf(x, p.unit));
    const lo = Math.min(...lengths);
    const hi = Math.max(...lengths);
    return inputs.map((_, i) => {
      const v = verdicts[i];
      if (v.correct === null) return null;
      if (hi === lo) return 0;
      const lambda = 0.5 - (lengths[i] - lo) / (hi - lo);
      return v.correct ? lambda : Math.min(0, lambda);
    });
  });
}

export const kimiLength = defineReward({
  name: "length",
  description: "Kimi k1.5 length reward within a group: shorter correct answers score up to +0.5.",
  params: KimiLengthParams,
  create: (p) => kimiLengthTerm(p, "length"),
});
export type KimiLengthParams = z.output<typeof KimiLengthParams>;

export const OverlongParams = z.object({
  maxLength: z
    .number()
    .int()
    .positive()
    .default(3584)
    .describe("Lmax: the completion limit (the paper: 3584 tokens)."),
  cacheLength: z
    .number()
    .int()
    .positive()
    .default(512)
    .describe("Lcache: the soft zone before Lmax where the penalty grows linearly to -1."),
  unit: Unit,
});

/** DAPO soft overlong punishment (Eq. 13): 0 up to Lmax − Lcache, then linear to −1 at Lmax, −1 beyond. */
export const softOverlong = defineReward({
  name: "soft_overlong",
  description: "DAPO's soft overlong punishment: 0, then a linear penalty near the length limit, -1 past it.",
  params: OverlongParams.refine((p) => p.cacheLength <= p.maxLength, {
    message: "cacheLength must not exceed maxLength",
    path: ["cacheLength"],
  }),
  create: (p) =>
    perItem((input) => {
      const L = lengthOf(input, p.unit);
      const start = p.maxLength - p.cacheLength;
      if (L <= start) return 0;
      if (L <= p.maxLength) return (start - L) / p.cacheLength;
      return -1;
    }),
});
