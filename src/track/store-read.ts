/**
 * Reading run stores (store.ts): the queries `reasonrl runs` and the dashboard
 * use. A store is opened read-only, so a reader in another process can query
 * it while the run writes (WAL mode: it sees the steps committed so far).
 *
 * Rows come back with the store's column names (snake_case, as in SQL, pandas
 * or the Parquet export); JSON columns (steps.metrics, rollouts.rewards) are
 * parsed.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { STORE_FILE, STORE_SCHEMA_VERSION } from "./store.ts";

/** A training step's row. */
export interface StepRecord {
  /** The row's id: `stepsSince(id)` gives the rows written after it. */
  id: number;
  stage: string;
  step: number;
  time: number;
  metrics: Record<string, unknown>;
}

/** A completion of a GRPO step (see store.ts for each column). */
export interface RolloutRecord {
  step: number;
  grp: number;
  idx: number;
  round: number;
  prompt_id: number;
  prompt: string;
  completion: string;
  tokens: number;
  finish_reason: string;
  reward: number | null;
  advantage: number | null;
  rewards: Record<string, number | null>;
  correct: number | null;
  format_ok: number | null;
  lang_other: number;
  mixed_scripts: number;
  policy_version: number | null;
}

/** Which completions of a step to show. */
export interface RolloutFilter {
  /** true: those the accuracy term counts right; false: those it counts wrong. */
  correct?: boolean;
  /** Only completions cut at the length limit (finish_reason 'length'). */
  cut?: boolean;
  /** Only completions with a share of non-Latin letters of at least NON_LATIN_SHARE, or mixed scripts. */
  nonEnglish?: boolean;
  /** Only completions without the think/answer format. */
  formatBroken?: boolean;
  /** Only completions (or prompts) containing this text (case-insensitive for ASCII letters). */
  search?: string;
  /** Only this group. */
  group?: number;
  /** At most this many rows (default 1000), after `offset` rows. */
  limit?: number;
  offset?: number;
}

/** The share of a completion's letters outside Latin script from which it counts as non-English. */
export const NON_LATIN_SHARE = 0.05;

/** A held-out evaluation after step `step` (0: before GRPO). */
export interface EvalRecord {
  step: number;
  accuracy: number;
  ci_low: number;
  ci_high: number;
  n: number;
  time: number;
}

/** A graded completion of an evaluation. */
export interface EvalSampleRecord {
  step: number;
  benchmark: string;
  problem: number;
  sample: number;
  problem_id: string | null;
  prompt: string | null;
  completion: string;
  answer: string | null;
  gold: string;
  correct: number;
  tokens: number | null;
  finish_reason: string | null;
}

/** An event (a guard's warning or stop, ...). */
export interface EventRecord {
  /** The row's id: `events(id)` gives the events written after it. */
  id: number;
  step: number;
  time: number;
  kind: string;
  name: string;
  level: string;
  message: string;
  value: number | null;
}

/** The tables of a store (store.ts). */
export type StoreTable = "meta" | "steps" | "prompts" | "rollouts" | "evals" | "eval_samples" | "events";

/** A run store open for reading. */
export class RunStoreReader {
  readonly #db: Database.Database;

  private constructor(
    readonly path: string,
    db: Database.Database,
  ) {
    this.#db = db;
  }

  /** Opens the store at `path` read-only; a missing file, not a store, or another schema version is an error naming it. */
  static open(path: string): RunStoreReader {
    if (!existsSync(path)) throw new Error(`run store ${path}: no such file`);
    let db: Database.Database;
    try {
      db = new Database(path, { readonly: true, fileMustExist: true });
      db.pragma("busy_timeout = 5000");
    } catch (err) {
      throw new Error(`run store ${path}: ${(err as Error).message}`);
    }
    let version: unknown;
    try {
      version = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get();
    } catch (err) {
      db.close();
      throw new Error(`run store ${path}: not a run store (${(err as Error).message})`);
    }
    if (version !== String(STORE_SCHEMA_VERSION)) {
      db.close();
      throw new Error(
        `run store ${path}: schema version ${String(version)}, this reasonrl reads ${STORE_SCHEMA_VERSION}`,
      );
    }
    return new RunStoreReader(path, db);
  }

  /** The `meta` table as an object (schema_version, kind, name, created_at, config, model, ...). */
  meta(): Record<string, string> {
    const rows = this.#db.prepare("SELECT key, value FROM meta").all() as { key: string; value: string }[];
    return Object.fromEntries(rows.map((r) => [r.key, r.value]));
  }

  /** Every step's row (of `stage` if given), by stage then step. */
  steps(stage?: string): StepRecord[] {
    const sql = "SELECT rowid AS id, stage, step, time, metrics FROM steps";
    const rows = stage
      ? this.#db.prepare(`${sql} WHERE stage = ? ORDER BY step`).all(stage)
      : this.#db.prepare(`${sql} ORDER BY stage, step`).all();
    return (rows as RawStep[]).map(parseStep);
  }

  /**
   * The step rows written after row `id` (0: all), in the order written: a live reader keeps the
   * last id it saw. A resumed run rewrites the steps after its checkpoint as new rows.
   */
  stepsSince(id: number): StepRecord[] {
    const rows = this.#db
      .prepare("SELECT rowid AS id, stage, step, time, metrics FROM steps WHERE rowid > ? ORDER BY rowid")
      .all(id) as RawStep[];
    return rows.map(parseStep);
  }

  /** The steps that have rollouts, ascending. */
  rolloutSteps(): number[] {
    return this.#db.prepare("SELECT DISTINCT step FROM rollouts ORDER BY step").pluck().all() as number[];
  }

  /** The completions of step `step` that pass `filter`, by group then place in the group. */
  rollouts(step: number, filter: RolloutFilter = {}): RolloutRecord[] {
    const where = ["r.step = ?"];
    const args: (string | number)[] = [step];
    if (filter.correct !== undefined) where.push(`r.correct = ${filter.correct ? 1 : 0}`);
    if (filter.cut) where.push("r.finish_reason = 'length'");
    if (filter.nonEnglish) where.push(`(r.lang_other >= ${NON_LATIN_SHARE} OR r.mixed_scripts = 1)`);
    if (filter.formatBroken) where.push("r.format_ok = 0");
    if (filter.group !== undefined) {
      where.push("r.grp = ?");
      args.push(filter.group);
    }
    if (filter.search) {
      where.push("(r.completion LIKE ? ESCAPE '\\' OR p.text LIKE ? ESCAPE '\\')");
      const pattern = `%${filter.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      args.push(pattern, pattern);
    }
    args.push(filter.limit ?? 1000, filter.offset ?? 0);
    const rows = this.#db
      .prepare(
        `SELECT r.*, p.text AS prompt FROM rollouts r JOIN prompts p ON p.id = r.prompt_id
         WHERE ${where.join(" AND ")} ORDER BY r.grp, r.idx LIMIT ? OFFSET ?`,
      )
      .all(...args) as (Omit<RolloutRecord, "rewards"> & { rewards: string })[];
    return rows.map((r) => ({ ...r, rewards: JSON.parse(r.rewards) }));
  }

  /** Every held-out evaluation, by step. */
  evals(): EvalRecord[] {
    return this.#db.prepare("SELECT * FROM evals ORDER BY step").all() as EvalRecord[];
  }

  /** The graded completions of the evaluation at `step` (all steps if not given), optionally of one benchmark. */
  evalSamples(
    o: { step?: number; benchmark?: string; limit?: number; offset?: number } = {},
  ): EvalSampleRecord[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (o.step !== undefined) {
      where.push("s.step = ?");
      args.push(o.step);
    }
    if (o.benchmark !== undefined) {
      where.push("s.benchmark = ?");
      args.push(o.benchmark);
    }
    args.push(o.limit ?? -1, o.offset ?? 0);
    return this.#db
      .prepare(
        `SELECT s.step, s.benchmark, s.problem, s.sample, s.problem_id, p.text AS prompt, s.completion, s.answer,
           s.gold, s.correct, s.tokens, s.finish_reason
         FROM eval_samples s LEFT JOIN prompts p ON p.id = s.prompt_id
         ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
         ORDER BY s.step, s.benchmark, s.problem, s.sample LIMIT ? OFFSET ?`,
      )
      .all(...args) as EvalSampleRecord[];
  }

  /** The events written after row `sinceId` (0: all), in the order written. */
  events(sinceId = 0): EventRecord[] {
    return this.#db
      .prepare("SELECT rowid AS id, * FROM events WHERE rowid > ? ORDER BY rowid")
      .all(sinceId) as EventRecord[];
  }

  /** Every row of `table` as stored (the export reads them so), in the order written. */
  table(table: StoreTable): Record<string, unknown>[] {
    return this.#db.prepare(`SELECT * FROM ${table} ORDER BY rowid`).all() as Record<string, unknown>[];
  }

  /** Every row of `table` ordered by `orderBy` (columns of the table, see storeContents). */
  tableOrdered(table: StoreTable, orderBy: string): Record<string, unknown>[] {
    return this.#db.prepare(`SELECT * FROM ${table} ORDER BY ${orderBy}`).all() as Record<string, unknown>[];
  }

  /** The columns of `table` with their declared types (INTEGER, REAL, TEXT), in order. */
  columns(table: StoreTable): { name: string; type: string }[] {
    return this.#db.pragma(`table_info(${table})`) as { name: string; type: string }[];
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

/** The primary key of each table: the order `storeContents` gives rows in (rowids differ between a resumed run and an uninterrupted one). */
const TABLE_ORDER: Record<StoreTable, string> = {
  meta: "key",
  steps: "stage, step",
  prompts: "text",
  rollouts: "step, grp, idx",
  evals: "step",
  eval_samples: "step, benchmark, problem, sample",
  events: "step, kind, name, message",
};

/**
 * What the store at `path` holds, for comparing two runs (a killed and resumed run with an
 * uninterrupted one): every table's rows in key order, with the JSON columns (and eval's
 * results in meta) parsed, prompts by text instead of id, and what differs by nature left out
 * (times, created_at, row ids).
 */
export function storeContents(path: string): Record<StoreTable, Record<string, unknown>[]> {
  const reader = RunStoreReader.open(path);
  try {
    const prompts = new Map(reader.table("prompts").map((p) => [p.id, p.text]));
    const out = {} as Record<StoreTable, Record<string, unknown>[]>;
    for (const table of Object.keys(TABLE_ORDER) as StoreTable[]) {
      out[table] = reader
        .tableOrdered(table, TABLE_ORDER[table])
        .filter((r) => !(table === "meta" && r.key === "created_at"))
        .map(({ time: _, id: __, prompt_id, ...r }) => {
          const row: Record<string, unknown> = { ...r };
          if (prompt_id !== undefined) row.prompt = prompts.get(prompt_id) ?? null;
          if (table === "meta" && r.key === "results") row.value = JSON.parse(r.value as string);
          if (table === "steps") row.metrics = JSON.parse(r.metrics as string);
          if (table === "rollouts") row.rewards = JSON.parse(r.rewards as string);
          return row;
        });
    }
    return out;
  } finally {
    reader.close();
  }
}

interface RawStep {
  id: number;
  stage: string;
  step: number;
  time: number;
  metrics: string;
}

function parseStep(r: RawStep): StepRecord {
  return { ...r, metrics: JSON.parse(r.metrics) };
}

/** A run's key figures, as `runs list` shows them. */
export interface RunListing {
  name: string;
  /** The run's folder. */
  dir: string;
  kind: string;
  model: string | null;
  created_at: string | null;
  /**
   * finished: summary.json written (and not stopped); stopped: stopped before its end (Ctrl-C, or
   * not written to for RUNNING_WITHIN_S without a summary); running: written to recently.
   */
  status: "running" | "finished" | "stopped";
  /** The last GRPO step written (SFT steps if there is no GRPO stage). */
  steps: number;
  /** The mean reward of the last GRPO step. */
  last_reward: number | null;
  /** Held-out accuracy: the best and the last evaluation (eval runs: the share of samples right). */
  best_accuracy: number | null;
  last_accuracy: number | null;
}

/** A run without summary.json counts as running if its store or metrics were written within this many seconds. */
export const RUNNING_WITHIN_S = 600;

/**
 * The runs under `dir` that have a store: `dir/<run>/run.sqlite` and one level deeper
 * (`runs/eval/<model>/run.sqlite`), sorted by creation time. A store that cannot be read is
 * reported to `warn` and left out.
 */
export function listRuns(dir: string, warn: (message: string) => void = () => {}): RunListing[] {
  if (!existsSync(dir)) throw new Error(`runs folder ${dir} does not exist`);
  const runs: RunListing[] = [];
  for (const folder of storeFolders(dir)) {
    try {
      runs.push(runListing(folder));
    } catch (err) {
      warn((err as Error).message);
    }
  }
  return runs.sort((a, b) => (a.created_at ?? "").localeCompare(b.created_at ?? ""));
}

/** The folders under `dir` (one or two levels down) holding a store. */
function storeFolders(dir: string): string[] {
  const found: string[] = [];
  const visit = (folder: string, depth: number) => {
    if (existsSync(join(folder, STORE_FILE))) {
      found.push(folder);
      return;
    }
    if (depth === 0) return;
    for (const entry of readdirSync(folder, { withFileTypes: true }))
      if (entry.isDirectory()) visit(join(folder, entry.name), depth - 1);
  };
  for (const entry of readdirSync(dir, { withFileTypes: true }))
    if (entry.isDirectory()) visit(join(dir, entry.name), 1);
  return found;
}

/** The key figures of the run in `folder`. */
export function runListing(folder: string): RunListing {
  // Before the store is opened: opening it may create its -wal file, which would look like a write.
  const status = runStatus(folder);
  const reader = RunStoreReader.open(join(folder, STORE_FILE));
  try {
    const meta = reader.meta();
    const steps = reader.steps();
    const grpo = steps.filter((s) => s.stage === "grpo");
    const last = (grpo.length ? grpo : steps).at(-1);
    const accuracies =
      meta.kind === "eval" ? evalSampleAccuracy(reader) : reader.evals().map((e) => e.accuracy);
    const reward = grpo.at(-1)?.metrics.reward;
    return {
      name: meta.name ?? folder,
      dir: folder,
      kind: meta.kind ?? "train",
      model: meta.model ?? null,
      created_at: meta.created_at ?? null,
      status,
      steps: last?.step ?? 0,
      last_reward: typeof reward === "number" ? reward : null,
      best_accuracy: accuracies.length ? Math.max(...accuracies) : null,
      last_accuracy: accuracies.at(-1) ?? null,
    };
  } finally {
    reader.close();
  }
}

/** An eval store's accuracy: the share of its samples graded right (none without samples). */
function evalSampleAccuracy(reader: RunStoreReader): number[] {
  const samples = reader.evalSamples();
  return samples.length ? [samples.filter((s) => s.correct).length / samples.length] : [];
}

/** finished / stopped from summary.json (a train or demo run) or results.json (eval); else by how recently it was written. */
function runStatus(folder: string): RunListing["status"] {
  const summary = join(folder, "summary.json");
  if (existsSync(summary)) {
    try {
      return JSON.parse(readFileSync(summary, "utf8")).stopped ? "stopped" : "finished";
    } catch {
      return "stopped";
    }
  }
  if (existsSync(join(folder, "results.json"))) return "finished";
  // An empty -wal file is one a reader opened, not a write.
  const written = [STORE_FILE, `${STORE_FILE}-wal`, "metrics.jsonl"]
    .map((f) => join(folder, f))
    .filter((f) => existsSync(f) && (!f.endsWith("-wal") || statSync(f).size > 0))
    .map((f) => statSync(f).mtimeMs);
  return Date.now() - Math.max(...written) < RUNNING_WITHIN_S * 1000 ? "running" : "stopped";
}
