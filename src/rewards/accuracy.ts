/**
 * accuracy: 1 when the completion's final answer equals the gold answer (by the
 * verifier), else 0. Also the correctness judgement (`judge`) shared by the
 * cosine and length rewards and by their upstream variants (upstream.ts).
 * Where the gold cannot be parsed, the setting decides: by default the reward
 * is skipped (null) with a warning, not upstream open-rs's reward 1.0, which
 * hands every completion of the group the same value.
 */
import { z } from "zod";
import {
  EXTRACTION_PRESETS,
  ExtractionConfigSchema,
  type ExtractionPresetName,
  VerifyOptionsSchema,
} from "../verify/config.ts";
import { defineReward, type RewardContext, type RewardInput } from "./types.ts";

const presetNames = Object.keys(EXTRACTION_PRESETS) as [ExtractionPresetName, ...ExtractionPresetName[]];
const Extraction = z.union([z.enum(presetNames), ExtractionConfigSchema]);

/** Parameters shared by the rewards that judge correctness (accuracy, cosine, length). */
export const CorrectnessParams = z.object({
  goldFields: z
    .array(z.string())
    .min(1)
    .default(["answer", "solution"])
    .describe("Row fields holding the gold, first non-empty wins (open-rs used 'solution')."),
  unparseableGold: z
    .enum(["skip", "one", "zero"])
    .default("skip")
    .describe(
      "Gold that cannot be parsed: skip (null, with a warning), or score 1 (upstream open-rs) or 0, flat (no length signal in cosine).",
    ),
  gold: Extraction.default("gold").describe("How the gold is read (preset name or extraction config)."),
  pred: Extraction.default("reward").describe(
    "How the completion's answer is found: \\boxed or 'final answer' anchors, first match, any language ('open-rs-answer': as open-rs, LaTeX text only).",
  ),
  precision: VerifyOptionsSchema.shape.precision,
  timeoutMs: z
    .number()
    .positive()
    .default(3000)
    .describe("Time limit per comparison; a timeout scores as wrong."),
});
export type CorrectnessParams = z.output<typeof CorrectnessParams>;

/**
 * Per input: `correct` true/false, or null when the gold is missing or unusable and the
 * setting says skip; `forced` is the configured score of an unusable gold ("one" -> 1,
 * "zero" -> 0; null otherwise), which accuracy and cosine return as it is.
 */
export type Verdict = { correct: boolean | null; forced: number | null };

/**
 * How a comparison is made, beyond the parameters. The rewards of this library use
 * JUDGE_RULES; the upstream variants (upstream.ts) use open-rs's.
 */
export interface JudgeRules {
  /**
   * "gold-first": verify(gold, answer), as Math-Verify means it; "answer-first":
   * verify(answer, gold), the order open-rs called it in (the two differ only on
   * asymmetric cases: an interval against an inequality, a chain of equalities).
   */
  order: "gold-first" | "answer-first";
  /**
   * When a gold counts as unusable: "nothing-parsed" (no value parsed from it), or
   * "nothing-found" (not even a match: Math-Verify's parse() keeps the first match's
   * text as a fallback, so upstream's `len(gold_parsed) == 0` means no match at all).
   */
  unusableGold: "nothing-parsed" | "nothing-found";
  /** A row with none of goldFields: "unusable" (scored as such), or "error" (upstream raised KeyError). */
  missingGold: "unusable" | "error";
}

export const JUDGE_RULES: JudgeRules = {
  order: "gold-first",
  unusableGold: "nothing-parsed",
  missingGold: "unusable",
};

function goldOf(row: Readonly<Record<string, unknown>>, fields: readonly string[]): string | null {
  for (const f of fields) {
    const v = row[f];
    if (typeof v === "string" && v.trim() !== "") return v;
    if (typeof v === "number" && Number.isFinite(v)) return String(v);
  }
  return null;
}

/**
 * Judges each completion against its row's gold, under `rules`. A comparison that
 * times out or fails counts as wrong. Unusable golds are warned about once per
 * distinct problem when skipped.
 */
export async function judge(
  inputs: readonly RewardInput[],
  p: CorrectnessParams,
  ctx: RewardContext,
  reward: string,
  warned: Set<string> = new Set(),
  rules: JudgeRules = JUDGE_RULES,
): Promise<Verdict[]> {
  return Promise.all(
    inputs.map(async (input): Promise<Verdict> => {
      const gold = goldOf(input.row, p.goldFields);
      const unusable = (why: string): Verdict => {
        if (p.unparseableGold === "skip") {
          // one warning per distinct problem (a group repeats the same gold), at most 1000 remembered
          if (!warned.has(why) && warned.size < 1000) {
            warned.add(why);
            ctx.warn(`${reward}: ${why}; reward skipped`);
          }
          return { correct: null, forced: null };
        }
        return { correct: p.unparseableGold === "one", forced: p.unparseableGold === "one" ? 1 : 0 };
      };
      if (gold === null) {
        const why = `row has no gold in ${p.goldFields.join("/")}`;
        if (rules.missingGold === "error") throw new Error(`${reward}: ${why}`);
        return unusable(why);
      }
      const text = input.completion.text;
      const limits = { precision: p.precision, timeoutMs: p.timeoutMs };
      const goldFirst = rules.order === "gold-first";
      const r = goldFirst
        ? await ctx.verifier.verify(gold, text, { ...limits, gold: p.gold, pred: p.pred })
        : await ctx.verifier.verify(text, gold, { ...limits, gold: p.pred, pred: p.gold });
      if (r.timedOut || r.error !== undefined) return { correct: false, forced: null };
      const goldSide = goldFirst ? r.gold : r.pred;
      const found =
        goldSide.parsed.length > 0 || (rules.unusableGold === "nothing-found" && goldSide.text !== null);
      if (!found) return unusable(`gold answer could not be parsed: ${JSON.stringify(gold.slice(0, 200))}`);
      return { correct: r.equivalent, forced: null };
    }),
  );
}

export const accuracy = defineReward({
  name: "accuracy",
  description: "1 if the completion's final answer equals the gold answer, else 0 (math verifier).",
  params: CorrectnessParams,
  create: (p) => async (inputs, ctx) =>
    (await judge(inputs, p, ctx, "accuracy")).map(
      (v) => v.forced ?? (v.correct === null ? null : v.correct ? 1 : 0),
    ),
});
