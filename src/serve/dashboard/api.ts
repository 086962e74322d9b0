/**
 * The dashboard's JSON endpoints, all GET, all read-only. A run is named by
 * `run=` (its id in the run list); a bad parameter is a 400 and an unknown
 * run a 404, each with `{"error": "..."}` naming what was wrong. Rows keep the
 * run store's column names (src/track/store-read.ts).
 *
 *   /api/runs                               the run list with key figures
 *   /api/steps?run=&stage=                  a stage's step records (default: every stage)
 *   /api/evals?run=                         held-out evaluations during training (accuracy, 95% interval)
 *   /api/events?run=                        guard alerts and other events
 *   /api/rollout-steps?run=                 the steps that kept their rollouts
 *   /api/rollouts?run=&step=&...filters     a step's completions by group (filters: rolloutFilter)
 *   /api/eval-sets?run=                     the (step, benchmark) evaluations that kept samples
 *   /api/eval-samples?run=&step=&benchmark= an evaluation's samples (correct=1|0, q=text)
 *   /api/eval-table?runs=a,b&metric=        the paper-style table of eval folders (eval compare)
 */
import type { Context, Hono } from "hono";
import type { EvalResults } from "../../eval/results.ts";
import type { RolloutFilter, RolloutRecord, StepRecord } from "../../track/store-read.ts";
import { evalTable } from "./eval-table.ts";
import { type RunRegistry, UnknownRunError } from "./runs.ts";

/** Most rollouts and evaluation samples one request returns. */
export const MAX_ROWS = 2000;

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
    limit: MAX_ROWS,
  };
}

/** A step row as the page draws it: its metrics with stage, step and time (metrics.jsonl's record). */
export function flatStep(r: StepRecord): Record<string, unknown> {
  return { ...r.metrics, stage: r.stage, step: r.step, time: r.time };
}

/** Completions of a step grouped by prompt: what the rollout browser lays out side by side. */
function byGroup(rows: readonly RolloutRecord[]) {
  const groups = new Map<number, { grp: number; prompt: string; completions: RolloutRecord[] }>();
  for (const r of rows) {
    const g = groups.get(r.grp) ?? { grp: r.grp, prompt: r.prompt, completions: [] };
    groups.set(r.grp, g);
    g.completions.push(r);
  }
  return [...groups.values()];
}

/** Adds the endpoints to `app`. */
export function apiRoutes(app: Hono, runs: RunRegistry): void {
  app.get("/api/runs", (c) => c.json({ dir: runs.dir, runs: runs.list() }));

  app.get("/api/steps", (c) => {
    const stage = c.req.query("stage") || undefined;
    return c.json({ steps: runs.store(runParam(c)).steps(stage).map(flatStep) });
  });

  app.get("/api/evals", (c) => c.json({ evals: runs.store(runParam(c)).evals() }));

  app.get("/api/events", (c) => c.json({ events: runs.store(runParam(c)).events() }));

  app.get("/api/rollout-steps", (c) => c.json({ steps: runs.store(runParam(c)).rolloutSteps() }));

  app.get("/api/rollouts", (c) => {
    const store = runs.store(runParam(c));
    const step = intParam(c, "step");
    const total = store.rollouts(step, { limit: MAX_ROWS }).length;
    const shown = store.rollouts(step, rolloutFilter(c));
    return c.json({ step, total, shown: shown.length, limit: MAX_ROWS, groups: byGroup(shown) });
  });

  app.get("/api/eval-sets", (c) => c.json({ sets: runs.evalSampleSets(runParam(c)) }));

  app.get("/api/eval-samples", (c) => {
    const benchmark = c.req.query("benchmark");
    if (!benchmark) throw new BadRequestError("missing parameter benchmark");
    const correct = boolParam(c, "correct");
    const search = (c.req.query("q") ?? "").toLowerCase();
    const samples = runs
      .store(runParam(c))
      .evalSamples({ step: intParam(c, "step"), benchmark })
      .filter((s) => correct === undefined || s.correct === (correct ? 1 : 0))
      .filter((s) => !search || `${s.completion}\n${s.prompt ?? ""}`.toLowerCase().includes(search));
    return c.json({ samples: samples.slice(0, MAX_ROWS), total: samples.length, limit: MAX_ROWS });
  });

  app.get("/api/eval-table", (c) => {
    const ids = (c.req.query("runs") ?? "").split(",").filter((s) => s !== "");
    if (ids.length === 0)
      throw new BadRequestError("missing parameter runs (eval folders' ids, comma-separated)");
    const results = ids.map((run) => {
      const r: EvalResults | null = runs.results(run);
      if (r === null) throw new BadRequestError(`run "${run}" has no eval results (results.json)`);
      return { run, results: r };
    });
    try {
      return c.json(evalTable(results, c.req.query("metric") || undefined));
    } catch (err) {
      throw new BadRequestError((err as Error).message);
    }
  });
}

/** The status of an error an endpoint threw: 400, 404, or 500. */
export function errorStatus(err: unknown): 400 | 404 | 500 {
  if (err instanceof BadRequestError) return 400;
  if (err instanceof UnknownRunError) return 404;
  return 500;
}
