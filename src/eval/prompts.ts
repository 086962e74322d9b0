/**
 * How a benchmark problem becomes a conversation: a prompt template with a
 * `{problem}` slot as the user message, after an optional system prompt. The
 * chat template itself is applied by the ChatGenerator (the local model's,
 * the server's, the GGUF's).
 */
import { readFileSync } from "node:fs";
import { DEEPSEEK_MATH_PROMPT } from "../data/math-prompts.ts";
import type { ChatMessage } from "../model/chat-template.ts";

/**
 * The paper's prompt: lighteval's math prompt (adapted from OpenAI simple-evals), as open-rs's
 * evaluate.py uses it (../shared/research/open-rs-spec.md section 5). Two spaces after
 * "clearly."; the final-answer phrase matches the verifier's "final answer is ... I hope" anchor.
 */
export const LIGHTEVAL_MATH_PROMPT =
  "Solve the following math problem efficiently and clearly.  The last line of your response " +
  "should be of the following format: 'Therefore, the final answer is: $\\boxed{ANSWER}$. I hope " +
  "it is correct' (without quotes) where ANSWER is just the final number or expression that solves " +
  "the problem. Think step by step before answering.\n\n{problem}";

export { DEEPSEEK_MATH_PROMPT };

/** The built-in prompt templates by name. */
export const PROMPTS = { lighteval: LIGHTEVAL_MATH_PROMPT, deepseek: DEEPSEEK_MATH_PROMPT } as const;
export type PromptName = keyof typeof PROMPTS;

const SLOT = "{problem}";

/**
 * The template for `--prompt`: a built-in name ("lighteval", "deepseek") or the path of a text
 * file holding `{problem}` (read as is, trailing newline included).
 */
export function resolvePromptTemplate(nameOrFile: string): string {
  if (nameOrFile in PROMPTS) return PROMPTS[nameOrFile as PromptName];
  let text: string;
  try {
    text = readFileSync(nameOrFile, "utf8");
  } catch (err) {
    throw new Error(
      `prompt "${nameOrFile}" is neither ${Object.keys(PROMPTS).join(" nor ")} nor a readable file (${(err as Error).message})`,
    );
  }
  if (!text.includes(SLOT)) throw new Error(`prompt file ${nameOrFile} has no ${SLOT} slot`);
  return text;
}

/** The template with every `{problem}` replaced by the problem's text (no other substitution). */
export function renderPrompt(template: string, problem: string): string {
  return template.split(SLOT).join(problem);
}

/** The conversation for one problem: the system prompt (when given), then the user message. */
export function problemConversation(template: string, problem: string, system?: string): ChatMessage[] {
  const user: ChatMessage = { role: "user", content: renderPrompt(template, problem) };
  return system ? [{ role: "system", content: system }, user] : [user];
}
