/**
 * Rewards by name: the built-in ones, and any registered at run time (user
 * modules named in a recipe are loaded by compose.ts, not registered here).
 */
import { accuracy } from "./accuracy.ts";
import { format, tagCount } from "./format.ts";
import { language } from "./language.ts";
import { cosine, kimiLength, softOverlong } from "./length.ts";
import { reasoningSteps } from "./reasoning-steps.ts";
import { repetition } from "./repetition.ts";
import type { RewardDefinition, RewardTerm } from "./types.ts";
import { accuracyUpstream, cosineUpstream, lengthUpstream } from "./upstream.ts";

const registry = new Map<string, RewardDefinition>();

/** Adds a reward definition under its name (replacing none: names are unique). */
export function registerReward(def: RewardDefinition): void {
  if (registry.has(def.name)) throw new Error(`reward "${def.name}" is already registered`);
  registry.set(def.name, def);
}

for (const def of [
  accuracy,
  format,
  tagCount,
  reasoningSteps,
  cosine,
  repetition,
  kimiLength,
  softOverlong,
  language,
  accuracyUpstream,
  cosineUpstream,
  lengthUpstream,
]) {
  registerReward(def as RewardDefinition);
}

/** Names of all registered rewards, sorted. */
export function rewardNames(): string[] {
  return [...registry.keys()].sort();
}

/** The definition registered as `name`; throws listing the known names otherwise. */
export function getReward(name: string): RewardDefinition {
  const def = registry.get(name);
  if (!def) throw new Error(`unknown reward "${name}" (known: ${rewardNames().join(", ")})`);
  return def;
}

/** Builds reward `name` with `params` validated (and defaulted) by its schema; errors name the parameter. */
export function createReward(name: string, params: unknown = {}): RewardTerm {
  const def = getReward(name);
  const r = def.params.safeParse(params ?? {});
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new Error(`reward "${name}": parameter "${issue.path.join(".") || "(params)"}": ${issue.message}`);
  }
  return def.create(r.data);
}
