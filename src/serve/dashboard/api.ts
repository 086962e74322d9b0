/**
 * The dashboard's JSON endpoints, all GET, all read-only. A run is named by
 * `run=` (its id in the run list); a bad parameter is a 400 and an unknown
 * run a 404, each with `{"error": "..."}` naming what was wrong.
 *
 *   /api/runs                               the run list with key figures
 *   /api/steps?run=&stage=                  a stage's step records (default: the last stage) and the stages
 *   /api/evals?run=                         held-out evaluations during training (accuracy, 95% interval)
 *   /api/events?run=                        guard alerts and other events
 *   /api/rollout-steps?run=                 the steps that kept their rollouts
 *   /api/rollouts?run=&step=&...filters     a step's completions by group (filters below)
 *   /api/eval-sets?run=                     the (step, benchmark) evaluations that kept samples
 *   /api/eval-samples?run=&step=&benchmark= an evaluation's samples (correct=, q=)
 *   /api/eval-table?runs=a,b&metric=        the paper-style table of eval folders (eval compare)
 */

import type { Context, Hono } from "hono";
import { readResults } from "../../eval/results.ts";
import { evalTable } from "./eval-table.ts";
import {
  evalSampleSets,
  evalSamples,
  evalsAfter,
  eventsAfter,
  type RolloutFilter,
  rolloutSteps,
  rollouts,
  stagesOf,
  stepsAfter,
} from "./queries.ts";
import { type RunRegistry, UnknownRunError } from "./runs.ts";

/** Most evaluation samples one request returns. */
const MAX_EVAL_SAMPLES = 2000;

/** A request's parameter that is wrong: answered 400. */
export class BadRequestError extends Error {
  override name = "BadRequestError";
}

/** An integer parameter (required unless a fallback is given). */
function intParam(c: Context, name: string, fallback?: number): number {
  const raw = c.req.query(name);
  if (raw === undefined || raw === "") {
    if (fallback !== undefined) return fallback;
    throw new BadRequestError(`missing parameter ${name}`);
  }
  if (!/^-?\d+$/.test(raw)) throw new BadRequestError(`parameter ${name} must be an integer, not "${raw}"`);
  return Number(raw);
}

/** A yes/no parameter: "1"/"true" or "0"/"false"; absent or empty: undefined. */
function boolParam(c: Context, name: string): boolean | undefined {
  const raw = c.req.query(name);
  if (raw === undefined || raw === "") return undefined;
  if (raw === "1" || raw === "true") return true;
  if (raw === "0" || raw === "false") return false;
  throw new BadRequestError(`parameter ${name} must be 1 or 0, not "${raw}"`);
}

function runParam(c: Context): string {
  const run = c.req.query("run");
  if (run === undefined) throw new BadRequestError("missing parameter run (a run's id from /api/runs)");
  return run;
}

/** The rollout filters of a request: correct=1|0, cut=1, non_english=1, format_broken=1, q=text, group=n. */
function rolloutFilter(c: Context): RolloutFilter {
  const group = c.req.query("group");
  return {
    correct: boolParam(c, "correct"),
    cut: boolParam(c, "cut"),
    nonEnglish: boolParam(c, "non_english"),
    formatBroken: boolParam(c, "format_broken"),
    search: c.req.query("q") || undefined,
    group: group === undefined || group === "" ? undefined : intParam(c, "group"),
  };
}

/** Completions of a step grouped by prompt: what the rollout browser lays out side by side. */
function byGroup(rows: ReturnType<typeof rollouts>) {
  const groups = new Map<number, { group: number; prompt: string; completions: typeof rows }>();
  for (const r of rows) {
    const g = groups.get(r.group) ?? { group: r.group, prompt: r.prompt, completions: [] };
    groups.set(r.group, g);
    g.completions.push(r);
  }
  return [...groups.values()];
}

/** Adds the endpoints to `app`. */
export function apiRoutes(app: Hono, runs: RunRegistry): void {
  app.get("/api/runs", (c) => c.json({ dir: runs.dir, runs: runs.list() }));

  app.get("/api/steps", (c) => {
    const db = runs.store(runParam(c));
    const stages = stagesOf(db);
    const stage = c.req.query("stage") || (stages.at(-1) ?? "grpo");
    return c.json({ stage, stages, steps: stepsAfter(db, stage, intParam(c, "after", -1)) });
  });

  app.get("/api/evals", (c) => c.json({ evals: evalsAfter(runs.store(runParam(c))) }));

  app.get("/api/events", (c) => c.json({ events: eventsAfter(runs.store(runParam(c))) }));

  app.get("/api/rollout-steps", (c) => c.json({ steps: rolloutSteps(runs.store(runParam(c))) }));

  app.get("/api/rollouts", (c) => {
    const db = runs.store(runParam(c));
    const step = intParam(c, "step");
    const total = rollouts(db, step).length;
    const shown = rollouts(db, step, rolloutFilter(c));
    return c.json({ step, total, shown: shown.length, groups: byGroup(shown) });
  });

  app.get("/api/eval-sets", (c) => c.json({ sets: evalSampleSets(runs.store(runParam(c))) }));

  app.get("/api/eval-samples", (c) => {
    const benchmark = c.req.query("benchmark");
    if (!benchmark) throw new BadRequestError("missing parameter benchmark");
    const samples = evalSamples(runs.store(runParam(c)), {
      step: intParam(c, "step"),
      benchmark,
      correct: boolParam(c, "correct"),
      search: c.req.query("q") || undefined,
      limit: MAX_EVAL_SAMPLES,
    });
    return c.json({ samples, limit: MAX_EVAL_SAMPLES });
  });

  app.get("/api/eval-table", async (c) => {
    const ids = (c.req.query("runs") ?? "").split(",").filter((s) => s !== "");
    if (ids.length === 0)
      throw new BadRequestError("missing parameter runs (eval folders' ids, comma-separated)");
    const results = await Promise.all(
      ids.map(async (run) => ({ run, results: await readResults(runs.folder(run)) })),
    );
    try {
      return c.json(evalTable(results, c.req.query("metric") || undefined));
    } catch (err) {
      throw new BadRequestError((err as Error).message);
    }
  });
}

/** The status and body of an error an endpoint threw: 400, 404, or 500 with its message. */
export function errorStatus(err: unknown): 400 | 404 | 500 {
  if (err instanceof BadRequestError) return 400;
  if (err instanceof UnknownRunError) return 404;
  return 500;
}
