/**
 * language: penalises text written outside the target script — the paper saw
 * the model drift into other languages after about 200 steps. The score is
 * penalty × (letters outside the script / all letters); digits, punctuation and
 * (by default) math are not counted.
 */
import { z } from "zod";
import { defineReward, perItem } from "./types.ts";

function validScript(name: string): boolean {
  try {
    new RegExp(`\\p{Script=${name}}`, "u");
    return true;
  } catch {
    return false;
  }
}

export const LanguageParams = z.object({
  script: z
    .string()
    .default("Latin")
    .refine(validScript, { message: "not a Unicode script name (e.g. Latin, Han, Cyrillic)" })
    .describe("Unicode script of the target language (the paper's prompt asks for English: Latin)."),
  penalty: z.number().max(0).default(-1).describe("Score when every letter is outside the script (≤ 0)."),
  scope: z
    .enum(["all", "think", "answer"])
    .default("all")
    .describe(
      "Which text counts: everything, only the reasoning (before </think>), or only what follows it.",
    ),
  ignoreMath: z
    .boolean()
    .default(true)
    .describe("Skip $...$, \\(...\\), \\[...\\] and \\command names (Greek in formulas is fine)."),
});

const MATH = /\$\$[\s\S]*?\$\$|\$[^$\n]*\$|\\\([\s\S]*?\\\)|\\\[[\s\S]*?\\\]|\\[A-Za-z]+/g;

export const language = defineReward({
  name: "language",
  description: "Penalty proportional to the share of letters outside the target script.",
  params: LanguageParams,
  create: (p) => {
    const inScript = new RegExp(`\\p{Script=${p.script}}`, "u");
    return perItem(({ completion: { text } }) => {
      const close = text.indexOf("</think>");
      let part = text;
      if (p.scope === "think") part = close >= 0 ? text.slice(0, close) : text;
      else if (p.scope === "answer") part = close >= 0 ? text.slice(close + 8) : "";
      if (p.ignoreMath) part = part.replace(MATH, " ");
      let letters = 0;
      let outside = 0;
      for (const ch of part) {
        if (!/\p{L}/u.test(ch)) continue;
        letters++;
        if (!inScript.test(ch)) outside++;
      }
      return letters === 0 ? 0 : p.penalty * (outside / letters) + 0; // + 0 turns -0 into 0
    });
  },
});
