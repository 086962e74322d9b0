/**
 * accuracy: 1 when the completion's final answer equals the gold answer (by the
 * verifier), else 0. Also the correctness judgement shared by the cosine and
 * length rewards. Where the gold cannot be parsed, the setting decides: by
 * default the reward is skipped (null) with a warning — not upstream open-rs's
 * reward 1.0, which hands every completion of the group the same value.
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
    .describe("Gold that cannot be parsed: skip (null, with a warning), or score 1 (upstream open-rs) or 0."),
  gold: Extraction.default("gold").describe("How the gold is read (preset name or extraction config)."),
  pred: Extraction.default("open-rs-answer").describe(
    "How the completion's answer is found; open-rs: \\boxed or 'final answer' anchors, first match.",
  ),
  precision: VerifyOptionsSchema.shape.precision,
  timeoutMs: z
    .number()
    .positive()
    .default(3000)
    .describe("Time limit per comparison; a timeout scores as wrong."),
});
export type CorrectnessParams = z.output<typeof CorrectnessParams>;

/** Per input: true/false, or null when the gold is missing or unparseable (and the setting says skip). */
export type Verdict = { correct: boolean | null; forced: number | null };

function goldOf(row: Readonly<Record<string, unknown>>, fields: readonly string[]): string | null {
  for (const f of fields) {
    const v = row[f];
    if (typeof v === "string" && v.trim() !== "") return v;
    if (typeof v === "number" && Number.isFinite(v)) return String(v);
  }
  return null;
}

/**
 * Judges each completion against its row's gold. `forced` carries the configured score
 * for unparseable golds ("one" -> 1, "zero" -> 0); `correct` is null when skipped.
 */
export async function judge(
  inputs: readonly RewardInput[],
  p: CorrectnessParams,
  ctx: RewardContext,
  reward: string,
  warned: Set<string> = new Set(),
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
      if (gold === null) return unusable(`row has no gold in ${p.goldFields.join("/")}`);
      const r = await ctx.verifier.verify(gold, input.completion.text, {
        gold: p.gold,
        pred: p.pred,
        precision: p.precision,
        timeoutMs: p.timeoutMs,
      });
      if (r.gold.parsed.length === 0)
        return unusable(`gold answer could not be parsed: ${JSON.stringify(gold.slice(0, 200))}`);
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
