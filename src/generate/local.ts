/**
 * Generation with the local engine. Every sequence, whoever asks for it, runs
 * in one decode loop: the continuous-batching scheduler (scheduler.ts) over
 * decode slots (decode-slots.ts) and a KV cache grown as sequences lengthen.
 * Sequences are seated as slots free up, so a batch never waits for its
 * longest completion.
 *
 * Three ways in: generate() runs a set of prompts with one set of sampling
 * options (GRPO's rollouts); submit() and generateEach() give each sequence its
 * own options (the server). Each sequence draws from its own seeded generator,
 * so what it samples does not depend on what else is being decoded.
 */
import { setMaxListeners } from "node:events";
import { z } from "zod";
import type { Engine } from "../engine/index.ts";
import { defaultKvDtype } from "../model/kv-cache.ts";
import type { LlamaConfig, LlamaWeights } from "../model/llama.ts";
import type { Tokenizer } from "../model/tokenizer.ts";
import { promptSeed, SamplingOptions, sequenceRandom } from "./sampling.ts";
import {
  GenerationScheduler,
  type SchedulerStats,
  type SequenceOptions,
  type SequenceRequest,
  type SequenceResult,
  type TokenEvent,
} from "./scheduler.ts";
import type { Completion, Generator } from "./types.ts";

export const LocalGeneratorOptions = z.object({
  /** Sequences decoded together at most (the others wait for a free slot). */
  maxBatch: z.number().int().positive().default(32),
  /** Token ids that end a completion (the model's EOS ids). */
  eosIds: z.array(z.number().int()).default([]),
  /** Prompt + completion tokens of one sequence at most (the KV cache grows toward it as needed). */
  maxPositions: z.number().int().positive().default(32768),
  /**
   * Storage of the KV cache: "f16" halves its memory; "auto" is f16 for a model whose weights are
   * f16/bf16 and f32 for f32 weights (a policy in training samples with the numbers it trains on).
   */
  kvCache: z.enum(["auto", "f32", "f16"]).default("auto"),
});

/** One request of generateEach: a prompt with its own sampling options (n samples of it). */
export interface EachRequest {
  prompt: Int32Array;
  options?: z.input<typeof SamplingOptions> & Partial<Pick<SequenceOptions, "topLogprobs" | "logprobs">>;
}

/** Callbacks of generateEach. */
export interface EachHooks {
  /** After each token of sample `sample` of request `request`. */
  onToken?: (request: number, sample: number, event: TokenEvent) => void;
  /** Aborting it stops every sequence of the call (the promise rejects with an AbortError). */
  signal?: AbortSignal;
}

export class LocalGenerator implements Generator {
  readonly options: z.output<typeof LocalGeneratorOptions>;
  readonly #scheduler: GenerationScheduler;
  #disposed = false;

  constructor(
    readonly engine: Engine,
    readonly config: LlamaConfig,
    readonly weights: LlamaWeights,
    options: z.input<typeof LocalGeneratorOptions> = {},
    readonly tokenizer?: Tokenizer,
  ) {
    this.options = LocalGeneratorOptions.parse(options);
    const { maxBatch, maxPositions, eosIds, kvCache } = this.options;
    this.#scheduler = new GenerationScheduler(engine, config, weights, {
      maxBatch,
      maxPositions,
      eosIds,
      tokenizer,
      kvDtype: kvCache === "auto" ? defaultKvDtype(weights) : kvCache,
    });
  }

  /**
   * n completions of each prompt: result[prompt][sample]. Sample j of prompt i draws from
   * sequenceRandom(promptSeed(seed, i), j), so prompt i generated alone with seed promptSeed(seed, i)
   * gives the same samples (a fleet of servers relies on it). All sequences are submitted at once and
   * decoded by continuous batching; if one fails, the others are dropped and the promise rejects with
   * its error.
   */
  async generate(
    prompts: Int32Array[],
    options: z.input<typeof SamplingOptions> = {},
  ): Promise<Completion[][]> {
    this.#alive();
    const { n, seed, ...rest } = SamplingOptions.parse(options);
    if (rest.stop.length > 0 && !this.tokenizer) throw new Error("generate: stop strings need a tokenizer");
    prompts.forEach((p, i) => {
      if (p.length === 0) throw new Error(`generate: prompt ${i} is empty`);
      for (const t of p) {
        if (!(t >= 0 && t < this.config.vocabSize)) {
          throw new Error(
            `generate: prompt ${i} holds token ${t}, outside the vocabulary (${this.config.vocabSize})`,
          );
        }
      }
    });
    const failed = new AbortController();
    setMaxListeners(prompts.length * n + 1, failed.signal); // one listener per sequence
    const calls = prompts.map((prompt, i) =>
      Array.from({ length: n }, (_, j) =>
        this.#scheduler
          .submit({
            prompt,
            options: { ...rest, logprobs: true, topLogprobs: 0 },
            random: sequenceRandom(promptSeed(seed, i), j),
            signal: failed.signal,
          })
          .catch((err: unknown) => {
            failed.abort(err); // the call fails: its other sequences leave the batch
            throw err;
          }),
      ),
    );
    const results = await Promise.all(calls.map((samples) => Promise.all(samples)));
    return results.map((samples) =>
      samples.map(({ ids, text, logprobs, finishReason }) => ({ ids, text, logprobs, finishReason })),
    );
  }

  /**
   * Queues one sequence with its own options; it is decoded together with every other sequence
   * submitted meanwhile (continuous batching, up to maxBatch at a time).
   */
  submit(request: SequenceRequest): Promise<SequenceResult> {
    return this.#scheduler.submit(request);
  }

  /**
   * n completions of each request, each request with its own sampling options (temperature,
   * top-p/k, min-p, max tokens, stop strings, seed, n, top log-probs): result[request][sample].
   * Sample j of a request draws from sequenceRandom(seed, j), so a request gives what
   * generate([prompt], options) gives (promptSeed(seed, 0) is seed). All sequences are submitted at once (see submit).
   */
  async generateEach(requests: readonly EachRequest[], hooks: EachHooks = {}): Promise<SequenceResult[][]> {
    this.#alive();
    const calls = requests.map(({ prompt, options = {} }, r) => {
      const { n, seed, ...rest } = SamplingOptions.parse(options);
      return Array.from({ length: n }, (_, j) =>
        this.submit({
          prompt,
          options: { ...rest, topLogprobs: options.topLogprobs ?? 0, logprobs: options.logprobs ?? true },
          random: sequenceRandom(seed, j),
          onToken: hooks.onToken && ((event) => hooks.onToken?.(r, j, event)),
          signal: hooks.signal,
        }),
      );
    });
    return Promise.all(calls.map((samples) => Promise.all(samples)));
  }

  /** Resolves when the continuous batch has nothing waiting or running (its KV cache is then freed). */
  async idle(): Promise<void> {
    await this.#scheduler.idle();
  }

  /** Sequences waiting and running in the continuous batch, its step and token counts, its cache size. */
  stats(): SchedulerStats {
    return this.#scheduler.stats();
  }

  /**
   * Stops decoding after the step computing now, rejects every sequence still waiting or running
   * ("the generator was disposed"), and frees the KV cache. The weights stay (they belong to the
   * caller). Every later call throws. Idempotent.
   */
  async dispose(): Promise<void> {
    this.#disposed = true;
    await this.#scheduler.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  #alive(): void {
    if (this.#disposed) throw new Error("generate: the generator was disposed");
  }
}
