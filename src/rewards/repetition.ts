/**
 * repetition: the n-gram repetition penalty of "Demystifying Long CoT" (App. C.2):
 * (1 − unique n-grams / all n-grams) × maxPenalty, over lower-cased
 * whitespace-separated words (upstream) or over token ids.
 */
import { z } from "zod";
import { defineReward, perItem } from "./types.ts";

export const RepetitionParams = z.object({
  ngramSize: z.number().int().min(1).default(3).describe("n of the n-grams (upstream: 3)."),
  maxPenalty: z
    .number()
    .max(0)
    .default(-1)
    .describe("Penalty when every n-gram repeats (≤ 0; upstream: -1)."),
  unit: z
    .enum(["words", "tokens"])
    .default("words")
    .describe("n-grams of lower-cased words (upstream), or of token ids (any language)."),
});

export const repetition = defineReward({
  name: "repetition",
  description: "Penalises repeated n-grams: 0 for none, maxPenalty when all repeat.",
  params: RepetitionParams,
  create: (p) =>
    perItem(({ completion }) => {
      const units: readonly (string | number)[] =
        p.unit === "words" ? completion.text.toLowerCase().split(/\s+/).filter(Boolean) : completion.tokenIds;
      if (units.length < p.ngramSize) return 0;
      const seen = new Set<string>();
      const total = units.length - p.ngramSize + 1;
      for (let i = 0; i < total; i++) seen.add(units.slice(i, i + p.ngramSize).join("\u0000"));
      return (1 - seen.size / total) * p.maxPenalty + 0; // + 0 turns -0 into 0
    }),
});
