/**
 * The generation interface shared by every engine: the local model, and later
 * OpenAI-compatible servers and llama.cpp. GRPO trains on the token ids; the
 * log-prob of each sampled token is the sampler's, at its temperature: the
 * trainer does not use it as the "old" log-prob of its ratio, it recomputes
 * log-probs at temperature 1 as the paper's TRL did (src/rl/grpo-update.ts).
 */
import type { z } from "zod";
import type { ChatMessage } from "../model/chat-template.ts";
import type { SamplingOptions } from "./sampling.ts";

/** Why a completion ended: an EOS token or stop string ("stop"), or max tokens ("length"). */
export type FinishReason = "stop" | "length";

export interface Completion {
  /** Generated token ids, the EOS token included when it ended the completion. */
  ids: Int32Array;
  /** Decoded text without special tokens, cut before a stop string ("" without a tokenizer). */
  text: string;
  /** Log-prob of each generated token under the temperature-scaled policy. */
  logprobs: Float32Array;
  finishReason: FinishReason;
}

export interface Generator {
  /** n completions for each prompt (token ids): result[prompt][sample]. */
  generate(prompts: Int32Array[], options?: z.input<typeof SamplingOptions>): Promise<Completion[][]>;
}

/** A completion of an engine that returns text (an HTTP server, llama.cpp's own sampling). */
export interface TextCompletion {
  /** The completion's text (special tokens left out, cut before a stop string). */
  text: string;
  /** Completion tokens, as the engine counted them. */
  tokens: number;
  finishReason: FinishReason;
}

/**
 * Chat generation, for evaluation: each engine applies the chat template its own way (the local
 * model's tokenizer_config.json, the server's, the GGUF's), so conversations go in as messages.
 */
export interface ChatGenerator {
  /** A short description for reports: "local models/x", "endpoint http://...", "gguf x.gguf". */
  readonly name: string;
  /** n completions for each conversation: result[conversation][sample]. */
  chat(
    conversations: ReadonlyArray<ReadonlyArray<ChatMessage>>,
    options?: z.input<typeof SamplingOptions>,
  ): Promise<TextCompletion[][]>;
}
