/**
 * What an evaluation samples from. Engines that run here (the local model, llama.cpp) are
 * ChatGenerators: every completion comes back with its token count and finish reason, or the
 * call throws. An OpenAI-compatible server is looser (src/generate/openai-client.ts): one
 * request can fail while the others succeed, and a server may not say how many tokens a
 * completion took. An EvalSampler speaks the looser language, so the runner can record failed
 * samples and unknown counts instead of giving up or guessing; a ChatGenerator is wrapped.
 */
import type { ChatSample } from "../generate/openai-client.ts";
import type { SamplingOptions } from "../generate/sampling.ts";
import type { ChatGenerator } from "../generate/types.ts";
import type { ChatMessage } from "../model/chat-template.ts";

export type { ChatSample };

/** n samples of each conversation, some possibly failed or of unknown length. */
export interface EvalSampler {
  /** A short description for reports: "local models/x", "endpoint http://... (model)". */
  readonly name: string;
  /** result[conversation][sample]; `signal` stops what can be stopped (an HTTP request). */
  sample(
    conversations: ReadonlyArray<ReadonlyArray<ChatMessage>>,
    options: Partial<SamplingOptions>,
    signal?: AbortSignal,
  ): Promise<ChatSample[][]>;
}

/** `generator` as an EvalSampler: its own sample() when it has one (an endpoint), else chat(). */
export function samplerOf(generator: ChatGenerator | EvalSampler): EvalSampler {
  if ("sample" in generator && typeof generator.sample === "function") return generator;
  const chat = generator as ChatGenerator;
  return { name: chat.name, sample: (conversations, options) => chat.chat(conversations, options) };
}
