/**
 * Curation recipes: YAML files naming the sources and the steps to run on them,
 * checked with zod. A recipe looks like this (recipes/data/*.yaml):
 *
 *   name: local-demo
 *   seed: 0
 *   sources:
 *     - { name: math, path: ../shared/data/train/math_train.jsonl, labels: { level: meta.level } }
 *     - { name: s1, hub: knoveleng/open-s1, split: train }
 *   steps:
 *     - step: verifiable
 *     - step: dedupe
 *       threshold: 0.8
 *     - step: mix
 *       pools: [{ name: hard, where: { level: [4, 5] }, count: 1000 }]
 *     - step: write
 *
 * Each step entry has `step` (its type in the registry), optionally `name` (to
 * tell two steps of one type apart; default the type, numbered when repeated)
 * and `where` (only those rows go through the step; the others pass it
 * untouched), and the step's own parameters, checked by its schema. Paths are
 * relative to the working directory. `--set path=value` overrides any field;
 * list items are addressed by index or by name: `sources.math.path=...`,
 * `steps.mix.seed=3`.
 */
import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { applyOverrides } from "../overrides.ts";
import { Source } from "../sources.ts";
import type { StepRegistry } from "./registry.ts";
import type { StepDefinition } from "./step.ts";
import { Where } from "./where.ts";

const Name = z.string().regex(/^[\w.-]+$/, "letters, digits, '_', '.', '-'");

const StepEntry = z
  .object({
    /** The step's type, e.g. "dedupe". */
    step: z.string().min(1),
    /** Its name in the report (default: the type). */
    name: Name.optional(),
    /** Only rows matching this go through the step. */
    where: Where.optional(),
  })
  .catchall(z.unknown());

export const CurationRecipe = z
  .object({
    name: Name,
    description: z.string().optional(),
    /** Seed of every random draw (mix), unless a step has its own. */
    seed: z.number().int().default(0),
    sources: z.array(Source).min(1),
    steps: z.array(StepEntry).min(1),
  })
  .strict();

/** A step of a checked recipe, ready to run. */
export interface PlannedStep {
  name: string;
  type: string;
  where?: Where;
  /** Parameters after the step's schema (defaults filled in). */
  params: unknown;
  definition: StepDefinition;
}

/** A checked recipe. */
export interface CurationPlan {
  name: string;
  description?: string;
  seed: number;
  sources: Source[];
  steps: PlannedStep[];
}

function issueLines(error: z.ZodError, prefix: string): string[] {
  return error.issues.map(
    (i) => `  ${[prefix, ...i.path.map(String)].filter(Boolean).join(".") || "(top)"}: ${i.message}`,
  );
}

/** Checks a recipe object against the base schema and each step's schema; errors name the field. */
export function parseCurationRecipe(raw: unknown, registry: StepRegistry, label = "recipe"): CurationPlan {
  const base = CurationRecipe.safeParse(raw);
  if (!base.success) throw new Error(`${label}: invalid recipe\n${issueLines(base.error, "").join("\n")}`);
  const r = base.data;
  const problems: string[] = [];

  const sourceNames = r.sources.map((s) => s.name);
  for (const dup of sourceNames.filter((n, i) => sourceNames.indexOf(n) !== i))
    problems.push(`  sources: the name "${dup}" is used twice`);

  const steps: PlannedStep[] = [];
  const counts = new Map<string, number>();
  r.steps.forEach((entry, i) => {
    const { step: type, name, where, ...rest } = entry;
    if (!registry.has(type)) {
      problems.push(`  steps.${i}: unknown step "${type}" (known: ${registry.types().join(", ")})`);
      return;
    }
    const definition = registry.get(type);
    const params = definition.params.safeParse(rest);
    if (!params.success) {
      problems.push(...issueLines(params.error, `steps.${i} (${type})`));
      return;
    }
    const seen = (counts.get(type) ?? 0) + 1;
    counts.set(type, seen);
    steps.push({
      name: name ?? (seen > 1 ? `${type}-${seen}` : type),
      type,
      where,
      params: params.data,
      definition,
    });
  });
  const stepNames = steps.map((s) => s.name);
  for (const dup of stepNames.filter((n, i) => stepNames.indexOf(n) !== i))
    problems.push(`  steps: the name "${dup}" is used twice (give the steps different names)`);

  if (problems.length > 0) throw new Error(`${label}: invalid recipe\n${problems.join("\n")}`);
  return { name: r.name, description: r.description, seed: r.seed, sources: r.sources, steps };
}

/** The name a list item of a curation recipe answers to in overrides: its `name`, else its step type. */
export const curationItemName = (item: Record<string, unknown>): unknown =>
  item.name ?? (typeof item.step === "string" ? item.step : undefined);

/** Applies "a.b.c=value" overrides (src/data/overrides.ts) with curation recipes' item names. */
export function applyCurationOverrides(
  raw: Record<string, unknown>,
  sets: readonly string[],
): Record<string, unknown> {
  return applyOverrides(raw, sets, { itemName: curationItemName });
}

/** Reads a YAML recipe, applies `--set` overrides and checks it. */
export async function loadCurationRecipe(
  path: string,
  registry: StepRegistry,
  sets: readonly string[] = [],
): Promise<CurationPlan> {
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(path, "utf8"));
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new Error(`${path}: not a YAML mapping`);
  return parseCurationRecipe(applyCurationOverrides(raw as Record<string, unknown>, sets), registry, path);
}
