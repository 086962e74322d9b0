/**
 * The run store (`run.sqlite`, src/track/store.ts) in the fault suite's folder checks: whether a
 * store left behind is whole (it opens read-only, SQLite's integrity check passes, and it holds
 * whole steps only), and whether two stores hold the same rows (storeContents: key order, times,
 * row ids and created_at left out). Its `-wal` and `-shm` side files are SQLite's journal and
 * index: what was committed is read through the store, so they are not compared.
 */
import { isDeepStrictEqual } from "node:util";
import Database from "better-sqlite3";
import { storeContents } from "../../src/track/store-read.ts";

/** True for a SQLite store (compared by its rows, not its bytes). */
export const isStoreFile = (file: string): boolean => file.endsWith(".sqlite");

/** True for SQLite's side files of a store (its write-ahead log and its shared-memory index). */
export const isStoreSideFile = (file: string): boolean => /\.sqlite-(wal|shm)$/.test(file);

/**
 * Why the store at `path` is not whole, or null. It is opened read-only (as the dashboard does,
 * reading the committed part of a write-ahead log left by a killed writer) and must pass
 * `PRAGMA integrity_check`, have its schema version, and hold whole steps only: every GRPO step
 * with its rollouts in whole groups (indices 0..n-1, the same n in each group of the step) and
 * no rollouts without their step; every held-out evaluation with its `n` samples and no samples
 * without their evaluation; an eval store's results with their samples.
 */
export function checkStore(path: string): string | null {
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    return `the store does not open read-only: ${(err as Error).message}`;
  }
  try {
    db.pragma("busy_timeout = 5000");
    const integrity = (db.pragma("integrity_check") as { integrity_check: string }[])
      .map((r) => r.integrity_check)
      .filter((r) => r !== "ok");
    if (integrity.length > 0) return `integrity_check: ${integrity.slice(0, 3).join("; ")}`;
    const meta = new Map(
      (db.prepare("SELECT key, value FROM meta").all() as { key: string; value: string }[]).map((r) => [
        r.key,
        r.value,
      ]),
    );
    if (!meta.has("schema_version")) return "no schema_version in meta";
    return partSteps(db, meta.get("kind"), meta.has("results"));
  } catch (err) {
    return (err as Error).message;
  } finally {
    db.close();
  }
}

/** What of a step (or an evaluation) the store holds without the rest of it, in a line, or null. */
function partSteps(db: Database.Database, kind: string | undefined, hasResults: boolean): string | null {
  const steps = (sql: string) => db.prepare(sql).pluck().all() as number[];
  const orphans = steps(
    "SELECT DISTINCT step FROM rollouts WHERE step NOT IN (SELECT step FROM steps WHERE stage = 'grpo')",
  );
  if (orphans.length > 0) return `rollouts of steps without their step row: ${orphans.join(", ")}`;
  const bare = steps(
    "SELECT step FROM steps WHERE stage = 'grpo' AND step NOT IN (SELECT DISTINCT step FROM rollouts)",
  );
  if (bare.length > 0) return `GRPO steps without rollouts: ${bare.join(", ")}`;
  const groups = db
    .prepare(
      "SELECT step, grp, COUNT(*) AS n, MIN(idx) AS lo, MAX(idx) AS hi FROM rollouts GROUP BY step, grp ORDER BY step, grp",
    )
    .all() as { step: number; grp: number; n: number; lo: number; hi: number }[];
  const sizes = new Map<number, number>();
  for (const g of groups) {
    if (g.lo !== 0 || g.hi !== g.n - 1)
      return `step ${g.step}, group ${g.grp}: rollouts ${g.lo}..${g.hi} of ${g.n}`;
    const size = sizes.get(g.step) ?? g.n;
    if (size !== g.n) return `step ${g.step}: groups of ${size} and ${g.n} rollouts`;
    sizes.set(g.step, size);
  }
  if (kind === "eval") {
    const samples = db.prepare("SELECT COUNT(*) FROM eval_samples").pluck().get() as number;
    return hasResults && samples === 0 ? "eval results without their samples" : null;
  }
  const unevaluated = steps(
    "SELECT DISTINCT step FROM eval_samples WHERE step NOT IN (SELECT step FROM evals)",
  );
  if (unevaluated.length > 0)
    return `evaluation samples without their evaluation: steps ${unevaluated.join(", ")}`;
  const short = db
    .prepare(
      `SELECT e.step, e.n, (SELECT COUNT(*) FROM eval_samples s WHERE s.step = e.step) AS samples
       FROM evals e WHERE samples != e.n`,
    )
    .all() as { step: number; n: number; samples: number }[];
  return short.length > 0
    ? `evaluations without their samples: ${short.map((e) => `step ${e.step} (${e.samples} of ${e.n})`).join(", ")}`
    : null;
}

/**
 * Why the stores at `a` and `b` differ (the first table that does, in a few words), or null when
 * they hold the same rows. `normalize` makes each side's rows comparable (the suite's: the output
 * folder's path replaced, volatile keys dropped); `dirA` and `dirB` are the folders it replaces.
 */
export function storeDifference(
  a: string,
  b: string,
  normalize: (value: unknown, dir: string) => unknown,
  dirA: string,
  dirB: string,
): string | null {
  let left: Record<string, unknown[]>;
  let right: Record<string, unknown[]>;
  try {
    left = normalize(storeContents(a), dirA) as Record<string, unknown[]>;
    right = normalize(storeContents(b), dirB) as Record<string, unknown[]>;
  } catch (err) {
    return (err as Error).message;
  }
  for (const table of Object.keys(left)) {
    const [x, y] = [left[table], right[table] ?? []];
    if (isDeepStrictEqual(x, y)) continue;
    const row = x.findIndex((r, i) => !isDeepStrictEqual(r, y[i]));
    return `table ${table}: ${x.length} vs ${y.length} rows, first difference at row ${row === -1 ? x.length : row}`;
  }
  return null;
}

/** How many step rows (SFT and GRPO) the store at `path` holds, read-only; null when it does not open. */
export function storeSteps(path: string): number | null {
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      return db.prepare("SELECT COUNT(*) FROM steps").pluck().get() as number;
    } finally {
      db.close();
    }
  } catch {
    return null;
  }
}
