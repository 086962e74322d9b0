/** Shared helpers of the reward tests: inputs, and a context whose verifier runs in-thread. */
import type { RewardContext, RewardInput } from "../../src/rewards/types.ts";
import { verifySync } from "../../src/verify/verify.ts";

/** A completion with `tokens` fake token ids (the length rewards count them). */
export function input(text: string, row: Record<string, unknown> = {}, tokens = 0): RewardInput {
  return { prompt: "Q", completion: { text, tokenIds: Array.from({ length: tokens }, (_, i) => i) }, row };
}

/** A context that records warnings and verifies synchronously (no worker threads). */
export function context(): RewardContext & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    warnings,
    warn: (m) => warnings.push(m),
    verifier: { verify: async (gold, pred, options) => verifySync(gold, pred, options) },
  };
}
