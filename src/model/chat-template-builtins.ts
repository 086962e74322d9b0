/**
 * Built-in chat template and prompts of the paper's setup, for use without the
 * model files (tests, remote engines that take raw text).
 */

/**
 * The chat format of DeepSeek-R1-Distill-Qwen (tokenizer revision of 2025-02-09 and later),
 * written for reasonrl from that template's observable behaviour, for the roles system, user
 * and assistant:
 * - BOS, then the system prompt (the last system message's content; none: nothing), placed
 *   before the first user turn with no marker of its own;
 * - each user turn as "<｜User｜>" + content;
 * - each assistant turn as "<｜Assistant｜>" + content + "<｜end▁of▁sentence｜>", where content
 *   keeps only what follows its last "</think>" (earlier reasoning is not shown again);
 * - with add_generation_prompt, "<｜Assistant｜><think>\n": the completion starts inside the
 *   think block, so it contains "</think>" but no "<think>".
 * The original's tool-call and tool-output turns are not reproduced: other roles are an error.
 * The markers use fullwidth bars (U+FF5C) and "▁" (U+2581), as the model's vocabulary does.
 */
export const DEEPSEEK_R1_DISTILL_CHAT_TEMPLATE = [
  "{#- DeepSeek-R1-Distill chat format (reasonrl's rendering of it) -#}",
  "{%- set state = namespace(system='') -%}",
  "{%- for message in messages -%}",
  "  {%- if message.role == 'system' -%}{%- set state.system = message.content -%}{%- endif -%}",
  "{%- endfor -%}",
  "{%- if bos_token is defined and bos_token is not none -%}{{- bos_token -}}{%- endif -%}",
  "{{- state.system -}}",
  "{%- for message in messages -%}",
  "  {%- if message.role == 'user' -%}",
  "    {{- '<｜User｜>' ~ message.content -}}",
  "  {%- elif message.role == 'assistant' -%}",
  "    {{- '<｜Assistant｜>' ~ message.content.split('</think>')[-1] ~ '<｜end▁of▁sentence｜>' -}}",
  "  {%- elif message.role != 'system' -%}",
  "    {{- raise_exception('unsupported role: ' ~ message.role) -}}",
  "  {%- endif -%}",
  "{%- endfor -%}",
  "{%- if add_generation_prompt -%}{{- '<｜Assistant｜><think>\\n' -}}{%- endif -%}",
].join("\n");

/** The special tokens DEEPSEEK_R1_DISTILL_CHAT_TEMPLATE expects when rendered without the model's files. */
export const DEEPSEEK_R1_DISTILL_SPECIAL_TOKENS = {
  bos_token: "<｜begin▁of▁sentence｜>",
  eos_token: "<｜end▁of▁sentence｜>",
} as const;

/**
 * The system prompt of the paper's experiments (the Open-RS recipe YAML, as used in Exp 3).
 * Reproduced as the model saw it: the recipe's YAML escaping leaves a literal backslash and
 * doubled braces ("\boxed{{}}"), and the string is never formatted, so they stay.
 */
export const OPEN_RS_SYSTEM_PROMPT =
  "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. " +
  "The assistant first thinks about the reasoning process in the mind and then provides the user with " +
  "the answer, and put your final answer within \\boxed{{}} . The reasoning process and answer are " +
  "enclosed within <think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning " +
  "process here </think> <answer> answer here </answer>. Note that respond by English, NOT use other languages.";

/**
 * The same prompt without its last sentence, which the paper says was added in Exp 3
 * (the exact Exp 1/2 text is not published; this is the likely one).
 */
export const OPEN_RS_SYSTEM_PROMPT_NO_LANGUAGE = OPEN_RS_SYSTEM_PROMPT.slice(
  0,
  OPEN_RS_SYSTEM_PROMPT.indexOf(" Note that respond by English"),
);
