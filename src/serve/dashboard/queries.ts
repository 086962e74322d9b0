/**
 * What the dashboard reads that the run store's reader (src/track/store-read.ts)
 * does not offer: where run folders are under the dashboard's folder (the
 * folder itself may be one), and which evaluations kept samples. Everything
 * else comes from RunStoreReader.
 */
import { type Dirent, existsSync, readdirSync } from "node:fs";
import { join, relative, sep } from "node:path";
import Database from "better-sqlite3";
import { STORE_FILE } from "../../track/store.ts";

/** Folders never searched for runs: a run's checkpoints (many, and never a run), dependencies. */
const SKIPPED = new Set(["checkpoints", "node_modules"]);

/** How deep under the dashboard's folder run folders are looked for (runs/a, runs/evals/b, ...). */
const MAX_DEPTH = 3;

/**
 * The run folders under `dir` (and `dir` itself when it is one), as paths relative to `dir`
 * with "/" separators ("." for `dir` itself), sorted.
 */
export function findRunFolders(dir: string): string[] {
  const found: string[] = [];
  const walk = (folder: string, depth: number) => {
    if (existsSync(join(folder, STORE_FILE))) found.push(relative(dir, folder).split(sep).join("/") || ".");
    if (depth === MAX_DEPTH) return;
    let entries: Dirent[];
    try {
      entries = readdirSync(folder, { withFileTypes: true });
    } catch {
      return; // unreadable: nothing of ours in it
    }
    for (const e of entries)
      if (e.isDirectory() && !SKIPPED.has(e.name) && !e.name.startsWith("."))
        walk(join(folder, e.name), depth + 1);
  };
  walk(dir, 0);
  return found.sort();
}

/** An evaluation that kept samples: its step (0 for `reasonrl eval`), benchmark and sample count. */
export interface EvalSampleSet {
  step: number;
  benchmark: string;
  samples: number;
}

/** The evaluations of the store at `path` that kept samples, by step and benchmark (read-only). */
export function evalSampleSets(path: string): EvalSampleSet[] {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare(
        `SELECT step, benchmark, COUNT(*) AS samples FROM eval_samples
         GROUP BY step, benchmark ORDER BY step, benchmark`,
      )
      .all() as EvalSampleSet[];
  } finally {
    db.close();
  }
}
