/**
 * A recipe's rewards as GRPO's reward function: the weighted total of the
 * terms (compose.ts) is each completion's reward (0 where no term applies),
 * and the batch's metrics are each term's mean over the completions it applied
 * to, as `reward_<name>` (TRL's rewards/<name>/mean), and `train_accuracy`, the
 * share of the training samples the accuracy term judged correct. Accuracy is
 * measured even when the recipe does not reward it (cosine recipes): it is then
 * added with weight 0.
 */
import { composeRewards, type RewardsConfig } from "./compose.ts";
import { REWARD_RECIPES, type RewardRecipeName } from "./recipes.ts";
import type { RewardContext, RewardFunction } from "./types.ts";

/**
 * The reward function of `rewards` (a named set-up of recipes.ts, or the terms
 * with their weights). Failures of a term go to ctx.warn; module paths are
 * relative to `baseDir`. Configuration errors throw here, before any training.
 */
export async function rewardFunction(
  rewards: RewardRecipeName | RewardsConfig,
  ctx: RewardContext,
  baseDir?: string,
): Promise<RewardFunction> {
  const config = typeof rewards === "string" ? REWARD_RECIPES[rewards] : rewards;
  const measured = config.rewards.some((r) => r.name === "accuracy")
    ? config
    : { ...config, rewards: [...config.rewards, { name: "accuracy", weight: 0 }] };
  const composed = await composeRewards(measured, baseDir);
  return async (inputs) => {
    const scores = await composed.score(inputs, ctx);
    const metrics: Record<string, number> = {};
    for (const [name, values] of Object.entries(scores.perReward)) {
      const applied = values.filter((v): v is number => v !== null);
      if (applied.length) metrics[`reward_${name}`] = applied.reduce((a, b) => a + b, 0) / applied.length;
    }
    if (metrics.reward_accuracy !== undefined) metrics.train_accuracy = metrics.reward_accuracy;
    return { rewards: Float32Array.from(scores.total, (t) => t ?? 0), metrics, terms: scores.perReward };
  };
}
