/**
 * The dashboard's reads of run stores (`<run>/run.sqlite`, schema in
 * src/track/store.ts): run folders found under a directory, and the rows the
 * page shows. Stores are opened read-only, so the dashboard can never change a
 * run, and a store being written (WAL) can be read meanwhile.
 *
 * Rows go out as the API's JSON (snake_case), numbers as stored.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import Database from "better-sqlite3";

/** The file a run folder's store lives in. */
export const STORE_FILE = "run.sqlite";

/** Folders never searched for runs: a run's own checkpoints and models, dependencies. */
const SKIPPED = new Set(["checkpoints", "final", "node_modules", "model-init", ".git"]);

/** How deep under the dashboard's folder run folders are looked for (runs/a, runs/evals/b, ...). */
const MAX_DEPTH = 3;

/**
 * The run folders under `dir` (and `dir` itself when it is one), as paths relative to `dir`
 * with "/" separators ("" for `dir` itself), sorted.
 */
export function findRunFolders(dir: string): string[] {
  const found: string[] = [];
  const walk = (folder: string, depth: number) => {
    if (existsSync(join(folder, STORE_FILE))) found.push(relative(dir, folder).split(sep).join("/"));
    if (depth === MAX_DEPTH) return;
    let entries: import("node:fs").Dirent[];
    try {
      entries = readdirSync(folder, { withFileTypes: true });
    } catch {
      return; // unreadable: not ours to report
    }
    for (const e of entries)
      if (e.isDirectory() && !SKIPPED.has(e.name) && !e.name.startsWith("."))
        walk(join(folder, e.name), depth + 1);
  };
  walk(dir, 0);
  return found.sort();
}

/** Opens a store read-only; a missing or unreadable file is an error naming it. */
export function openStore(path: string): Database.Database {
  try {
    return new Database(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new Error(`cannot open the run store ${path}: ${(err as Error).message}`);
  }
}

/** The meta table as an object (kind, name, created_at, model, ...). */
export function readMeta(db: Database.Database): Record<string, string> {
  const rows = db.prepare("SELECT key, value FROM meta").all() as Array<{ key: string; value: string }>;
  return Object.fromEntries(rows.map((r) => [r.key, r.value]));
}

/** A run's key figures for the run list. */
export interface RunFigures {
  /** Steps done per stage ({"sft": 600, "grpo": 60}). */
  steps: Record<string, number>;
  last_reward: number | null;
  best_accuracy: number | null;
  last_accuracy: number | null;
  events: number;
  /** When the store last gained a step (seconds since 1970), or null. */
  last_time: number | null;
}

export function runFigures(db: Database.Database): RunFigures {
  const stages = db
    .prepare("SELECT stage, MAX(step) AS n, MAX(time) AS t FROM steps GROUP BY stage")
    .all() as Array<{
    stage: string;
    n: number;
    t: number;
  }>;
  const last = db
    .prepare("SELECT metrics FROM steps WHERE stage = 'grpo' ORDER BY step DESC LIMIT 1")
    .get() as { metrics: string } | undefined;
  const reward = last ? (JSON.parse(last.metrics) as { reward?: number }).reward : undefined;
  const evals = db.prepare("SELECT MAX(accuracy) AS best FROM evals").get() as { best: number | null };
  const lastEval = db.prepare("SELECT accuracy FROM evals ORDER BY step DESC LIMIT 1").get() as
    | { accuracy: number }
    | undefined;
  const events = db.prepare("SELECT COUNT(*) AS n FROM events").get() as { n: number };
  const times = stages.map((s) => s.t).filter((t) => t !== null);
  return {
    steps: Object.fromEntries(stages.map((s) => [s.stage, s.n])),
    last_reward: typeof reward === "number" ? reward : null,
    best_accuracy: evals.best,
    last_accuracy: lastEval?.accuracy ?? null,
    events: events.n,
    last_time: times.length ? Math.max(...times) : null,
  };
}

/** One step's record: its metrics (metrics.jsonl's line) with stage, step and time. */
export type StepRow = Record<string, unknown> & { stage: string; step: number; time: number };

/** The stages that have steps, in the order they ran. */
export function stagesOf(db: Database.Database): string[] {
  const rows = db
    .prepare("SELECT stage, MIN(time) AS t FROM steps GROUP BY stage ORDER BY t")
    .all() as Array<{
    stage: string;
  }>;
  return rows.map((r) => r.stage);
}

/** The steps of `stage` after step `after` (all of them by default), in order. */
export function stepsAfter(db: Database.Database, stage: string, after = -1): StepRow[] {
  const rows = db
    .prepare("SELECT step, time, metrics FROM steps WHERE stage = ? AND step > ? ORDER BY step")
    .all(stage, after) as Array<{ step: number; time: number; metrics: string }>;
  return rows.map((r) => ({ ...(JSON.parse(r.metrics) as object), stage, step: r.step, time: r.time }));
}

/** A held-out evaluation during training: accuracy with its 95% interval. */
export interface EvalRow {
  step: number;
  accuracy: number;
  ci_low: number;
  ci_high: number;
  n: number;
  time: number;
}

export function evalsAfter(db: Database.Database, after = -1): EvalRow[] {
  return db
    .prepare("SELECT step, accuracy, ci_low, ci_high, n, time FROM evals WHERE step > ? ORDER BY step")
    .all(after) as EvalRow[];
}

/** A guard's alert or another event of the run; `id` orders them (the rowid). */
export interface EventRow {
  id: number;
  step: number;
  time: number;
  kind: string;
  name: string;
  level: string;
  message: string;
  value: number | null;
}

export function eventsAfter(db: Database.Database, afterId = 0): EventRow[] {
  return db
    .prepare(
      "SELECT rowid AS id, step, time, kind, name, level, message, value FROM events WHERE rowid > ? ORDER BY rowid",
    )
    .all(afterId) as EventRow[];
}

/** The steps that have rollouts, in order. */
export function rolloutSteps(db: Database.Database): number[] {
  const rows = db.prepare("SELECT DISTINCT step FROM rollouts ORDER BY step").all() as Array<{
    step: number;
  }>;
  return rows.map((r) => r.step);
}

/** Which completions to show: every filter set must hold. */
export interface RolloutFilter {
  /** true: only those graded correct; false: only those graded wrong. */
  correct?: boolean;
  /** Only those cut at the token limit (finish reason "length"). */
  cut?: boolean;
  /** Only those with letters of another script than Latin. */
  nonEnglish?: boolean;
  /** Only those lacking the think/answer structure the format reward checks. */
  formatBroken?: boolean;
  /** Only those whose completion or prompt contains this text (case-insensitive for ASCII). */
  search?: string;
  group?: number;
}

/** One completion of a step, as the rollout browser shows it. */
export interface RolloutRow {
  group: number;
  index: number;
  round: number;
  prompt: string;
  completion: string;
  tokens: number;
  finish_reason: string;
  reward: number;
  advantage: number | null;
  rewards: Record<string, number | null>;
  correct: boolean | null;
  format_ok: boolean | null;
  lang_other: number;
  mixed_scripts: boolean;
}

/** The completions of `step` that pass `filter`, by group and index. */
export function rollouts(db: Database.Database, step: number, filter: RolloutFilter = {}): RolloutRow[] {
  const where = ["r.step = ?"];
  const args: unknown[] = [step];
  if (filter.correct !== undefined) where.push(filter.correct ? "r.correct = 1" : "r.correct = 0");
  if (filter.cut) where.push("r.finish_reason = 'length'");
  if (filter.nonEnglish) where.push("(r.mixed_scripts = 1 OR r.lang_other > 0)");
  if (filter.formatBroken) where.push("r.format_ok = 0");
  if (filter.search) {
    where.push("(r.completion LIKE ? ESCAPE '\\' OR p.text LIKE ? ESCAPE '\\')");
    const like = `%${filter.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    args.push(like, like);
  }
  if (filter.group !== undefined) {
    where.push("r.grp = ?");
    args.push(filter.group);
  }
  const rows = db
    .prepare(
      `SELECT r.grp, r.idx, r.round, p.text AS prompt, r.completion, r.tokens, r.finish_reason, r.reward, r.advantage,
         r.rewards, r.correct, r.format_ok, r.lang_other, r.mixed_scripts
       FROM rollouts r LEFT JOIN prompts p ON p.id = r.prompt_id WHERE ${where.join(" AND ")} ORDER BY r.grp, r.idx`,
    )
    .all(...args) as Array<Record<string, unknown>>;
  const flag = (v: unknown) => (v === null || v === undefined ? null : v === 1);
  return rows.map((r) => ({
    group: r.grp as number,
    index: r.idx as number,
    round: r.round as number,
    prompt: (r.prompt as string | null) ?? "",
    completion: r.completion as string,
    tokens: r.tokens as number,
    finish_reason: r.finish_reason as string,
    reward: r.reward as number,
    advantage: r.advantage as number | null,
    rewards: JSON.parse((r.rewards as string | null) ?? "{}") as Record<string, number | null>,
    correct: flag(r.correct),
    format_ok: flag(r.format_ok),
    lang_other: (r.lang_other as number | null) ?? 0,
    mixed_scripts: r.mixed_scripts === 1,
  }));
}

/** One evaluation sample (a problem's sample k). */
export interface EvalSampleRow {
  step: number;
  benchmark: string;
  problem: number;
  sample: number;
  prompt: string;
  completion: string;
  answer: string | null;
  gold: string;
  correct: boolean;
  tokens: number | null;
  finish_reason: string | null;
}

/** The steps with evaluation samples, and their benchmarks. */
export function evalSampleSets(
  db: Database.Database,
): Array<{ step: number; benchmark: string; samples: number }> {
  return db
    .prepare(
      "SELECT step, benchmark, COUNT(*) AS samples FROM eval_samples GROUP BY step, benchmark ORDER BY step, benchmark",
    )
    .all() as Array<{ step: number; benchmark: string; samples: number }>;
}

/** The samples of one evaluation (step, benchmark), by problem and sample; at most `limit`. */
export function evalSamples(
  db: Database.Database,
  o: { step: number; benchmark: string; correct?: boolean; search?: string; limit: number },
): EvalSampleRow[] {
  const where = ["s.step = ?", "s.benchmark = ?"];
  const args: unknown[] = [o.step, o.benchmark];
  if (o.correct !== undefined) where.push(o.correct ? "s.correct = 1" : "s.correct = 0");
  if (o.search) {
    where.push("(s.completion LIKE ? ESCAPE '\\' OR p.text LIKE ? ESCAPE '\\')");
    const like = `%${o.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    args.push(like, like);
  }
  const rows = db
    .prepare(
      `SELECT s.step, s.benchmark, s.problem, s.sample, p.text AS prompt, s.completion, s.answer, s.gold, s.correct,
         s.tokens, s.finish_reason
       FROM eval_samples s LEFT JOIN prompts p ON p.id = s.prompt_id WHERE ${where.join(" AND ")}
       ORDER BY s.problem, s.sample LIMIT ?`,
    )
    .all(...args, o.limit) as Array<Record<string, unknown>>;
  return rows.map(
    (r) => ({ ...r, prompt: (r.prompt as string | null) ?? "", correct: r.correct === 1 }) as EvalSampleRow,
  );
}

/** Seconds since the run folder's store last changed (its WAL file, or the database file). */
export function secondsSinceWrite(folder: string): number {
  const times = [STORE_FILE, `${STORE_FILE}-wal`].flatMap((f) => {
    try {
      return [statSync(join(folder, f)).mtimeMs];
    } catch {
      return [];
    }
  });
  return (Date.now() - Math.max(...times)) / 1000;
}
