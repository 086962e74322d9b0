/**
 * A model to sample from, however it runs: a local model folder (our engine),
 * any OpenAI-compatible server (vLLM, SGLang, llama.cpp's server, Ollama,
 * `reasonrl serve`), or a GGUF file in llama.cpp. Each becomes a
 * ChatGenerator; the engines are imported only when used, so talking to a
 * server never loads llama.cpp or the native addon. Used by `reasonrl eval`
 * (src/eval) and by the curation steps that call models (src/data).
 */
import type { DType } from "../engine/dtype.ts";
import type { ChatGenerator } from "./types.ts";

/** The model to sample from and how to reach it. */
export type TargetSpec =
  | {
      kind: "local";
      /** Hugging Face model folder. */
      dir: string;
      threads?: number;
      /** The engine's device: "cpu" (default), "vulkan:0", "cuda:0", "metal", "auto". */
      device?: string;
      /** Storage of the frozen weight matrices: f32 (default), f16 or bf16. */
      dtype?: DType;
      /** Sequences decoded together. */
      maxBatch?: number;
    }
  | {
      kind: "endpoint";
      /** Base URL of the server ("http://127.0.0.1:8000" or ".../v1"). */
      url: string;
      apiKey?: string;
      /** The model name to ask for (default: the first the server lists). */
      model?: string;
      /** Requests in flight at most. */
      concurrency?: number;
      /** Time limit of one request attempt, in ms. */
      timeoutMs?: number;
      /** Attempts after the first (with exponential backoff). */
      retries?: number;
    }
  | {
      kind: "gguf";
      file: string;
      threads?: number;
      /** KV-cache tokens per sequence: prompt plus completion. */
      contextSize?: number;
      /** Sequences decoded in parallel. */
      sequences?: number;
    };

/** An opened target: its generator, and how to let go of it (`dispose()`, or `await using`). */
export interface OpenedTarget extends AsyncDisposable {
  generator: ChatGenerator;
  /** Frees what opening took (model weights, llama.cpp contexts); an HTTP client holds nothing. */
  dispose(): Promise<void>;
}

/** An OpenedTarget of `generator`, released by `release`. */
export function openedTarget(
  generator: ChatGenerator,
  release: () => Promise<void> = async () => {},
): OpenedTarget {
  return { generator, dispose: release, [Symbol.asyncDispose]: release };
}

/** Opens the target (loads the model, or prepares the HTTP client). */
export async function openTarget(spec: TargetSpec): Promise<OpenedTarget> {
  switch (spec.kind) {
    case "local": {
      const { LocalChatGenerator } = await import("./local-chat.ts");
      const generator = await LocalChatGenerator.open(spec.dir, {
        threads: spec.threads,
        device: spec.device,
        dtype: spec.dtype,
        maxBatch: spec.maxBatch,
      });
      return openedTarget(generator, () => generator.dispose());
    }
    case "endpoint": {
      const { OpenAIChatGenerator } = await import("./openai-client.ts");
      const generator = new OpenAIChatGenerator({
        baseUrl: spec.url,
        ...(spec.apiKey ? { apiKey: spec.apiKey } : {}),
        ...(spec.model ? { model: spec.model } : {}),
        ...(spec.concurrency ? { concurrency: spec.concurrency } : {}),
        ...(spec.timeoutMs ? { timeoutMs: spec.timeoutMs } : {}),
        ...(spec.retries !== undefined ? { retries: spec.retries } : {}),
      });
      return openedTarget(generator);
    }
    case "gguf": {
      const { LlamaCppChatGenerator } = await import("./llamacpp-chat.ts");
      const generator = await LlamaCppChatGenerator.open(spec.file, {
        ...(spec.threads ? { threads: spec.threads } : {}),
        ...(spec.contextSize ? { contextSize: spec.contextSize } : {}),
        ...(spec.sequences ? { sequences: spec.sequences } : {}),
      });
      return openedTarget(generator, () => generator.dispose());
    }
  }
}
