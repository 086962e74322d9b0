/**
 * llama.cpp (through node-llama-cpp's prebuilt binaries) as an independent
 * reference: next-token log-probs of given token ids, and greedy decoding of
 * many prompts as parallel sequences of one context. Used by the parity test
 * and `reasonrl bench generate`; not yet a full `Generator` (no sampling
 * settings, no per-token log-probs of generated text).
 *
 * Runs on the CPU, with a fixed thread count. node-llama-cpp exposes
 * probabilities (softmax of llama.cpp's logits, in f32), not raw logits, so
 * log-probs (logits minus their log-sum-exp) are what can be compared.
 */
import type { Llama, LlamaContext, LlamaContextSequence, LlamaModel, Token } from "node-llama-cpp";

/** Options of `LlamaCppRunner.open`. */
export interface LlamaCppOptions {
  /** Compute threads (default 2). */
  threads?: number;
  /** Parallel sequences of the context (default 1). */
  sequences?: number;
  /** Context size in tokens of each sequence (default 1024). */
  contextSize?: number;
  /** Flash attention (default false: the plain attention path, as ours; "auto": llama.cpp decides). */
  flashAttention?: boolean | "auto";
  /** Tokens processed per decode call (default: the context size). */
  batchSize?: number;
  /**
   * Storage of llama.cpp's KV cache (default F16, llama.cpp's own default; F32
   * is node-llama-cpp's experimental option, used to compare with our f32 cache).
   */
  kvCache?: "F16" | "F32";
}

let llamaPromise: Promise<Llama> | null = null;

/**
 * node-llama-cpp's CPU binding, loaded once: prebuilt binaries only (never a
 * build, never a download). Rejects with the loader's reason when they cannot load.
 */
export function loadLlamaCpp(): Promise<Llama> {
  llamaPromise ??= (async () => {
    const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
    return getLlama({
      gpu: false,
      build: "never",
      skipDownload: true,
      usePrebuiltBinaries: true,
      progressLogs: false,
      logLevel: LlamaLogLevel.error,
      maxThreads: 0, // no pool limit: each context uses exactly its `threads`
    });
  })();
  return llamaPromise;
}

/** Why llama.cpp cannot run here, or null when its binaries load. */
export async function llamaCppUnavailable(): Promise<string | null> {
  try {
    await loadLlamaCpp();
    return null;
  } catch (e) {
    return `node-llama-cpp's prebuilt binaries do not load: ${(e as Error).message}`;
  }
}

/** A GGUF model loaded in llama.cpp (CPU only) with one context as `options` say. */
export async function openLlamaCppContext(
  ggufPath: string,
  options: LlamaCppOptions = {},
): Promise<{ model: LlamaModel; context: LlamaContext; threads: number }> {
  const llama = await loadLlamaCpp();
  const threads = options.threads ?? 2;
  const model = await llama.loadModel({ modelPath: ggufPath, gpuLayers: 0 });
  try {
    const contextSize = options.contextSize ?? 1024;
    const context = await model.createContext({
      sequences: options.sequences ?? 1,
      contextSize,
      batchSize: options.batchSize ?? contextSize,
      threads: { ideal: threads, min: threads },
      flashAttention: options.flashAttention ?? false,
      ...(options.kvCache === "F32"
        ? { experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" }
        : {}),
    });
    return { model, context, threads };
  } catch (e) {
    await model.dispose();
    throw e;
  }
}

/** A GGUF model loaded in llama.cpp with one context. Call `dispose()` (or `await using`) when done. */
export class LlamaCppRunner {
  /** The context's sequences, taken once and reused (a disposed one comes back only asynchronously). */
  readonly #sequences: LlamaContextSequence[];

  private constructor(
    readonly model: LlamaModel,
    readonly context: LlamaContext,
    readonly threads: number,
  ) {
    this.#sequences = Array.from({ length: context.totalSequences }, () => context.getSequence());
  }

  static async open(ggufPath: string, options: LlamaCppOptions = {}): Promise<LlamaCppRunner> {
    const { model, context, threads } = await openLlamaCppContext(ggufPath, options);
    return new LlamaCppRunner(model, context, threads);
  }

  /** The first `n` sequences, emptied. */
  async #fresh(n: number): Promise<LlamaContextSequence[]> {
    if (n > this.#sequences.length)
      throw new Error(`llama.cpp: ${n} sequences asked for, the context has ${this.#sequences.length}`);
    const sequences = this.#sequences.slice(0, n);
    await Promise.all(sequences.map((s) => s.clearHistory()));
    return sequences;
  }

  /**
   * Log-probs of the next token after each prefix of `ids` (every position in
   * one evaluation): row t is over the vocabulary after ids[0..t]. Tokens
   * llama.cpp gives probability 0 (underflow) get -Infinity.
   */
  async logProbs(ids: ArrayLike<number>, vocabSize: number): Promise<Float32Array[]> {
    const [sequence] = await this.#fresh(1);
    const input = Array.from(ids, (id): [Token, { generateNext: { probabilities: true } }] => [
      id as Token,
      { generateNext: { probabilities: true } },
    ]);
    const out = await sequence.controlledEvaluate(input);
    return input.map((_, t) => {
      const probs = out[t]?.next.probabilities;
      if (!probs) throw new Error(`llama.cpp returned no probabilities at position ${t}`);
      const row = new Float32Array(vocabSize).fill(Number.NEGATIVE_INFINITY);
      for (const [token, p] of probs) row[token] = Math.log(p);
      return row;
    });
  }

  /**
   * Greedy continuations of each prompt, `maxTokens` tokens each (end-of-
   * generation tokens do not stop it), decoded as parallel sequences of the
   * context: llama.cpp batches the sequences' next tokens into one decode.
   */
  async greedy(prompts: readonly ArrayLike<number>[], maxTokens: number): Promise<Int32Array[]> {
    const sequences = await this.#fresh(prompts.length);
    return Promise.all(
      prompts.map(async (prompt, i) => {
        const out: number[] = [];
        const tokens = Array.from(prompt, (id) => id as Token);
        for await (const token of sequences[i].evaluate(tokens, { temperature: 0, yieldEogToken: true })) {
          out.push(token);
          if (out.length >= maxTokens) break;
        }
        return Int32Array.from(out);
      }),
    );
  }

  /** Frees the context and the model. Calling it again does nothing. */
  async dispose(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
