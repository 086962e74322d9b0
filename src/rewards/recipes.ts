/**
 * The paper's reward set-ups (../shared/research/open-rs-spec.md, sections 2-3)
 * as named reward configurations: format × 1 plus accuracy × 2 (Experiments 1
 * and 2) or cosine × 2 (Experiment 3). The "-upstream" variants reproduce the
 * upstream code's quirks (gold from the solution column, reward 1 for an
 * unparseable gold, cosine on characters without clamping) for comparison runs.
 */
import type { RewardsConfig } from "./compose.ts";
import { COSINE_PAPER } from "./length.ts";

const FORMAT = { name: "format", weight: 1, params: { variant: "think-close" } };

const UPSTREAM_CORRECTNESS = { goldFields: ["solution"], unparseableGold: "one" };

export const REWARD_RECIPES = {
  /** Experiments 1 and 2: format (open-rs "\n</think>\n" check) + 2 × accuracy. */
  "open-rs-accuracy": { rewards: [FORMAT, { name: "accuracy", weight: 2 }] },
  /** Experiment 3: format + 2 × cosine length-scaled accuracy, Lmax = 3584 tokens. */
  "open-rs-cosine": {
    rewards: [FORMAT, { name: "cosine", weight: 2, params: { maxLength: COSINE_PAPER.maxLength } }],
  },
  "open-rs-accuracy-upstream": {
    rewards: [FORMAT, { name: "accuracy", weight: 2, params: UPSTREAM_CORRECTNESS }],
  },
  "open-rs-cosine-upstream": {
    rewards: [
      FORMAT,
      {
        name: "cosine",
        weight: 2,
        params: {
          ...UPSTREAM_CORRECTNESS,
          maxLength: COSINE_PAPER.maxLength,
          unit: "chars",
          clampRatio: false,
        },
      },
    ],
  },
} satisfies Record<string, RewardsConfig>;
export type RewardRecipeName = keyof typeof REWARD_RECIPES;
