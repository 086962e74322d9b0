/**
 * The run store: `<run folder>/run.sqlite`, a SQLite database every run
 * (train, demo, eval) writes next to metrics.jsonl, so a reader (the dashboard,
 * `reasonrl runs`, pandas) can query it while the trainer writes. WAL mode:
 * readers in other processes see each committed step and never block the
 * writer; `synchronous=NORMAL` keeps a commit cheap (a power cut may lose the
 * last steps, never corrupt the file).
 *
 * Tables (schema_version 1):
 *
 *   meta(key, value)      schema_version, kind ('train' | 'eval' | 'demo'), name,
 *                         created_at (ISO 8601), config (the recipe's YAML, or eval's run.json),
 *                         model (folder or label); eval adds results (results.json's text)
 *   steps                 one row per training step: stage ('sft' | 'grpo'), step (1-based),
 *                         time (Unix seconds), metrics (the metrics.jsonl record, as JSON)
 *   prompts(id, text)     each distinct prompt text once
 *   rollouts              one row per completion of a GRPO step: step, grp (the group: a prompt's
 *                         G completions share it), idx (place in the group), round (generation
 *                         round), prompt_id, completion, tokens, finish_reason ('stop' | 'length'),
 *                         reward (weighted total; null if not finite), advantage (null: group not trained on),
 *                         rewards (JSON: each term's own value), and what readers filter on:
 *                         correct (the accuracy term > 0; null without one), format_ok (the format
 *                         term > 0; without one, the paper's format rule, rewards/format.ts),
 *                         lang_other (share of the prose's letters not in Latin script,
 *                         data/language.ts), mixed_scripts (1 when the prose's letters come from
 *                         two scripts or more), policy_version (the weights' version that generated
 *                         it, where rollouts come from servers; else null)
 *   evals                 held-out accuracy after step `step` (0: before GRPO): accuracy, its 95%
 *                         interval (ci_low, ci_high), n, time
 *   eval_samples          each graded completion of an evaluation: step, benchmark, problem (its
 *                         place in the benchmark, 0-based), sample (0-based), prompt_id, completion,
 *                         answer (extracted; null when not known), gold, correct, tokens,
 *                         finish_reason; added column: problem_id (the benchmark's own id, text)
 *   events                what guards (and others) report at a step: kind ('guard', ...), name,
 *                         level ('warn' | 'stop'), message, value
 *
 * Writes: a step's row, its rollouts and its events go in one transaction, so a
 * killed run leaves whole steps only. On resume, `truncateAfter` deletes what
 * was written after the checkpoint the run resumes from (as metrics.jsonl's lines
 * are dropped), and the steps are appended again.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { scriptCounts } from "../data/language.ts";
import { FormatParams, format } from "../rewards/format.ts";

/** The version of the tables below; readers refuse other versions. */
export const STORE_SCHEMA_VERSION = 1;

/** The store's file name in a run folder (or an eval output folder). */
export const STORE_FILE = "run.sqlite";

/** What made the store. */
export type StoreKind = "train" | "eval" | "demo";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS steps (
  stage TEXT NOT NULL, step INTEGER NOT NULL, time REAL NOT NULL, metrics TEXT NOT NULL,
  PRIMARY KEY (stage, step));
CREATE TABLE IF NOT EXISTS prompts (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS rollouts (
  step INTEGER NOT NULL, grp INTEGER NOT NULL, idx INTEGER NOT NULL, round INTEGER NOT NULL,
  prompt_id INTEGER NOT NULL REFERENCES prompts(id), completion TEXT NOT NULL, tokens INTEGER NOT NULL,
  finish_reason TEXT NOT NULL, reward REAL, advantage REAL, rewards TEXT NOT NULL,
  correct INTEGER, format_ok INTEGER, lang_other REAL NOT NULL, mixed_scripts INTEGER NOT NULL,
  policy_version INTEGER,
  PRIMARY KEY (step, grp, idx));
CREATE INDEX IF NOT EXISTS rollouts_step ON rollouts (step);
CREATE TABLE IF NOT EXISTS evals (
  step INTEGER PRIMARY KEY, accuracy REAL NOT NULL, ci_low REAL NOT NULL, ci_high REAL NOT NULL,
  n INTEGER NOT NULL, time REAL NOT NULL);
CREATE TABLE IF NOT EXISTS eval_samples (
  step INTEGER NOT NULL, benchmark TEXT NOT NULL, problem INTEGER NOT NULL, sample INTEGER NOT NULL,
  problem_id TEXT, prompt_id INTEGER REFERENCES prompts(id), completion TEXT NOT NULL, answer TEXT,
  gold TEXT NOT NULL, correct INTEGER NOT NULL, tokens INTEGER, finish_reason TEXT,
  PRIMARY KEY (step, benchmark, problem, sample));
CREATE TABLE IF NOT EXISTS events (
  step INTEGER NOT NULL, time REAL NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
  level TEXT NOT NULL, message TEXT NOT NULL, value REAL);
CREATE INDEX IF NOT EXISTS events_step ON events (step);
`;

/** Who the store belongs to, written to `meta` when it is made. */
export interface StoreMeta {
  kind: StoreKind;
  name: string;
  /** The recipe (YAML) or the evaluation's settings (JSON). */
  config?: string;
  /** The model folder, file or label. */
  model?: string;
}

/** One completion of a GRPO step, as the trainer rewards it (the fields of rl's RolloutSample). */
export interface RolloutRow {
  group: number;
  index: number;
  round: number;
  prompt: string;
  completion: string;
  tokens: number;
  finishReason: string;
  /** Each reward term's own value (null where it did not apply). */
  rewards: Readonly<Record<string, number | null | undefined>>;
  reward: number;
  advantage: number | null;
  /** The policy version that generated it (rollouts from servers); absent: null. */
  policyVersion?: number | null;
  /** Its filter columns, when the caller computed them already (else rolloutFlags here). */
  flags?: RolloutFlags;
}

/** The filter columns of a completion (1/0, null where unknown). */
export interface RolloutFlags {
  correct: number | null;
  formatOk: number | null;
  langOther: number;
  mixedScripts: number;
}

/** Something reported at a step: a guard's warning or stop, ... */
export interface EventRow {
  step: number;
  /** What reports it: "guard", ... */
  kind: string;
  /** Which one (the guard's name). */
  name: string;
  level: "warn" | "stop";
  message: string;
  /** The figure that tripped it, if any. */
  value?: number | null;
  /** Unix seconds (default: now). */
  time?: number;
}

/** A held-out accuracy with its 95% interval (eval's Accuracy has this shape). */
export interface EvalRow {
  accuracy: number;
  n: number;
  ci95: readonly [number, number];
}

/** One graded completion of an evaluation. */
export interface EvalSampleRow {
  benchmark: string;
  /** The problem's place in its benchmark (0-based). */
  problem: number;
  /** The benchmark's own id of the problem, if it has one. */
  problemId?: string | null;
  sample: number;
  /** The prompt (or problem text) the completion answers. */
  prompt: string;
  completion: string;
  /** The extracted answer, null when not known. */
  answer: string | null;
  gold: string;
  correct: boolean;
  tokens: number | null;
  finishReason: string | null;
}

/** What a training step writes: its metrics record, its rollouts and its events. */
export interface StepWrite {
  stage: string;
  step: number;
  /** The step's record as in metrics.jsonl. */
  metrics: object;
  rollouts?: readonly RolloutRow[];
  events?: readonly EventRow[];
  /** Unix seconds (default: now). */
  time?: number;
}

/** The paper's format rule (rewards/format.ts, its default variant), for completions without a format term. */
const paperFormat = format.create(FormatParams.parse({}));
const noContext = {
  verifier: {
    verify: () => Promise.reject(new Error("the format rule needs no verifier")),
  },
  warn: () => {},
};

/** The filter columns of a completion: correct, format_ok, lang_other, mixed_scripts. */
export function rolloutFlags(r: Pick<RolloutRow, "completion" | "rewards">): RolloutFlags {
  const acc = r.rewards.accuracy;
  const fmt = r.rewards.format;
  let formatOk: number | null;
  if (typeof fmt === "number") formatOk = fmt > 0 ? 1 : 0;
  else {
    const [v] = paperFormat(
      [{ prompt: "", completion: { text: r.completion, tokenIds: [] }, row: {} }],
      noContext,
    ) as (number | null)[];
    formatOk = v === null ? null : v > 0 ? 1 : 0;
  }
  const counts = scriptCounts(r.completion);
  const letters = Object.values(counts).reduce((s, n) => s + n, 0);
  const scripts = Object.values(counts).filter((n) => n > 0).length;
  return {
    correct: typeof acc === "number" ? (acc > 0 ? 1 : 0) : null,
    formatOk,
    langOther: letters === 0 ? 0 : (letters - (counts.Latin ?? 0)) / letters,
    mixedScripts: scripts >= 2 ? 1 : 0,
  };
}

const now = () => Date.now() / 1000;

/** The store of a run, open for writing (one writer: the run's process). */
export class RunStore {
  readonly #db: Database.Database;
  readonly #insertStep: Database.Statement;
  readonly #insertPrompt: Database.Statement;
  readonly #promptId: Database.Statement;
  readonly #insertRollout: Database.Statement;
  readonly #insertEvent: Database.Statement;
  readonly #insertEval: Database.Statement;
  readonly #insertEvalSample: Database.Statement;
  readonly #promptIds = new Map<string, number>();

  private constructor(
    /** The database file. */
    readonly path: string,
    db: Database.Database,
  ) {
    this.#db = db;
    this.#insertStep = db.prepare("INSERT INTO steps (stage, step, time, metrics) VALUES (?, ?, ?, ?)");
    this.#insertPrompt = db.prepare("INSERT OR IGNORE INTO prompts (text) VALUES (?)");
    this.#promptId = db.prepare("SELECT id FROM prompts WHERE text = ?").pluck();
    this.#insertRollout = db.prepare(
      `INSERT INTO rollouts (step, grp, idx, round, prompt_id, completion, tokens, finish_reason,
         reward, advantage, rewards, correct, format_ok, lang_other, mixed_scripts, policy_version)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#insertEvent = db.prepare(
      "INSERT INTO events (step, time, kind, name, level, message, value) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    this.#insertEval = db.prepare(
      "INSERT OR REPLACE INTO evals (step, accuracy, ci_low, ci_high, n, time) VALUES (?, ?, ?, ?, ?, ?)",
    );
    this.#insertEvalSample = db.prepare(
      `INSERT OR REPLACE INTO eval_samples (step, benchmark, problem, sample, problem_id, prompt_id, completion,
         answer, gold, correct, tokens, finish_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
  }

  /**
   * Opens (or creates, with its folder) the store at `path`, and records `meta` the first time
   * (kind, name, created_at; config and model whenever given). A store of another schema
   * version, or a file that is not a SQLite database, is refused with an error naming the file.
   */
  static open(path: string, meta: StoreMeta): RunStore {
    let db: Database.Database;
    try {
      mkdirSync(dirname(path), { recursive: true });
      if (!existsSync(path)) createEmpty(path);
      db = new Database(path, { fileMustExist: true });
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      db.pragma("busy_timeout = 5000");
      db.exec(SCHEMA);
    } catch (err) {
      throw storeError(path, err);
    }
    const version = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get();
    if (version !== undefined && version !== String(STORE_SCHEMA_VERSION)) {
      db.close();
      throw new Error(
        `run store ${path}: schema version ${version}, this reasonrl writes ${STORE_SCHEMA_VERSION}`,
      );
    }
    const store = new RunStore(path, db);
    store.#writeMeta(meta);
    return store;
  }

  #writeMeta(meta: StoreMeta): void {
    const setIfAbsent = this.#db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)");
    const set = this.#db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
    this.#transaction(() => {
      setIfAbsent.run("schema_version", String(STORE_SCHEMA_VERSION));
      setIfAbsent.run("created_at", new Date().toISOString());
      set.run("kind", meta.kind);
      set.run("name", meta.name);
      if (meta.config !== undefined) set.run("config", meta.config);
      if (meta.model !== undefined) set.run("model", meta.model);
    })();
  }

  /** Sets a `meta` entry (e.g. eval's results). */
  setMeta(key: string, value: string): void {
    this.#transaction(() => {
      this.#db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)").run(key, value);
    })();
  }

  /** The id of a prompt text, added to `prompts` the first time it is seen. */
  #prompt(text: string): number {
    let id = this.#promptIds.get(text);
    if (id === undefined) {
      this.#insertPrompt.run(text);
      id = this.#promptId.get(text) as number;
      this.#promptIds.set(text, id);
    }
    return id;
  }

  /**
   * Writes a step: its metrics row, its rollouts and its events, in one transaction. A step
   * already there is an error (a resumed run calls truncateAfter first).
   */
  writeStep(w: StepWrite): void {
    const time = w.time ?? now();
    this.#transaction(() => {
      this.#insertStep.run(w.stage, w.step, time, JSON.stringify(w.metrics));
      for (const r of w.rollouts ?? []) {
        const f = r.flags ?? rolloutFlags(r);
        this.#insertRollout.run(
          w.step,
          r.group,
          r.index,
          r.round,
          this.#prompt(r.prompt),
          r.completion,
          r.tokens,
          r.finishReason,
          finiteOrNull(r.reward),
          finiteOrNull(r.advantage),
          JSON.stringify(r.rewards),
          f.correct,
          f.formatOk,
          f.langOther,
          f.mixedScripts,
          r.policyVersion ?? null,
        );
      }
      for (const e of w.events ?? []) this.#event(e, time);
    })();
  }

  #event(e: EventRow, time: number): void {
    this.#insertEvent.run(e.step, e.time ?? time, e.kind, e.name, e.level, e.message, finiteOrNull(e.value));
  }

  /** Adds an event on its own (a guard that trips between steps' writes). */
  addEvent(e: EventRow): void {
    this.#transaction(() => this.#event(e, now()))();
  }

  /** Writes a held-out evaluation after step `step` and its samples (replacing any of that step), in one transaction. */
  writeEval(step: number, result: EvalRow, samples: readonly EvalSampleRow[] = [], time = now()): void {
    this.#transaction(() => {
      this.#insertEval.run(step, result.accuracy, result.ci95[0], result.ci95[1], result.n, time);
      this.#evalSamples(step, samples);
    })();
  }

  /** Writes the graded completions of the evaluation at step `step` (eval's: 0), replacing any of that step, in one transaction. */
  writeEvalSamples(step: number, samples: readonly EvalSampleRow[]): void {
    this.#transaction(() => this.#evalSamples(step, samples))();
  }

  #evalSamples(step: number, samples: readonly EvalSampleRow[]): void {
    this.#db.prepare("DELETE FROM eval_samples WHERE step = ?").run(step);
    for (const s of samples)
      this.#insertEvalSample.run(
        step,
        s.benchmark,
        s.problem,
        s.sample,
        s.problemId ?? null,
        this.#prompt(s.prompt),
        s.completion,
        s.answer,
        s.gold,
        s.correct ? 1 : 0,
        s.tokens,
        s.finishReason,
      );
  }

  /**
   * Deletes what a resumed stage will write again: the rows of `stage` after step `step`
   * and, for GRPO, the rollouts, evaluations and events after it (as metrics.jsonl's lines).
   */
  truncateAfter(stage: string, step: number): void {
    this.#transaction(() => {
      this.#db.prepare("DELETE FROM steps WHERE stage = ? AND step > ?").run(stage, step);
      if (stage !== "grpo") return;
      for (const table of ["rollouts", "evals", "eval_samples", "events"])
        this.#db.prepare(`DELETE FROM ${table} WHERE step > ?`).run(step);
    })();
  }

  /**
   * `fn` as one transaction; a failure (a full disk, a step written twice) rolls it back and is
   * thrown with the store's path.
   */
  #transaction(fn: () => void): () => void {
    const tx = this.#db.transaction(fn);
    return () => {
      try {
        tx();
      } catch (err) {
        throw storeError(this.path, err);
      }
    };
  }

  /** Closes the database (its WAL is checkpointed into the file). */
  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

/**
 * Makes a store with its tables under a temporary name, then renames it: a reader never finds
 * one without them. On failure (a full disk) the temporary is removed.
 */
function createEmpty(path: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const remove = () => {
    for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`, `${tmp}-journal`]) rmSync(f, { force: true });
  };
  remove();
  try {
    const db = new Database(tmp);
    try {
      db.pragma("journal_mode = WAL");
      db.exec(SCHEMA);
      db.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', ?)").run(
        String(STORE_SCHEMA_VERSION),
      );
    } finally {
      db.close();
    }
    renameSync(tmp, path);
  } catch (err) {
    remove();
    throw err;
  }
}

/** An error of the store at `path`, naming it; SQLite's "disk is full" also says "no space left on device", as the file system does. */
function storeError(path: string, err: unknown): Error {
  const e = err as Error & { code?: string };
  // SQLITE_IOERR_SHMSIZE: the -shm file could not grow, which is how a full disk shows while the store is made.
  const full = ["SQLITE_FULL", "SQLITE_IOERR_SHMSIZE", "ENOSPC"].includes(e.code ?? "")
    ? " (no space left on device)"
    : "";
  return new Error(`run store ${path}: ${e.message}${full}`, { cause: err });
}

function finiteOrNull(v: number | null | undefined): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}
