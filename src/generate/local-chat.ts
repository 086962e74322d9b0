/**
 * Chat generation with a local model folder: each conversation is rendered
 * with the model's chat template (with the generation prompt, e.g. the
 * DeepSeek-R1 template's "<think>\n"), tokenized, and decoded by
 * LocalGenerator in batches. The ChatGenerator that `reasonrl eval --model`
 * uses.
 */
import type { z } from "zod";
import type { DType } from "../engine/dtype.ts";
import { Engine } from "../engine/index.ts";
import { applyChatTemplate, type ChatMessage } from "../model/chat-template.ts";
import { loadModel } from "../model/load.ts";
import { Tokenizer } from "../model/tokenizer.ts";
import { LocalGenerator } from "./local.ts";
import type { SamplingOptions } from "./sampling.ts";
import type { ChatGenerator, Generator, TextCompletion } from "./types.ts";

/** Options of LocalChatGenerator.open. */
export interface LocalChatOptions {
  /** Compute threads (default: all cores). */
  threads?: number;
  /** The engine's device: "cpu" (default), "vulkan:0", "cuda:0", "metal", "auto". */
  device?: string;
  /** Sequences decoded together (default: LocalGenerator's, 32). */
  maxBatch?: number;
  /** Storage of the weight matrices: f32 (default), or bf16/f16 to halve memory. */
  dtype?: DType;
  /** Qwen3's enable_thinking switch, passed to the chat template when set. */
  enableThinking?: boolean;
}

/**
 * Chat on a local model. Release it with `dispose()` (or `await using`): it
 * stops the generator and frees the weights; chatting afterwards throws.
 */
export class LocalChatGenerator implements ChatGenerator {
  readonly #release: () => Promise<void>;
  #disposed = false;

  /**
   * @param name the report's description ("local <dir>")
   * @param tokenizer renders and tokenizes the conversations (its chat template)
   * @param generator decodes token ids (a LocalGenerator over the same model)
   * @param release frees the model's memory (dispose())
   */
  constructor(
    readonly name: string,
    readonly tokenizer: Tokenizer,
    readonly generator: Generator,
    readonly options: Pick<LocalChatOptions, "enableThinking"> = {},
    release: () => Promise<void> = async () => {},
  ) {
    this.#release = release;
  }

  /** Loads the model folder `dir` (config.json, safetensors, tokenizer files) on a new engine. */
  static async open(dir: string, options: LocalChatOptions = {}): Promise<LocalChatGenerator> {
    const engine = new Engine({ threads: options.threads, device: options.device });
    let model: Awaited<ReturnType<typeof loadModel>>;
    try {
      model = await loadModel(engine, dir, { dtype: options.dtype });
    } catch (err) {
      engine.dispose();
      throw err;
    }
    const tokenizer = Tokenizer.fromDir(dir, { eosTokenIds: model.hf.eosTokenIds });
    const eosIds = [...new Set([...tokenizer.eosIds, ...(model.generation?.eosTokenIds ?? [])])];
    const generator = new LocalGenerator(
      engine,
      model.config,
      model.weights,
      { eosIds, ...(options.maxBatch ? { maxBatch: options.maxBatch } : {}) },
      tokenizer,
    );
    const release = async () => {
      await generator.dispose();
      engine.dispose(); // the weights with it
    };
    return new LocalChatGenerator(`local ${dir}`, tokenizer, generator, options, release);
  }

  /** The prompt token ids of a conversation: its chat template with the generation prompt. */
  promptIds(conversation: ReadonlyArray<ChatMessage>): Int32Array {
    return applyChatTemplate(this.tokenizer, conversation, {
      addGenerationPrompt: true,
      ...(this.options.enableThinking !== undefined ? { enableThinking: this.options.enableThinking } : {}),
    }).ids;
  }

  async chat(
    conversations: ReadonlyArray<ReadonlyArray<ChatMessage>>,
    options: z.input<typeof SamplingOptions> = {},
  ): Promise<TextCompletion[][]> {
    if (this.#disposed) throw new Error(`${this.name}: chat() after dispose()`);
    if (conversations.length === 0) return [];
    const prompts = conversations.map((c) => this.promptIds(c));
    const groups = await this.generator.generate(prompts, options);
    return groups.map((group) =>
      group.map((c) => ({ text: c.text, tokens: c.ids.length, finishReason: c.finishReason })),
    );
  }

  /** Stops the generator and frees the model's weights; chat() throws afterwards. Idempotent. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.#release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
