/**
 * The shape of a reward function. A reward scores a batch of completions —
 * in GRPO, one prompt's group — and returns one number per completion, or null
 * where it does not apply (TRL's None: left out of the weighted sum).
 */
import type { z } from "zod";
import type { VerifyOptionsInput } from "../verify/config.ts";
import type { VerifyResult } from "../verify/verify.ts";

/** One completion to score, with its prompt and dataset row. */
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

/** A ready-to-use reward: scores a batch (one group), one value per input. */
export type RewardFn = (
  inputs: readonly RewardInput[],
  ctx: RewardContext,
) => Promise<(number | null)[]> | (number | null)[];

/** A named reward with its parameters as a zod schema (defaults = the documented values). */
export interface RewardDefinition<S extends z.ZodType = z.ZodType> {
  name: string;
  description: string;
  params: S;
  create(params: z.output<S>): RewardFn;
}

/** Declares a reward definition, keeping its parameter type. */
export function defineReward<S extends z.ZodType>(def: RewardDefinition<S>): RewardDefinition<S> {
  return def;
}

/** Wraps a per-completion scorer as a batch reward. */
export function perItem(score: (input: RewardInput) => number | null): RewardFn {
  return (inputs) => inputs.map(score);
}
