/**
 * Running a recipe again on its run folder: what state the run is in, and
 * whether the recipe given now may go on with it.
 *
 * The run folder's config.yaml is the recipe the run started with, and
 * history.jsonl the fields changed since (each with the step it took effect
 * at). A recipe given again is compared with that; any difference is refused,
 * with the fields listed (`path: old -> new`), unless each changed field is
 * one of RESUMABLE_FIELDS and was allowed by the user (`train --allow-change
 * grpo.steps`): the change is then appended to history.jsonl and config.yaml
 * stays as it was. A finished run (summary.json, not stopped, every step done)
 * is not run again: its summary is returned as it is.
 */
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { diffConfig, type FieldChange, formatChange, setPath } from "../train/config-diff.ts";
import type { RunFolder, RunSummary } from "../train/run-folder.ts";
import { Recipe } from "./recipe.ts";

/**
 * The fields that may change when a run resumes (with `--allow-change FIELD`): how long each stage
 * runs, how often it evaluates and saves, where and how fast it computes, which servers generate
 * its rollouts, and how its guards watch it. Everything else (data, model, rewards, sampling,
 * seeds, optimizer) would make the run a mix of two recipes. A field allows the fields under it
 * (`guards` allows `guards.klSpike.action`).
 */
export const RESUMABLE_FIELDS = [
  "grpo.steps",
  "sft.steps",
  "eval.every",
  "checkpoint.every",
  "checkpoint.keepLast",
  "model.device",
  "model.threads",
  "rollout.endpoints",
  "rollout.timeout",
  "rollout.retries",
  "rollout.probeInterval",
  "rollout.apiKeyEnv",
  "rollout.keepAdapters",
  "guards",
] as const;

/** Whether `path` is `field` or lies under it. */
function under(path: string, field: string): boolean {
  return path === field || path.startsWith(`${field}.`);
}

/** Fields not compared: where the run lives is not what it is. */
const IGNORED_FIELDS = new Set(["runsDir"]);

/** Where a run stands when it is started. */
export type RunStart =
  | { kind: "new" }
  /** Resumed: `stage` goes on from `step` (of `steps`); `changes` were allowed and recorded. */
  | { kind: "resume"; stage: "sft" | "grpo"; step: number; steps: number; changes: FieldChange[] }
  /** Every step was done: `summary` is the run's summary.json. */
  | { kind: "finished"; stage: "sft" | "grpo"; steps: number; summary: RunSummary };

/** The stage a recipe ends with and its step count. */
function lastStage(recipe: Recipe): { stage: "sft" | "grpo"; steps: number } {
  if (recipe.grpo) return { stage: "grpo", steps: recipe.grpo.steps };
  if (recipe.sft) return { stage: "sft", steps: recipe.sft.steps };
  throw new Error("a recipe needs an sft or a grpo section");
}

/** "resuming from grpo step 3 of 8" and its like, for the log. */
export function describeStart(start: RunStart, run: string): string {
  if (start.kind === "new") return `starting run ${run}`;
  if (start.kind === "finished")
    return `run ${run} already finished (${start.stage} step ${start.steps} of ${start.steps}); its results:`;
  const changed = start.changes.length
    ? ` with ${start.changes.map(formatChange).join(", ")} (recorded in history.jsonl)`
    : "";
  return `resuming from ${start.stage} step ${start.step} of ${start.steps}${changed}`;
}

/**
 * Compares `recipe` with the run in `folder` and says where the run stands; refuses (throws,
 * before anything is written) a recipe that differs in fields not allowed to change. Allowed
 * changes are recorded in history.jsonl here (unless the run is finished: nothing then runs).
 */
export async function prepareRerun(
  recipe: Recipe,
  folder: RunFolder,
  allowChange: readonly string[] = [],
): Promise<RunStart> {
  for (const field of allowChange)
    if (!RESUMABLE_FIELDS.some((f) => under(field, f)))
      throw new Error(
        `--allow-change ${field}: only these fields may change when a run resumes: ${RESUMABLE_FIELDS.join(", ")}`,
      );
  const stored = await folder.readConfig();
  if (stored === null) return { kind: "new" };
  const changes = diffConfig(await runConfig(folder, stored), plain(recipe)).filter(
    (c) => !IGNORED_FIELDS.has(c.path.split(".")[0]),
  );
  const refused = changes.filter((c) => !allowChange.some((f) => under(c.path, f)));
  if (refused.length) throw new Error(refusal(folder, changes, refused));

  const [sftDone, grpoDone] = [await folder.latestStep("sft"), await folder.latestStep("grpo")];
  checkStepChanges(recipe, changes, sftDone, grpoDone);
  const last = lastStage(recipe);
  const done = last.stage === "grpo" ? grpoDone : sftDone;
  const summary = await folder.summaryIfAny();
  if (summary && !summary.stopped && done >= last.steps) return { kind: "finished", ...last, summary };

  const stage = recipe.grpo && (grpoDone > 0 || !recipe.sft || sftDone >= recipe.sft.steps) ? "grpo" : "sft";
  const step = stage === "grpo" ? grpoDone : sftDone;
  const steps = stage === "grpo" ? (recipe.grpo?.steps ?? 0) : (recipe.sft?.steps ?? 0);
  if (changes.length) await folder.appendHistory({ time: new Date().toISOString(), stage, step, changes });
  return { kind: "resume", stage, step, steps, changes };
}

/** The recipe the run is running now: config.yaml with history.jsonl's changes applied, defaults filled. */
async function runConfig(folder: RunFolder, storedYaml: string): Promise<unknown> {
  let raw: unknown;
  try {
    raw = parseYaml(storedYaml);
  } catch (err) {
    throw new Error(`${folder.configPath}: ${(err as Error).message}`);
  }
  if (typeof raw !== "object" || raw === null) throw new Error(`${folder.configPath}: not a YAML mapping`);
  const config = raw as Record<string, unknown>;
  for (const entry of await folder.readHistory())
    for (const c of entry.changes) setPath(config, c.path, c.to);
  // Fields added to the schema since the run started are compared at their defaults.
  const parsed = Recipe.safeParse(config);
  return parsed.success ? plain(parsed.data) : config;
}

/** A recipe as plain data, as config.yaml holds it (no undefined fields). */
function plain(recipe: unknown): unknown {
  return parseYaml(toYaml(recipe));
}

/** The error for a recipe that differs from its run in fields not allowed to change. */
function refusal(folder: RunFolder, changes: FieldChange[], refused: FieldChange[]): string {
  const resumable = refused.filter((c) => RESUMABLE_FIELDS.some((f) => under(c.path, f)));
  const fixed = refused.filter((c) => !resumable.includes(c));
  const name = folder.dir.split("/").at(-1);
  return [
    `${folder.dir} was run with another recipe (${folder.configPath}): ${changes.map(formatChange).join(", ")}.`,
    " Run it as it was to resume it",
    resumable.length
      ? `; to go on with the new value, add ${[...new Set(resumable.map((c) => RESUMABLE_FIELDS.find((f) => under(c.path, f))))].map((f) => `--allow-change ${f}`).join(" ")} (recorded in history.jsonl)`
      : "",
    fixed.length
      ? `; ${fixed.map((c) => c.path).join(", ")} cannot change in a run: start a new one (--set name=${name}-2)`
      : "",
  ].join("");
}

/** Refuses step counts that the run has already passed, or SFT steps once GRPO has started. */
function checkStepChanges(recipe: Recipe, changes: FieldChange[], sftDone: number, grpoDone: number): void {
  for (const c of changes) {
    if (c.path === "grpo.steps" && recipe.grpo && recipe.grpo.steps < grpoDone)
      throw new Error(
        `--allow-change grpo.steps: the run is already at grpo step ${grpoDone} (asked: ${recipe.grpo.steps})`,
      );
    if (c.path === "sft.steps" && recipe.sft && grpoDone > 0)
      throw new Error(`--allow-change sft.steps: GRPO has started (step ${grpoDone}); SFT cannot go on`);
    if (c.path === "sft.steps" && recipe.sft && recipe.sft.steps < sftDone)
      throw new Error(
        `--allow-change sft.steps: the run is already at sft step ${sftDone} (asked: ${recipe.sft.steps})`,
      );
  }
}
