/**
 * The LoRA adapters a server holds over its base model, loaded and unloaded
 * at runtime under names clients then pass as `model`: vLLM's runtime LoRA
 * protocol (`POST /v1/load_lora_adapter`, `POST /v1/unload_lora_adapter`,
 * added in vLLM v0.6.1 by vllm-project/vllm#6566, enabled there with
 * `--enable-lora` and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True; see
 * vllm/entrypoints/openai/serving_models.py for its checks and messages).
 *
 * An adapter is a PEFT folder (adapter_config.json + adapter_model.safetensors,
 * as src/model/lora.ts saveLora writes it). Loading reads and checks it in
 * host memory first, then, in an exclusive engine turn (engine-turns.ts),
 * makes only its A and B matrices on the engine, attached to the SAME base
 * weight tensors, and gives it a LocalGenerator of its own. Only then is the
 * name selectable: a client never sees half an adapter. Unloading takes the
 * name away at once (later requests naming it get 404); the requests already
 * using it finish, then its generator and tensors are freed.
 */

import type { z } from "zod";
import type { Engine, Tensor } from "../engine/index.ts";
import { LocalGenerator, type LocalGeneratorOptions } from "../generate/local.ts";
import type { LlamaConfig, LlamaWeights } from "../model/llama.ts";
import { attachLora, type LoraFile, LoraFileError, loraTensors, readLora } from "../model/lora.ts";
import type { Tokenizer } from "../model/tokenizer.ts";
import type { EngineTurns } from "./engine-turns.ts";
import { ApiError } from "./errors.ts";

/** A model a request can name: the base or a loaded adapter. */
export interface ServedTarget {
  /** The name clients use, and the `model` of the responses. */
  readonly id: string;
  /** The continuous batch its sequences are decoded in. */
  readonly generator: LocalGenerator;
  /**
   * Counts a request using it until the returned function is called (an unloaded adapter is
   * freed only once none is left). Throws a 404 when the adapter was unloaded meanwhile.
   */
  hold(): () => void;
}

/** An adapter as GET /v1/models lists it (vLLM's model card: `root` its path, `parent` the base). */
export interface AdapterCard {
  id: string;
  root: string;
  parent: string;
  created: number;
}

/** What the registry needs of the served model. */
export interface AdapterHost {
  engine: Engine;
  /** The frozen base weights every adapter is attached to (never copied). */
  base: LlamaWeights;
  config: LlamaConfig;
  /** The base's served name (an adapter may not take it). */
  baseId: string;
  /** Options of each adapter's generator (those of the base's). */
  generatorOptions: z.input<typeof LocalGeneratorOptions>;
  tokenizer: Tokenizer;
  turns: EngineTurns;
  /** Where a failure to free an unloaded adapter is reported. */
  logError: (err: unknown) => void;
}

/** A 404 for a `model` that names nothing this server serves (OpenAI's and vLLM's code). */
export function modelNotFound(name: string, served: readonly string[]): ApiError {
  return new ApiError(
    404,
    `The model \`${name}\` does not exist. This server serves: ${served.map((s) => `'${s}'`).join(", ")}.`,
    "not_found_error",
    "model",
    "model_not_found",
  );
}

/** A loaded adapter: its generator, its tensors, and the requests using it. */
class LoadedAdapter implements ServedTarget {
  #users = 0;
  #unloaded = false;
  #lastUserGone: (() => void) | null = null;

  constructor(
    readonly id: string,
    /** The folder it was loaded from, as the client gave it. */
    readonly root: string,
    readonly created: number,
    readonly generator: LocalGenerator,
    /** Its A and B matrices: all the engine memory it adds besides its KV cache. */
    readonly tensors: Tensor[],
    readonly servedNames: () => string[],
  ) {}

  hold(): () => void {
    if (this.#unloaded) throw modelNotFound(this.id, this.servedNames());
    this.#users++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#users--;
      if (this.#users === 0) this.#lastUserGone?.();
    };
  }

  /** Refuses new requests; resolves once the last request using it released it. */
  retire(): Promise<void> {
    this.#unloaded = true;
    if (this.#users === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#lastUserGone = resolve;
    });
  }
}

/** The adapters loaded over one served model, by name. */
export class AdapterRegistry {
  readonly #host: AdapterHost;
  readonly #loaded = new Map<string, LoadedAdapter>();
  /** Names being loaded now (taken: another load of the same name is a clash). */
  readonly #loading = new Set<string>();
  /** Unloaded adapters not yet freed (requests still using them, or the free under way). */
  readonly #retiring = new Set<Promise<void>>();
  #everLoaded = false;
  #disposed = false;

  constructor(host: AdapterHost) {
    this.#host = host;
  }

  /** The loaded adapter called `name`, if any. */
  get(name: string): ServedTarget | undefined {
    return this.#loaded.get(name);
  }

  /** The loaded adapters, in load order. */
  list(): AdapterCard[] {
    return [...this.#loaded.values()].map((a) => ({
      id: a.id,
      root: a.root,
      parent: this.#host.baseId,
      created: a.created,
    }));
  }

  /** Names a request may pass as `model`: the base's, then the adapters'. */
  servedNames(): string[] {
    return [this.#host.baseId, ...this.#loaded.keys()];
  }

  /** True once an adapter was loaded (from then on, an unknown `model` is a 404). */
  get everLoaded(): boolean {
    return this.#everLoaded;
  }

  /** Adapters whose engine memory is still held: the loaded ones and those unloaded but not yet freed. */
  get held(): number {
    return this.#loaded.size + this.#retiring.size;
  }

  /**
   * Loads the PEFT folder `path` under `name`; resolves once requests can name it. Throws a 400
   * when the name is taken (the base's, a loaded adapter's or one being loaded) or the folder does
   * not fit the base, a 404 when there is no adapter at `path` (as vLLM).
   */
  async load(name: string, path: string): Promise<void> {
    if (this.#disposed) throw new Error("serve: the model was disposed");
    if (name === this.#host.baseId || this.#loaded.has(name) || this.#loading.has(name))
      throw new ApiError(
        400,
        name === this.#host.baseId
          ? `The lora adapter '${name}' cannot be loaded: it is the name of the base model.`
          : `The lora adapter '${name}' has already been loaded.`,
        "invalid_request_error",
        "lora_name",
        "adapter_exists",
      );
    this.#loading.add(name);
    try {
      const file = await readAdapter(path, this.#host.base);
      const adapter = await this.#host.turns.exclusive(() => this.#attach(name, path, file));
      if (this.#disposed) {
        await this.#free(adapter);
        throw new Error("serve: the model was disposed while the adapter was loading");
      }
      this.#loaded.set(name, adapter);
      this.#everLoaded = true;
    } finally {
      this.#loading.delete(name);
    }
  }

  /**
   * Takes `name` away (later requests naming it get 404) and frees the adapter once the requests
   * using it finished (in the background; `settled()` waits for it). A 404 when no adapter has
   * that name.
   */
  unload(name: string): void {
    const adapter = this.#loaded.get(name);
    if (!adapter)
      throw new ApiError(
        404,
        `The lora adapter '${name}' cannot be found.`,
        "not_found_error",
        "lora_name",
        "adapter_not_found",
      );
    this.#loaded.delete(name);
    const freed = adapter
      .retire()
      .then(() => this.#free(adapter))
      .catch((err) => this.#host.logError(err))
      .finally(() => this.#retiring.delete(freed));
    this.#retiring.add(freed);
  }

  /** Resolves once every unloaded adapter was freed. */
  async settled(): Promise<void> {
    while (this.#retiring.size > 0) await Promise.all(this.#retiring);
  }

  /**
   * Stops every adapter's generator (sequences still running are rejected) and frees the adapters.
   * Call it before disposing the engine. Idempotent.
   */
  async dispose(): Promise<void> {
    this.#disposed = true;
    const loaded = [...this.#loaded.values()];
    this.#loaded.clear();
    for (const adapter of loaded) await adapter.generator.dispose();
    await this.settled();
    for (const adapter of loaded) await this.#free(adapter);
  }

  /** Makes the adapter's tensors and generator (the engine must be computing nothing). */
  #attach(name: string, path: string, file: LoraFile): LoadedAdapter {
    const { engine, base, config, generatorOptions, tokenizer } = this.#host;
    const weights = attachLora(engine, base, file, { trainable: false });
    const generator = new LocalGenerator(engine, config, weights, generatorOptions, tokenizer);
    const created = Math.floor(Date.now() / 1000);
    return new LoadedAdapter(name, path, created, generator, loraTensors(weights), () => this.servedNames());
  }

  /** Stops the adapter's generator and frees its matrices, in an exclusive turn. */
  async #free(adapter: LoadedAdapter): Promise<void> {
    await this.#host.turns.exclusive(async () => {
      await adapter.generator.dispose();
      if (this.#host.engine.disposed) return;
      for (const t of adapter.tensors) t.free();
    });
  }
}

/** Reads and checks the adapter folder; its problems as vLLM answers them (404 none there, else 400). */
async function readAdapter(path: string, base: LlamaWeights): Promise<LoraFile> {
  try {
    return await readLora(path, base);
  } catch (err) {
    if (!(err instanceof LoraFileError)) throw err;
    if (err.kind === "missing")
      throw new ApiError(404, err.message, "not_found_error", "lora_path", "adapter_not_found");
    throw new ApiError(400, err.message, "invalid_request_error", "lora_path", "invalid_adapter");
  }
}
