/**
 * format and tag_count: rewards for the <think> ... </think> layout.
 * The paper's format reward (open-rs) checks only that "\n</think>\n" occurs
 * exactly once, because the chat template already opens <think>; upstream
 * open-r1 checks the whole "<think>\n...\n</think>\n<answer>\n...\n</answer>" layout.
 */
import { z } from "zod";
import { defineReward, perItem } from "./types.ts";

function count(text: string, needle: string): number {
  let n = 0;
  for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length)) n++;
  return n;
}

// Python re.match with DOTALL|MULTILINE: anchored at the start only; "$" also matches before a newline.
const THINK_ANSWER = /^<think>\n[\s\S]*?\n<\/think>\n<answer>\n[\s\S]*?\n<\/answer>(?=\n|$)/;

export const FormatParams = z.object({
  variant: z
    .enum(["think-close", "think-then-answer", "think-answer"])
    .default("think-close")
    .describe(
      'think-close (the paper, open-rs): "\\n</think>\\n" exactly once; think-then-answer: one <think>...</think> ' +
        "(the opening tag may come from the prompt) followed by a non-empty answer; think-answer (open-r1): " +
        '"<think>\\n...\\n</think>\\n<answer>\\n...\\n</answer>".',
    ),
});

/** One reasoning block, its opening tag (if written) first, then a non-empty answer. */
function thinkThenAnswer(text: string): boolean {
  const body = text.trimStart();
  const opens = count(body, "<think>");
  if (count(body, "</think>") !== 1 || opens > 1 || (opens === 1 && !body.startsWith("<think>")))
    return false;
  return body.slice(body.indexOf("</think>") + 8).trim().length > 0;
}

export const format = defineReward({
  name: "format",
  description: "1 if the completion has the expected <think> layout, else 0.",
  params: FormatParams,
  create: (p) =>
    perItem(({ completion: { text } }) => {
      if (p.variant === "think-close") return count(text, "\n</think>\n") === 1 ? 1 : 0;
      if (p.variant === "think-then-answer") return thinkThenAnswer(text) ? 1 : 0;
      return THINK_ANSWER.test(text) ? 1 : 0;
    }),
});

export const TagCountParams = z.object({
  variant: z
    .enum(["open-rs", "open-r1"])
    .default("open-rs")
    .describe(
      'open-rs: 0.5 each for exactly one "<think>\\n" and one "\\n</think>\\n"; open-r1: 0.25 each for those and "\\n<answer>\\n", "\\n</answer>".',
    ),
});

const TAGS = {
  "open-rs": ["<think>\n", "\n</think>\n"],
  "open-r1": ["<think>\n", "\n</think>\n", "\n<answer>\n", "\n</answer>"],
} as const;

export const tagCount = defineReward({
  name: "tag_count",
  description: "Partial credit for each format tag that occurs exactly once (max 1).",
  params: TagCountParams,
  create: (p) =>
    perItem(({ completion: { text } }) => {
      const tags = TAGS[p.variant];
      const share = 1 / tags.length;
      return tags.reduce((s, tag) => s + (count(text, tag) === 1 ? share : 0), 0);
    }),
});
