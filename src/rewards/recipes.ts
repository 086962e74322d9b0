/**
 * The paper's reward set-ups as named reward configurations: format x 1 plus
 * accuracy x 2 (Experiments 1 and 2) or cosine x 2 (Experiment 3), open-rs
 * recipes/grpo.yaml:46-51 and README.md:91-98.
 *
 * - The "-upstream" set-ups run what the paper ran, bit for bit: the
 *   `*_upstream` rewards of upstream.ts (gold from the solution column, 1.0 for
 *   an unparseable gold, verify(answer, gold), cosine on characters without
 *   clamping). The paper recipes (recipes/open-rs1/2/3.yaml) use them.
 * - The others are this library's fixed variants: gold from `answer` (then
 *   `solution`), an unparseable gold skipped with a warning, cosine on tokens
 *   with L / Lmax clamped to [0, 1] (recipes/open-rs3-tokens.yaml).
 * The format reward is upstream's own in both (rewards.py:70-81: "\n</think>\n"
 * exactly once).
 */
import type { RewardsConfig } from "./compose.ts";
import { COSINE_PAPER } from "./length.ts";

const FORMAT = { name: "format", weight: 1, params: { variant: "think-close" } };

export const REWARD_RECIPES = {
  /** Experiments 1 and 2 as the paper ran them: format + 2 x open-rs's accuracy_reward. */
  "open-rs-accuracy-upstream": { rewards: [FORMAT, { name: "accuracy_upstream", weight: 2 }] },
  /** Experiment 3 as the paper ran it: format + 2 x open-rs's cosine reward, Lmax = 3584 characters. */
  "open-rs-cosine-upstream": {
    rewards: [FORMAT, { name: "cosine_upstream", weight: 2, params: { maxLength: COSINE_PAPER.maxLength } }],
  },
  /** Experiments 1 and 2, fixed judging: format + 2 x accuracy (unparseable golds skipped). */
  "open-rs-accuracy": { rewards: [FORMAT, { name: "accuracy", weight: 2 }] },
  /** Experiment 3, fixed: format + 2 x cosine on tokens, L / Lmax clamped, Lmax = 3584 tokens. */
  "open-rs-cosine": {
    rewards: [FORMAT, { name: "cosine", weight: 2, params: { maxLength: COSINE_PAPER.maxLength } }],
  },
} satisfies Record<string, RewardsConfig>;
export type RewardRecipeName = keyof typeof REWARD_RECIPES;
