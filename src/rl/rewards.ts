/**
 * Scores GRPO completions with the composed rewards of a recipe (src/rewards):
 * each completion is given its prompt text and dataset row, the weighted total
 * is the GRPO reward (0 when no reward applies), and each reward's mean over
 * the completions it applied to is logged as `reward_<name>` (TRL's
 * rewards/<name>/mean). `accuracy` is the accuracy reward's mean, measured even
 * when the recipe does not reward it (cosine recipes): it is then added with
 * weight 0.
 */
import { type ComposedReward, composeRewards, type RewardsConfig } from "../rewards/compose.ts";
import type { RewardContext } from "../rewards/types.ts";
import type { TrainerRewardFn } from "./trainer.ts";

export interface DatasetPrompt {
  /** The prompt as the model saw it (chat template applied). */
  text: string;
  /** The dataset row: problem, answer, solution, ... */
  row: Readonly<Record<string, unknown>>;
}

/** The recipe's rewards, with a weight-0 "accuracy" added when it has none (so accuracy is always logged). */
export function composeWithAccuracy(config: RewardsConfig, baseDir?: string): Promise<ComposedReward> {
  const has = config.rewards.some((r) => r.name === "accuracy");
  return composeRewards(
    has ? config : { ...config, rewards: [...config.rewards, { name: "accuracy", weight: 0 }] },
    baseDir,
  );
}

/** A trainer reward over `prompts`: the weighted totals, and each reward's mean as metrics. Failures go to ctx.warn. */
export function composedRewardFn(
  rewards: ComposedReward,
  prompts: readonly DatasetPrompt[],
  ctx: RewardContext,
): TrainerRewardFn {
  return async (completions) => {
    const inputs = completions.map((c) => ({
      prompt: prompts[c.prompt].text,
      completion: { text: c.text, tokenIds: Array.from(c.ids) },
      row: prompts[c.prompt].row,
    }));
    const scores = await rewards.score(inputs, ctx);
    for (const e of scores.errors) ctx.warn(`reward ${e.reward}: ${e.message}`);
    const metrics: Record<string, number> = {};
    for (const [name, values] of Object.entries(scores.perReward)) {
      const applied = values.filter((v): v is number => v !== null);
      if (applied.length) metrics[`reward_${name}`] = applied.reduce((a, b) => a + b, 0) / applied.length;
    }
    if (metrics.reward_accuracy !== undefined) metrics.accuracy = metrics.reward_accuracy;
    return { rewards: scores.total.map((t) => t ?? 0), metrics };
  };
}
