/**
 * The prompts of GRPO, carried by value: a training prompt is its token ids
 * (what the policy reads), its text (what the rewards read) and its dataset
 * row (the gold answer, ...), together. A step takes its prompts from the
 * run's prompts in a seeded order; dynamic sampling asks the step's
 * `PromptSource` for more.
 */
import { itemsOfStep } from "../train/data-order.ts";
import { runSeeds } from "../train/seeds.ts";

export interface TrainingPrompt {
  /** Token ids: the chat template with its generation prompt, cut to the recipe's maxPromptTokens. */
  ids: Int32Array;
  /** The prompt as the model saw it (chat template applied). */
  text: string;
  /** The dataset row: problem, answer, solution, ... */
  row: Readonly<Record<string, unknown>>;
}

/** Where dynamic sampling gets more prompts from. */
export interface PromptSource {
  /** At most `count` more prompts (fewer, or none, when the data runs out). */
  more(count: number): TrainingPrompt[];
}

/** A step's prompts: its own, and the source of more for dynamic sampling. */
export interface StepPrompts {
  prompts: TrainingPrompt[];
  source: PromptSource;
}

/**
 * The prompts of step `step` (0-based): its slice of the seeded order of
 * `all`, `perStep` of them, and a source that draws further prompts in a
 * second seeded order, apart from the steps' own. Both depend only on (step, seed).
 */
export function promptsOfStep(
  all: readonly TrainingPrompt[],
  perStep: number,
  step: number,
  seed: number,
): StepPrompts {
  const pick = (indices: number[]) => indices.map((i) => all[i]);
  let round = 0;
  return {
    prompts: pick(itemsOfStep(all.length, perStep, step, runSeeds.dataOrder(seed))),
    source: {
      more(count) {
        round++;
        return pick(itemsOfStep(all.length, count, step * 64 + round, runSeeds.extraPrompts(seed)));
      },
    },
  };
}

/** A source that serves `prompts` in order, then none. */
export function listSource(prompts: readonly TrainingPrompt[]): PromptSource {
  let at = 0;
  return {
    more(count) {
      const out = prompts.slice(at, at + count);
      at += out.length;
      return out;
    },
  };
}
