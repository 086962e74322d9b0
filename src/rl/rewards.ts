/**
 * Scores GRPO completions with the composed rewards of a recipe (src/rewards):
 * each completion is given its prompt text and dataset row, the weighted total
 * is the GRPO reward (0 when no reward applies), and each reward's mean is
 * reported for the step's metrics.
 */
import type { ComposedReward } from "../rewards/compose.ts";
import type { RewardContext } from "../rewards/types.ts";
import type { RewardFn } from "./grpo-step.ts";

export interface DatasetPrompt {
  /** The prompt as the model saw it (chat template applied). */
  text: string;
  /** The dataset row: problem, answer, solution, ... */
  row: Readonly<Record<string, unknown>>;
}

/** A RewardFn over `prompts`; `onScores` receives each reward's mean (null when it never applied). */
export function composedRewardFn(
  rewards: ComposedReward,
  prompts: readonly DatasetPrompt[],
  ctx: RewardContext,
  onScores?: (means: Record<string, number | null>, errors: string[]) => void,
): RewardFn {
  return async (completions) => {
    const inputs = completions.map((c) => ({
      prompt: prompts[c.prompt].text,
      completion: { text: c.text, tokenIds: Array.from(c.ids) },
      row: prompts[c.prompt].row,
    }));
    const scores = await rewards.score(inputs, ctx);
    const means: Record<string, number | null> = {};
    for (const [name, values] of Object.entries(scores.perReward)) {
      const applied = values.filter((v): v is number => v !== null);
      means[name] = applied.length ? applied.reduce((a, b) => a + b, 0) / applied.length : null;
    }
    onScores?.(
      means,
      scores.errors.map((e) => `${e.reward}: ${e.message}`),
    );
    return scores.total.map((t) => t ?? 0);
  };
}
