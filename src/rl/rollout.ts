/**
 * The first half of a GRPO step: the policy samples G completions for each
 * prompt (a group) and the reward function rewards every completion.
 *
 * With DAPO's dynamic sampling, a group whose G rewards are all equal has no
 * advantage and teaches nothing: it is dropped, and more prompts from the
 * step's prompt source are generated in its place, round after round, until
 * as many informative groups as prompts given are kept or maxRounds rounds
 * were made. Each round samples with its own seed.
 */
import { z } from "zod";
import type { Completion, Generator } from "../generate/types.ts";
import type { RewardFunction, RewardInput } from "../rewards/types.ts";
import { runSeeds } from "../train/seeds.ts";
import type { PromptSource, TrainingPrompt } from "./prompts.ts";

export const DynamicSamplingOptions = z.object({
  /** Generation rounds at most, the first one included; each later round asks the prompt source for more. */
  maxRounds: z.number().int().positive().default(3),
});

/** What the rollout reads of the step's options (see GrpoOptions). */
export interface RolloutOptions {
  groupSize: number;
  temperature: number;
  maxTokens: number;
  /** Off (false), or its options. */
  dynamicSampling: false | z.output<typeof DynamicSamplingOptions>;
}

/** A prompt's G completions and their rewards. */
export interface Group {
  prompt: TrainingPrompt;
  completions: Completion[];
  /** [G] */
  rewards: Float32Array;
  /** Each reward term's own value per completion ([G] each; null where it did not apply). */
  terms: Record<string, (number | null)[]>;
  /** The generation round that made it (0 = the first; more with dynamic sampling). */
  round: number;
}

/** The groups of a step's generation rounds. */
export interface Rollout {
  /** Every group generated and rewarded, in generation order. */
  groups: Group[];
  /** The groups to train on: all of them, or with dynamic sampling the informative ones. */
  kept: Group[];
  /** Generation rounds made (1 without dynamic sampling). */
  rounds: number;
  /** The reward function's metrics, averaged over every completion (weighted by batch size). */
  rewardMetrics: Record<string, number>;
  /** Seconds spent generating. */
  generateSeconds: number;
  /** Seconds spent in the reward function (the verifier, ...). */
  rewardSeconds: number;
}

/**
 * Generates a group for each prompt (sampling seed `seed` for the first round)
 * and rewards it; with dynamic sampling, in rounds, asking `source` for more prompts.
 */
export async function rollOut(
  generator: Generator,
  prompts: readonly TrainingPrompt[],
  source: PromptSource | undefined,
  reward: RewardFunction,
  o: RolloutOptions,
  seed: number,
): Promise<Rollout> {
  const G = o.groupSize;
  const out: Rollout = {
    groups: [],
    kept: [],
    rounds: 0,
    rewardMetrics: {},
    generateSeconds: 0,
    rewardSeconds: 0,
  };
  const metrics = new WeightedMeans();
  let batch = prompts;
  while (batch.length > 0) {
    const t0 = performance.now();
    const generated = await generator.generate(
      batch.map((p) => p.ids),
      { n: G, temperature: o.temperature, maxTokens: o.maxTokens, seed: runSeeds.round(seed, out.rounds) },
    );
    const t1 = performance.now();
    const inputs = generated.flatMap((group, i) => group.map((c) => rewardInput(batch[i], c, i)));
    const rewarded = await rewardAll(reward, inputs);
    metrics.add(rewarded.metrics, inputs.length);
    out.generateSeconds += (t1 - t0) / 1000;
    out.rewardSeconds += (performance.now() - t1) / 1000;
    out.rounds++;
    for (const [i, completions] of generated.entries()) {
      const [from, to] = [i * G, (i + 1) * G];
      const group: Group = {
        prompt: batch[i],
        completions,
        rewards: rewarded.rewards.subarray(from, to),
        terms: Object.fromEntries(Object.entries(rewarded.terms).map(([k, v]) => [k, v.slice(from, to)])),
        round: out.rounds - 1,
      };
      out.groups.push(group);
      if (!o.dynamicSampling || !allEqual(group.rewards)) out.kept.push(group);
    }
    const missing = prompts.length - out.kept.length;
    if (!o.dynamicSampling || !source || missing === 0 || out.rounds >= o.dynamicSampling.maxRounds) break;
    batch = source.more(missing);
    if (batch.length > missing) {
      throw new Error(
        `grpo: the prompt source gave ${batch.length} prompts for round ${out.rounds}, ${missing} asked`,
      );
    }
  }
  out.rewardMetrics = metrics.means();
  return out;
}

/** A completion with its prompt, dataset row and group (the prompt's place in the batch), as the rewards read it. */
function rewardInput(prompt: TrainingPrompt, c: Completion, group: number): RewardInput {
  return {
    prompt: prompt.text,
    completion: { text: c.text, tokenIds: Array.from(c.ids) },
    row: prompt.row,
    group,
  };
}

/** The reward function's result for `inputs`, checked: one finite reward each. */
async function rewardAll(reward: RewardFunction, inputs: RewardInput[]) {
  const rewarded = await reward(inputs);
  const rewards = Float32Array.from(rewarded.rewards);
  if (rewards.length !== inputs.length || !rewards.every(Number.isFinite)) {
    throw new Error(
      `grpo: the reward function gave ${rewards.length} finite rewards for ${inputs.length} completions`,
    );
  }
  const terms = rewarded.terms ?? {};
  for (const [name, values] of Object.entries(terms)) {
    if (values.length !== inputs.length)
      throw new Error(
        `grpo: reward term "${name}" gave ${values.length} values for ${inputs.length} completions`,
      );
  }
  return { rewards, metrics: rewarded.metrics, terms };
}

function allEqual(xs: Float32Array): boolean {
  return xs.every((x) => x === xs[0]);
}

/** Means of named numbers over several batches, weighted by batch size. */
class WeightedMeans {
  readonly #sums = new Map<string, { sum: number; weight: number }>();

  add(values: Record<string, number>, weight: number): void {
    for (const [k, v] of Object.entries(values)) {
      if (!Number.isFinite(v)) continue;
      const s = this.#sums.get(k) ?? { sum: 0, weight: 0 };
      s.sum += v * weight;
      s.weight += weight;
      this.#sums.set(k, s);
    }
  }

  means(): Record<string, number> {
    return Object.fromEntries([...this.#sums].map(([k, s]) => [k, s.sum / s.weight]));
  }
}
