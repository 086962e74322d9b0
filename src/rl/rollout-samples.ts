/**
 * A step's rollout as plain records, one per completion: what a run store
 * keeps and a rollout browser shows (the prompt, the completion, each reward
 * term's value, the total, the advantage, the group).
 */
import type { z } from "zod";
import type { FinishReason } from "../generate/types.ts";
import { type AdvantageOptions, groupAdvantages } from "./advantages.ts";
import type { Rollout } from "./rollout.ts";

/** One rewarded completion of a step. */
export interface RolloutSample {
  /** The group's place in the step's generation order (0, 1, ...): a prompt's G completions share it. */
  group: number;
  /** The completion's place in its group (0 .. G-1). */
  index: number;
  /** The generation round that made it (0 = first; more with dynamic sampling). */
  round: number;
  /** The prompt as the model saw it. */
  prompt: string;
  /** The decoded completion (special tokens left out). */
  completion: string;
  /** Completion tokens. */
  tokens: number;
  finishReason: FinishReason;
  /** Each reward term's own value (unweighted; null where it did not apply). */
  rewards: Record<string, number | null>;
  /** The weighted total GRPO trained on. */
  reward: number;
  /** The group-relative advantage; null for a group dynamic sampling dropped (not trained on). */
  advantage: number | null;
  /**
   * The version of the policy that sampled it: the GRPO steps whose updates its weights had
   * seen (one less than the step trained on it in one-step-off-policy mode).
   */
  policyVersion: number;
}

/**
 * The samples of `rollout`, every generated group in order, with the advantages of the
 * groups kept; `o.policyVersion` (default 0) is the version of the weights that sampled it.
 */
export function rolloutSamples(
  rollout: Rollout,
  o: { groupSize: number; scaleRewards: z.output<typeof AdvantageOptions>["scale"]; policyVersion?: number },
): RolloutSample[] {
  const kept = new Set(rollout.kept);
  const keptRewards = rollout.kept.flatMap((g) => Array.from(g.rewards));
  const advantages = keptRewards.length
    ? groupAdvantages(keptRewards, { groupSize: o.groupSize, scale: o.scaleRewards })
    : new Float32Array(0);
  let keptAt = 0;
  return rollout.groups.flatMap((g, group) => {
    const base = kept.has(g) ? keptAt : -1;
    if (base >= 0) keptAt += g.completions.length;
    return g.completions.map((c, index) => ({
      group,
      index,
      round: g.round,
      prompt: g.prompt.text,
      completion: c.text,
      tokens: c.ids.length,
      finishReason: c.finishReason,
      rewards: Object.fromEntries(Object.entries(g.terms).map(([name, v]) => [name, v[index]])),
      reward: g.rewards[index],
      advantage: base >= 0 ? advantages[base + index] : null,
      policyVersion: o.policyVersion ?? 0,
    }));
  });
}
