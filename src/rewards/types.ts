/**
 * The shapes of rewards.
 *
 * - A `RewardTerm` is one reward of the library (accuracy, format, cosine, ...):
 *   it gives each completion of a batch a number, or null where it does not
 *   apply (TRL's None: left out of the weighted sum).
 * - A `RewardFunction` is what GRPO calls: a batch of completions in, one
 *   reward per completion and the batch's metrics (each term's mean, ...) out.
 *   `rewardFunction` (compose.ts) makes one from the weighted terms of a recipe;
 *   any other function of this type serves as well.
 */
import type { z } from "zod";
import type { VerifyOptionsInput } from "../verify/config.ts";
import type { VerifyResult } from "../verify/verify.ts";

/** One completion to be rewarded, with its prompt and dataset row. */
export interface RewardInput {
  /** The prompt as the model saw it (rendered chat template or plain text). */
  prompt: string;
  completion: {
    /** Decoded completion text, special tokens skipped. */
    text: string;
    /** Token ids of the completion (up to and including EOS if generated). */
    tokenIds: readonly number[];
  };
  /** The dataset row: problem, answer, solution, ... */
  row: Readonly<Record<string, unknown>>;
  /**
   * The group the completion belongs to: GRPO numbers a batch's prompts 0, 1, ...
   * and gives each of a prompt's G completions its number. Without it, consecutive
   * completions of the same prompt text form a group (see perGroup).
   */
  group?: number;
}

/** What a reward may use besides its inputs. */
export interface RewardContext {
  /** Math verification with a time limit (a VerifierPool). */
  verifier: { verify(gold: string, pred: string, options?: VerifyOptionsInput): Promise<VerifyResult> };
  /** Reports a problem that does not stop the run (e.g. an unparseable gold answer). */
  warn(message: string): void;
}

/** One reward term, ready to use: a value per input (null where it does not apply). */
export type RewardTerm = (
  inputs: readonly RewardInput[],
  ctx: RewardContext,
) => Promise<(number | null)[]> | (number | null)[];

/** A named reward with its parameters as a zod schema (defaults = the documented values). */
export interface RewardDefinition<S extends z.ZodType = z.ZodType> {
  name: string;
  description: string;
  params: S;
  create(params: z.output<S>): RewardTerm;
}

/** Declares a reward definition, keeping its parameter type. */
export function defineReward<S extends z.ZodType>(def: RewardDefinition<S>): RewardDefinition<S> {
  return def;
}

/** Wraps a reward of one completion as a reward term (of a batch). */
export function perItem(reward: (input: RewardInput) => number | null): RewardTerm {
  return (inputs) => inputs.map(reward);
}

/**
 * Wraps a reward that compares completions with each other (Kimi's length reward,
 * anything computed over the batch it is given) so that it sees one prompt's group
 * at a time, never the whole step: the inputs are split by `group` (or, where it is
 * not set, into runs of consecutive inputs with the same prompt text), the reward is
 * called on each group, and the values are put back in the inputs' order.
 */
export function perGroup(reward: RewardTerm): RewardTerm {
  return async (inputs, ctx) => {
    const groups = new Map<number | string, number[]>();
    let run = -1;
    inputs.forEach((input, i) => {
      if (input.group === undefined && (i === 0 || input.prompt !== inputs[i - 1].prompt)) run++;
      const key = input.group ?? `run ${run}`;
      const members = groups.get(key) ?? [];
      members.push(i);
      groups.set(key, members);
    });
    const out = new Array<number | null>(inputs.length);
    await Promise.all(
      [...groups.values()].map(async (members) => {
        const values = await reward(
          members.map((i) => inputs[i]),
          ctx,
        );
        if (values.length !== members.length)
          throw new Error(`returned ${values.length} values for a group of ${members.length}`);
        members.forEach((i, k) => {
          out[i] = values[k];
        });
      }),
    );
    return out;
  };
}

/** What a reward function gives for a batch of completions. */
export interface Rewarded {
  /** One finite reward per completion, in order. */
  rewards: Float32Array;
  /** Numbers to log for the batch (e.g. `reward_<name>`: each term's mean); may be empty. */
  metrics: Record<string, number>;
  /** Each term's own value per completion, unweighted (null where it did not apply); optional. */
  terms?: Record<string, (number | null)[]>;
}

/** GRPO's reward: rewards (and metrics) for a batch of completions. */
export type RewardFunction = (inputs: readonly RewardInput[]) => Promise<Rewarded>;
