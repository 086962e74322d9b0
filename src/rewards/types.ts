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

/** What a reward function gives for a batch of completions. */
export interface Rewarded {
  /** One finite reward per completion, in order. */
  rewards: Float32Array;
  /** Numbers to log for the batch (e.g. `reward_<name>`: each term's mean); may be empty. */
  metrics: Record<string, number>;
}

/** GRPO's reward: rewards (and metrics) for a batch of completions. */
export type RewardFunction = (inputs: readonly RewardInput[]) => Promise<Rewarded>;
