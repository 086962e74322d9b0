/**
 * Chat templates: the Jinja `chat_template` of a model's tokenizer_config.json
 * (or a chat_template.jinja, or an override) rendered with @huggingface/jinja,
 * with the variables transformers' apply_chat_template passes: messages,
 * add_generation_prompt, tools and documents (none), the special tokens
 * (bos_token, eos_token, ...), and any extra keyword such as enable_thinking.
 * The rendered text is tokenized without adding special tokens again (the
 * template writes them itself), as apply_chat_template(tokenize=True) does.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { Template } from "@huggingface/jinja";
import { z } from "zod";
import type { Tokenizer } from "./tokenizer.ts";

export {
  DEEPSEEK_R1_DISTILL_CHAT_TEMPLATE,
  DEEPSEEK_R1_DISTILL_SPECIAL_TOKENS,
  OPEN_RS_SYSTEM_PROMPT,
  OPEN_RS_SYSTEM_PROMPT_NO_LANGUAGE,
} from "./chat-template-builtins.ts";

/** One chat message. Templates see every field (e.g. Qwen3 reads reasoning_content). */
export const ChatMessage = z.looseObject({
  role: z.enum(["system", "user", "assistant"]),
  content: z.string(),
  /** The reasoning of an assistant turn, for templates that render it apart from content. */
  reasoning_content: z.string().optional(),
});
export type ChatMessage = z.input<typeof ChatMessage>;

/** How to render a conversation. */
export const ChatRenderOptions = z.object({
  /** End with the opening of an assistant turn, for the model to complete. */
  addGenerationPrompt: z.boolean().default(false),
  /** Qwen3's switch (passed as enable_thinking only when set: the template tests `is defined`). */
  enableThinking: z.boolean().optional(),
  /** More template variables, by their Jinja names (they win over the defaults). */
  variables: z.record(z.string(), z.unknown()).default({}),
});
export type ChatRenderOptions = z.input<typeof ChatRenderOptions>;

/** Names the Jinja runtime declares itself; a variable of the same name would be an error there. */
const RESERVED = new Set(["namespace", "raise_exception", "range", "strftime_now", "true", "false", "none"]);

/** Templates parsed from each tokenizer, by name (parsing is the costly part of rendering). */
const parsedByTokenizer = new WeakMap<Tokenizer, Map<string, ChatTemplate>>();

/** A parsed chat template and where it came from (named in every error). */
export class ChatTemplate {
  private readonly template: Template;

  private constructor(
    readonly text: string,
    readonly source: string,
  ) {
    try {
      this.template = new Template(text);
    } catch (err) {
      throw new Error(`malformed chat template (${source}): ${(err as Error).message}`);
    }
  }

  /** A template given as text; `source` names it in errors. */
  static fromText(text: string, source = "chat template text"): ChatTemplate {
    return new ChatTemplate(text, source);
  }

  /** A template in a file (e.g. chat_template.jinja). */
  static fromFile(path: string): ChatTemplate {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      throw new Error(`cannot read chat template file ${path}: ${(err as Error).message}`);
    }
    return new ChatTemplate(text, path);
  }

  /**
   * An override as a user gives it (a CLI flag, a recipe field): the path of a file when one
   * exists there, else the template text itself when it looks like Jinja ("{{" or "{%").
   */
  static fromOverride(value: string): ChatTemplate {
    if (!value.includes("\n") && existsSync(value) && statSync(value).isFile())
      return ChatTemplate.fromFile(value);
    if (value.includes("{{") || value.includes("{%"))
      return ChatTemplate.fromText(value, "chat template override");
    throw new Error(`chat template override: no file ${value}, and it is not template text either`);
  }

  /** The tokenizer's template of that name ("default": the single one of tokenizer_config.json). */
  static fromTokenizer(tokenizer: Tokenizer, name = "default"): ChatTemplate {
    let cached = parsedByTokenizer.get(tokenizer);
    if (!cached) {
      cached = new Map();
      parsedByTokenizer.set(tokenizer, cached);
    }
    const hit = cached.get(name);
    if (hit) return hit;
    const found = tokenizer.chatTemplates[name];
    if (!found) {
      const names = Object.keys(tokenizer.chatTemplates);
      const where = tokenizer.sources.tokenizerConfig ?? tokenizer.sources.tokenizerJson;
      throw new Error(
        names.length === 0
          ? `no chat template with the tokenizer (${where}); give one as an override`
          : `no chat template named "${name}" with the tokenizer (${where}); it has: ${names.join(", ")}`,
      );
    }
    const parsed = new ChatTemplate(found.text, found.source);
    cached.set(name, parsed);
    return parsed;
  }

  /**
   * Renders a conversation. `specialTokens` are the bos_token/eos_token/... variables
   * (a tokenizer's specialTokensMap()).
   */
  render(
    messages: readonly ChatMessage[],
    options: ChatRenderOptions = {},
    specialTokens: Readonly<Record<string, unknown>> = {},
  ): string {
    const parsed = ChatRenderOptions.parse(options);
    const checked = messages.map((m, i) => {
      const r = ChatMessage.safeParse(m);
      if (!r.success) {
        const why = r.error.issues.map((x) => `${x.path.join(".") || "message"}: ${x.message}`).join("; ");
        throw new Error(`chat message ${i}: ${why}`);
      }
      return r.data;
    });
    const variables: Record<string, unknown> = {
      ...specialTokens,
      messages: checked,
      add_generation_prompt: parsed.addGenerationPrompt,
      tools: null,
      documents: null,
    };
    if (parsed.enableThinking !== undefined) variables.enable_thinking = parsed.enableThinking;
    Object.assign(variables, parsed.variables);
    for (const key of Object.keys(variables)) {
      if (RESERVED.has(key))
        throw new Error(`chat template variable "${key}" is reserved by the template engine`);
    }
    try {
      return this.template.render(variables);
    } catch (err) {
      throw new Error(`chat template (${this.source}) failed to render: ${(err as Error).message}`);
    }
  }
}

/** What applyChatTemplate returns. */
export interface RenderedChat {
  text: string;
  /** The text's ids, tokenized without adding special tokens. */
  ids: Int32Array;
}

/**
 * Renders a conversation with the tokenizer's template (or `template`: a ChatTemplate, or an
 * override as fromOverride reads it) and its special tokens, and tokenizes the result.
 */
export function applyChatTemplate(
  tokenizer: Tokenizer,
  messages: readonly ChatMessage[],
  options: ChatRenderOptions & { template?: ChatTemplate | string; templateName?: string } = {},
): RenderedChat {
  const { template, templateName, ...renderOptions } = options;
  const chosen =
    template instanceof ChatTemplate
      ? template
      : typeof template === "string"
        ? ChatTemplate.fromOverride(template)
        : ChatTemplate.fromTokenizer(tokenizer, templateName);
  const text = chosen.render(messages, renderOptions, tokenizer.specialTokensMap());
  return { text, ids: tokenizer.encode(text, { addSpecialTokens: false }) };
}
