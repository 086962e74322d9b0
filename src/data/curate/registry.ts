/**
 * The steps recipes can name. `defaultRegistry()` holds the built-in steps;
 * adding one is a file under steps/ exporting a `defineStep(...)` and one line
 * in BUILTIN_STEPS below. `difficulty` and `judge` call models (through
 * src/generate) and cache what they get per problem under the step's cache
 * folder, so a stopped run resumes.
 */

import type { StepDefinition } from "./step.ts";
import { decontaminateStep } from "./steps/decontaminate.ts";
import { dedupeStep } from "./steps/dedupe.ts";
import { difficultyStep } from "./steps/difficulty.ts";
import { judgeStep } from "./steps/judge.ts";
import { languageStep } from "./steps/language.ts";
import { lengthStep } from "./steps/length.ts";
import { mixStep } from "./steps/mix.ts";
import { verifiableStep } from "./steps/verifiable.ts";
import { writeStep } from "./steps/write.ts";

/** Steps by their type name. */
export class StepRegistry {
  private readonly steps = new Map<string, StepDefinition>();

  /** Adds a step; a second step of the same type is an error. */
  register(step: StepDefinition): this {
    if (this.steps.has(step.type)) throw new Error(`step "${step.type}" is already registered`);
    this.steps.set(step.type, step);
    return this;
  }

  /** The step of `type`, or an error naming the known ones. */
  get(type: string): StepDefinition {
    const step = this.steps.get(type);
    if (!step) throw new Error(`unknown step "${type}" (known: ${this.types().join(", ")})`);
    return step;
  }

  has(type: string): boolean {
    return this.steps.has(type);
  }

  /** The registered type names, in registration order. */
  types(): string[] {
    return [...this.steps.keys()];
  }

  /** Every registered step. */
  all(): StepDefinition[] {
    return [...this.steps.values()];
  }
}

/** The built-in steps, in the order a recipe usually uses them. */
export const BUILTIN_STEPS: readonly StepDefinition[] = [
  verifiableStep,
  dedupeStep,
  decontaminateStep,
  lengthStep,
  languageStep,
  difficultyStep,
  judgeStep,
  mixStep,
  writeStep,
] as StepDefinition[];

/** A registry holding the built-in steps. */
export function defaultRegistry(): StepRegistry {
  const registry = new StepRegistry();
  for (const step of BUILTIN_STEPS) registry.register(step);
  return registry;
}
