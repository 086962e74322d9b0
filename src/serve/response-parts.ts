/** The pieces of a response both endpoints share: ids, usage counts, log-prob steps. */
import { randomUUID } from "node:crypto";
import type { SequenceResult, TokenEvent } from "../generate/scheduler.ts";

/** A response id: the prefix, then 24 random hex digits. */
export function responseId(prefix: string): string {
  return `${prefix}-${randomUUID().replaceAll("-", "").slice(0, 24)}`;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** Token counts: each prompt once, every choice's completion tokens. */
export function usageOf(prompts: readonly Int32Array[], completionTokens: number): Usage {
  const promptTokens = prompts.reduce((sum, p) => sum + p.length, 0);
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
}

/** Completion tokens of finished sequences. */
export function completionTokens(results: readonly SequenceResult[]): number {
  return results.reduce((sum, r) => sum + r.ids.length, 0);
}

/** A log-prob JSON can carry: -Infinity (a probability that underflowed) becomes -9999, as vLLM does. */
export function jsonLogprob(x: number): number {
  return Number.isFinite(x) ? x : -9999;
}

/** Seconds since the epoch (the `created` field). */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** One generated token with its log-prob and top alternatives (a streamed event, or a step of a result). */
export type Step = Pick<TokenEvent, "token" | "logprob" | "top">;

/** The steps of a finished sequence. */
export function stepsOf(r: SequenceResult): Step[] {
  return Array.from(r.ids, (token, i) => ({ token, logprob: r.logprobs[i], top: r.top[i] ?? [] }));
}
