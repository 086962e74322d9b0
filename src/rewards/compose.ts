/**
 * Weighted composition of rewards, as configured in a recipe: built-in rewards
 * by name, or user rewards from a TypeScript/JavaScript module. The total is
 * the weighted sum over the rewards that apply (null ones are left out, as TRL
 * does); it is null only when none applies. A reward that throws, returns the
 * wrong number of values or a non-finite value is reported and scored as
 * configured (null by default) — it never ends the run.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import { createReward } from "./registry.ts";
import type { RewardContext, RewardDefinition, RewardInput, RewardTerm } from "./types.ts";

const OnError = z
  .union([z.literal("skip"), z.number()])
  .describe('Score of a reward that fails: "skip" (null, left out of the total) or a number.');

export const RewardSpecSchema = z
  .object({
    name: z.string().min(1).describe("A built-in reward name, or a label for a module reward."),
    weight: z.number().default(1).describe("Weight in the total."),
    params: z
      .record(z.string(), z.unknown())
      .default({})
      .describe("Parameters, checked by the reward's schema."),
    module: z
      .string()
      .optional()
      .describe("Path of a .ts/.js module exporting the reward (relative to the recipe's folder)."),
    export: z.string().default("default").describe("Export of the module to use."),
    onError: OnError.optional(),
  })
  .strict();
export type RewardSpec = z.input<typeof RewardSpecSchema>;

export const RewardsConfigSchema = z
  .object({
    rewards: z.array(RewardSpecSchema).min(1).describe("The rewards and their weights."),
    onError: OnError.default("skip"),
  })
  .strict();
export type RewardsConfig = z.input<typeof RewardsConfigSchema>;

/** A failure of one reward on one batch. */
export interface RewardError {
  reward: string;
  message: string;
}

/** Scores of one batch: the weighted total and each reward's values. */
export interface RewardScores {
  total: (number | null)[];
  perReward: Record<string, (number | null)[]>;
  errors: RewardError[];
}

export interface ComposedReward {
  names: string[];
  weights: number[];
  score(inputs: readonly RewardInput[], ctx: RewardContext): Promise<RewardScores>;
}

function isDefinition(x: unknown): x is RewardDefinition {
  return typeof x === "object" && x !== null && "create" in x && "params" in x;
}

/**
 * A module reward: either a RewardDefinition (params checked by its own schema), or a
 * function (input, params, ctx) => number | null | Promise<number | null> called per completion.
 */
async function loadModuleReward(
  spec: z.output<typeof RewardSpecSchema>,
  baseDir: string,
): Promise<RewardTerm> {
  const path = resolve(baseDir, spec.module as string);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`reward "${spec.name}": cannot load module ${path}: ${(e as Error).message}`);
  }
  const x = mod[spec.export];
  if (x === undefined)
    throw new Error(`reward "${spec.name}": module ${path} has no export "${spec.export}"`);
  if (isDefinition(x)) {
    const r = x.params.safeParse(spec.params);
    if (!r.success) {
      const issue = r.error.issues[0];
      throw new Error(`reward "${spec.name}": parameter "${issue.path.join(".")}": ${issue.message}`);
    }
    return x.create(r.data);
  }
  if (typeof x === "function") {
    const fn = x as (input: RewardInput, params: unknown, ctx: RewardContext) => unknown;
    return (inputs, ctx) =>
      Promise.all(inputs.map(async (input) => (await fn(input, spec.params, ctx)) as number | null));
  }
  throw new Error(
    `reward "${spec.name}": export "${spec.export}" of ${path} is neither a function nor a reward definition`,
  );
}

/**
 * Builds the composed reward of a recipe's `rewards` section. `baseDir` resolves module
 * paths (the recipe's folder). Configuration errors throw here, before any training.
 */
export async function composeRewards(
  config: RewardsConfig,
  baseDir = process.cwd(),
): Promise<ComposedReward> {
  const parsed = RewardsConfigSchema.safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`rewards: field "${issue.path.join(".")}": ${issue.message}`);
  }
  const cfg = parsed.data;
  const names = cfg.rewards.map((r) => r.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new Error(`rewards: "${dup}" appears twice (give module rewards distinct names)`);
  const fns = await Promise.all(
    cfg.rewards.map((spec) =>
      spec.module ? loadModuleReward(spec, baseDir) : createReward(spec.name, spec.params),
    ),
  );
  const weights = cfg.rewards.map((r) => r.weight);

  return {
    names,
    weights,
    async score(inputs, ctx) {
      const errors: RewardError[] = [];
      const perReward: Record<string, (number | null)[]> = {};
      await Promise.all(
        fns.map(async (fn, k) => {
          const spec = cfg.rewards[k];
          const onError = spec.onError ?? cfg.onError;
          const failed = onError === "skip" ? null : onError;
          let values: (number | null)[];
          try {
            values = await fn(inputs, ctx);
            if (!Array.isArray(values) || values.length !== inputs.length) {
              throw new Error(
                `returned ${Array.isArray(values) ? values.length : typeof values} values for ${inputs.length} inputs`,
              );
            }
          } catch (e) {
            errors.push({ reward: spec.name, message: e instanceof Error ? e.message : String(e) });
            perReward[spec.name] = inputs.map(() => failed);
            return;
          }
          perReward[spec.name] = values.map((v, i) => {
            if (v === null || (typeof v === "number" && Number.isFinite(v))) return v;
            errors.push({ reward: spec.name, message: `input ${i}: not a finite number (${String(v)})` });
            return failed;
          });
        }),
      );
      for (const e of errors) ctx.warn(`reward ${e.reward} failed: ${e.message}`);
      const total = inputs.map((_, i) => {
        let sum = 0;
        let any = false;
        names.forEach((name, k) => {
          const v = perReward[name][i];
          if (v !== null) {
            sum += weights[k] * v;
            any = true;
          }
        });
        return any ? sum : null;
      });
      return { total, perReward, errors };
    },
  };
}
