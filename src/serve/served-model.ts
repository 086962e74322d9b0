/**
 * The model behind the server: weights on the engine, its tokenizer and chat
 * template, the LocalGenerator whose continuous batch the requests for the
 * base share, and the LoRA adapters loaded over the same weights at runtime
 * (adapters.ts), each with a generator of its own, taking turns on the
 * engine (engine-turns.ts).
 */
import { basename, resolve } from "node:path";
import type { DType } from "../engine/dtype.ts";
import { Engine } from "../engine/index.ts";
import { LocalGenerator } from "../generate/local.ts";
import { applyChatTemplate, type ChatMessage } from "../model/chat-template.ts";
import { headDim } from "../model/llama.ts";
import { type LoadedModel, loadModel } from "../model/load.ts";
import { Tokenizer } from "../model/tokenizer.ts";
import { AdapterRegistry, modelNotFound, type ServedTarget } from "./adapters.ts";
import { EngineTurns } from "./engine-turns.ts";

/** How to load and run the served model. */
export interface ServedModelOptions {
  /** The name clients see in /v1/models and responses (default: the folder's name). */
  name?: string;
  /** Compute threads (default: all cores). */
  threads?: number;
  /** The engine's device: "cpu" (default), "vulkan:0", "cuda:0", "metal", "auto". */
  device?: string;
  /** Storage of the frozen weight matrices: f32 (default), or f16/bf16 to halve memory. */
  dtype?: DType;
  /** Sequences decoded together at most (default 32). */
  maxBatch?: number;
  /** Prompt + completion tokens of one sequence at most (default: the model's context, up to 4096). */
  context?: number;
  /** Where a failure in the background (freeing an unloaded adapter) is reported; default console.error. */
  logError?: (err: unknown) => void;
}

/** Context length used when the model's is larger and none is given (keeps the KV cache bounded). */
export const DEFAULT_CONTEXT = 4096;

/**
 * A loaded model the server generates with. Release it with `dispose()` (or
 * `await using`) once the server has closed; generating afterwards throws.
 */
export class ServedModel implements ServedTarget {
  #disposed = false;
  /** Generators take turns on the engine: the base's and each adapter's. */
  readonly turns = new EngineTurns();
  /** The LoRA adapters loaded over the base weights, by name. */
  readonly adapters: AdapterRegistry;

  private constructor(
    /** The model id clients see. */
    readonly id: string,
    /** The folder it was loaded from (the `root` of /v1/models). */
    readonly root: string,
    readonly engine: Engine,
    readonly tokenizer: Tokenizer,
    /** The base model's continuous batch. */
    readonly generator: LocalGenerator,
    /** Prompt + completion tokens of one sequence at most. */
    readonly contextLength: number,
    /** Seconds since the epoch when the model was loaded (the `created` of /v1/models). */
    readonly created: number,
    model: LoadedModel,
    logError: (err: unknown) => void,
  ) {
    this.adapters = new AdapterRegistry({
      engine,
      base: model.weights,
      config: model.config,
      baseId: id,
      generatorOptions: generator.options,
      tokenizer,
      turns: this.turns,
      logError,
    });
  }

  /** Loads a Hugging Face model folder (config.json, safetensors, tokenizer.json). */
  static async load(dir: string, options: ServedModelOptions = {}): Promise<ServedModel> {
    const engine = new Engine({ threads: options.threads, device: options.device });
    try {
      const model = await loadModel(engine, dir, { dtype: options.dtype });
      return ServedModel.#start(dir, engine, model, options);
    } catch (err) {
      engine.dispose();
      throw err;
    }
  }

  /** The server's side of a loaded model: tokenizer, context length and the shared generator. */
  static #start(dir: string, engine: Engine, model: LoadedModel, options: ServedModelOptions): ServedModel {
    const tokenizer = Tokenizer.fromDir(dir, { eosTokenIds: model.hf.eosTokenIds });
    const maxPositions = model.hf.maxPositions;
    const context = options.context ?? Math.min(maxPositions, DEFAULT_CONTEXT);
    if (!(Number.isInteger(context) && context > 1 && context <= maxPositions))
      throw new Error(
        `serve: the context must be an integer in [2, ${maxPositions}] (the model's), got ${context}`,
      );
    const eosIds = [...new Set([...tokenizer.eosIds, ...(model.generation?.eosTokenIds ?? [])])];
    const generator = new LocalGenerator(
      engine,
      model.config,
      model.weights,
      { maxBatch: options.maxBatch ?? 32, eosIds, maxPositions: context },
      tokenizer,
    );
    const id = options.name ?? basename(resolve(dir));
    const created = Math.floor(Date.now() / 1000);
    const logError = options.logError ?? ((err) => console.error("reasonrl serve:", err));
    return new ServedModel(id, dir, engine, tokenizer, generator, context, created, model, logError);
  }

  /** The base is always served: a request for it holds nothing. */
  hold(): () => void {
    return () => {};
  }

  /**
   * What a request's `model` selects: the base (its id, or no name), or a loaded adapter. Until
   * the first adapter is loaded any other name is the base too, as this server always answered
   * clients that send a placeholder; from then on it is a 404 model_not_found, as vLLM answers.
   */
  target(name: string | null | undefined): ServedTarget {
    if (name == null || name === "" || name === this.id) return this;
    const adapter = this.adapters.get(name);
    if (adapter) return adapter;
    if (!this.adapters.everLoaded) return this;
    throw modelNotFound(name, this.adapters.servedNames());
  }

  /**
   * Stops the generators of the base and of every adapter (sequences still running are rejected,
   * their KV caches are freed), then frees the engine with the weights. Later requests are rejected
   * by the generators. Calling it again does nothing.
   */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.generator.dispose();
    await this.adapters.dispose();
    this.engine.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  get vocabSize(): number {
    return this.generator.config.vocabSize;
  }

  /** Most sequences decoded together. */
  get maxBatch(): number {
    return this.generator.options.maxBatch;
  }

  /** Bytes of KV cache when every slot holds a full context (the most the server allocates). */
  get maxCacheBytes(): number {
    const c = this.generator.config;
    return 2 * c.layers * c.kvHeads * headDim(c) * 4 * this.contextLength * this.maxBatch;
  }

  /** Resolves when no request is being generated and no adapter is being loaded or freed. */
  async idle(): Promise<void> {
    await this.adapters.settled();
    await this.turns.idle();
    await this.generator.idle();
  }

  /** A completion prompt's ids (special tokens added as the tokenizer's post-processor says). */
  encode(text: string): Int32Array {
    return this.tokenizer.encode(text);
  }

  /** A conversation rendered with the model's chat template, opening the assistant's turn. */
  chatPrompt(messages: readonly ChatMessage[]): Int32Array {
    return applyChatTemplate(this.tokenizer, messages, { addGenerationPrompt: true }).ids;
  }

  /** The text of one token as logprobs report it (special tokens written out; "" for ids it lacks). */
  tokenText(id: number): string {
    return this.tokenizer.idToToken(id) === undefined ? "" : this.tokenizer.decode(Int32Array.of(id));
  }
}
