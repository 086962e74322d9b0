/**
 * Chat generation with llama.cpp (node-llama-cpp's prebuilt CPU binding) on a GGUF file, for
 * evaluating a model as llama.cpp runs it.
 *
 * Prompts: each conversation is rendered with the GGUF's own `tokenizer.chat_template` (the
 * tokenizer_config.json template our exporter copies there) by our Jinja renderer
 * (src/model/chat-template.ts), then tokenized by llama.cpp with special tokens parsed and
 * nothing added (the template writes BOS and the like itself, as apply_chat_template does).
 * node-llama-cpp's own chat wrappers are not used: they recognise a template and substitute
 * a hand-written equivalent (or a generic one), so the prompt could differ from the text that
 * the local engine and a Hugging Face server build from the same template. Rendering the
 * template ourselves keeps the three targets of `reasonrl eval` on the very same prompt.
 * The template sees bos_token and eos_token as the GGUF names them.
 *
 * Sampling: node-llama-cpp's sampler (greedy at temperature 0). It follows llama.cpp's order:
 * top-k, top-p and min-p act on the untempered distribution and the temperature comes after,
 * where Hugging Face, vLLM and the local engine apply the temperature first. min-p is converted
 * exactly (minP^T at T = 1 keeps the tokens that minP keeps at temperature T); top-p cannot be,
 * so sampled completions with top-p < 1 follow llama.cpp's meaning of it. top-k 0 (off) makes
 * llama.cpp sort the whole vocabulary for each token (~20 ms for 151k tokens).
 * Sample j of every conversation uses seed + j (mod 2^32), so a sample does not depend on which
 * other conversations share the call; exactly so with one sequence only, because batched
 * decoding rounds differently depending on which sequences share a batch.
 *
 * A completion ends at an end-of-generation token (counted in `tokens`, left out of the text),
 * at a stop string (the text cut before it), or after maxTokens tokens ("length"). A prompt
 * plus maxTokens must fit the context of a sequence.
 *
 * Parallelism: the context has several sequences; the samples of a call are spread over them,
 * and node-llama-cpp decodes the busy sequences' next tokens together in one batch.
 */
import { availableParallelism } from "node:os";
import { basename } from "node:path";
import type { LlamaContext, LlamaContextSequence, LlamaModel, Token } from "node-llama-cpp";
import type { z } from "zod";
import { type ChatMessage, ChatTemplate } from "../model/chat-template.ts";
import { openLlamaCppContext } from "./llamacpp.ts";
import { Pool } from "./pool.ts";
import { SamplingOptions } from "./sampling.ts";
import { StopText } from "./stop-text.ts";
import type { ChatGenerator, FinishReason, TextCompletion } from "./types.ts";

/** Options of `LlamaCppChatGenerator.open`. */
export interface LlamaCppChatOptions {
  /** Compute threads (default: the machine's cores). */
  threads?: number;
  /** Tokens of each sequence's context: prompt plus completion (default 4096). */
  contextSize?: number;
  /** Sequences decoded in parallel (default 4); each has its own contextSize of KV cache. */
  sequences?: number;
  /** Storage of the KV cache (default F16, llama.cpp's; F32 to compare with our engine exactly). */
  kvCache?: "F16" | "F32";
  /** A template to use instead of the GGUF's: a ChatTemplate, or a file path or Jinja text. */
  chatTemplate?: ChatTemplate | string;
}

/** A rendered conversation: the prompt text and llama.cpp's tokens of it. */
export interface LlamaCppPrompt {
  text: string;
  ids: Int32Array;
}

export class LlamaCppChatGenerator implements ChatGenerator {
  /** "gguf <file name>". */
  readonly name: string;
  readonly #sequences: Pool<LlamaContextSequence>;
  /** bos_token and eos_token as the GGUF names them, for the template. */
  readonly #specialTokens: Record<string, string>;

  private constructor(
    readonly path: string,
    readonly model: LlamaModel,
    readonly context: LlamaContext,
    readonly template: ChatTemplate,
  ) {
    this.name = `gguf ${basename(path)}`;
    this.#sequences = new Pool(Array.from({ length: context.totalSequences }, () => context.getSequence()));
    this.#specialTokens = {};
    const { bosString, eosString } = model.tokens;
    if (bosString) this.#specialTokens.bos_token = bosString;
    if (eosString) this.#specialTokens.eos_token = eosString;
  }

  /** Loads `ggufPath` in llama.cpp (CPU). Rejects when the binding cannot load or the file has no template. */
  static async open(ggufPath: string, options: LlamaCppChatOptions = {}): Promise<LlamaCppChatGenerator> {
    const { model, context } = await openLlamaCppContext(ggufPath, {
      threads: options.threads ?? availableParallelism(),
      contextSize: options.contextSize ?? 4096,
      sequences: options.sequences ?? 4,
      kvCache: options.kvCache,
    });
    try {
      return new LlamaCppChatGenerator(ggufPath, model, context, chosenTemplate(ggufPath, model, options));
    } catch (e) {
      await context.dispose();
      await model.dispose();
      throw e;
    }
  }

  /** The prompt llama.cpp gets for a conversation: the template's text and its tokens. */
  prompt(messages: ReadonlyArray<ChatMessage>): LlamaCppPrompt {
    const text = this.template.render(messages, { addGenerationPrompt: true }, this.#specialTokens);
    return { text, ids: Int32Array.from(this.model.tokenize(text, true)) };
  }

  async chat(
    conversations: ReadonlyArray<ReadonlyArray<ChatMessage>>,
    options: z.input<typeof SamplingOptions> = {},
  ): Promise<TextCompletion[][]> {
    const o = SamplingOptions.parse(options);
    const room = this.context.contextSize;
    const prompts = conversations.map((messages, i) => {
      const ids = Array.from(this.prompt(messages).ids, (id) => id as Token);
      if (ids.length === 0) throw new Error(`${this.name}: conversation ${i} renders to an empty prompt`);
      if (ids.length + o.maxTokens > room)
        throw new Error(
          `${this.name}: conversation ${i} has ${ids.length} prompt tokens; with maxTokens ${o.maxTokens} ` +
            `that is more than the context of ${room} tokens (open it with a larger contextSize)`,
        );
      return ids;
    });
    return Promise.all(
      prompts.map((prompt) =>
        Promise.all(
          Array.from({ length: o.n }, (_, j) =>
            this.#sequences.use((sequence) => this.#sample(sequence, prompt, o, o.seed + j)),
          ),
        ),
      ),
    );
  }

  /** One completion of `prompt` on a sequence, emptied first. */
  async #sample(
    sequence: LlamaContextSequence,
    prompt: Token[],
    o: SamplingOptions,
    seed: number,
  ): Promise<TextCompletion> {
    await sequence.clearHistory();
    const ids: Token[] = [];
    const text = StopText.decoding((piece) => this.model.detokenize(piece as Token[], false), o.stop);
    let finishReason: FinishReason = "length";
    const tokens = sequence.evaluate(prompt, {
      temperature: o.temperature,
      topP: o.topP,
      topK: o.topK,
      minP: o.temperature > 0 ? o.minP ** o.temperature : o.minP,
      seed: llamaSeed(seed),
      yieldEogToken: true,
    });
    for await (const token of tokens) {
      ids.push(token);
      if (this.model.isEogToken(token) || text.push(token)) {
        finishReason = "stop";
        break; // ends the evaluation
      }
      if (ids.length >= o.maxTokens) break;
    }
    text.finish();
    return { text: text.text, tokens: ids.length, finishReason };
  }

  /** Frees the context and the model (node-llama-cpp's own dispose). Calling it again does nothing. */
  async dispose(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

/** The override of `options`, else the GGUF's tokenizer.chat_template. */
function chosenTemplate(path: string, model: LlamaModel, options: LlamaCppChatOptions): ChatTemplate {
  const override = options.chatTemplate;
  if (override instanceof ChatTemplate) return override;
  if (typeof override === "string") return ChatTemplate.fromOverride(override);
  const text = model.fileInfo.metadata.tokenizer?.chat_template;
  if (!text)
    throw new Error(`${path} has no tokenizer.chat_template; give a template with the chatTemplate option`);
  return ChatTemplate.fromText(text, `tokenizer.chat_template of ${path}`);
}

/** A seed as llama.cpp takes it: unsigned 32-bit, and never 0xFFFFFFFF (its "pick one at random"). */
function llamaSeed(seed: number): number {
  const unsigned = seed >>> 0;
  return unsigned === 0xffffffff ? 0xfffffffe : unsigned;
}
