/**
 * reasoning_steps: rewards visible step structure ("Step 1:", numbered lines,
 * bullets, "First," ... "Finally,"): min(1, count / target).
 */
import { z } from "zod";
import { defineReward, perItem } from "./types.ts";

export const ReasoningStepsParams = z.object({
  target: z.number().int().positive().default(3).describe("Steps for full reward (upstream: 3)."),
  numberedLines: z
    .enum(["every-line", "string-start"])
    .default("every-line")
    .describe(
      'Where "1." counts: at the start of any line, or only at the very start of the text (upstream open-r1, whose regex lacks MULTILINE).',
    ),
});

export const reasoningSteps = defineReward({
  name: "reasoning_steps",
  description: "Counts step markers (Step 1:, 1., bullets, First/Second/Next/Finally) up to a target.",
  params: ReasoningStepsParams,
  create: (p) => {
    const numbered = p.numberedLines === "every-line" ? "^\\d+\\." : "(?<![\\s\\S])\\d+\\.";
    const re = new RegExp(`(Step \\d+:|${numbered}|\\n-|\\n\\*|First,|Second,|Next,|Finally,)`, "gm");
    return perItem(({ completion: { text } }) => Math.min(1, (text.match(re) ?? []).length / p.target));
  },
});
