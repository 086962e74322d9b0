/**
 * The runs a dashboard serves: the run folders (with a run.sqlite) under its
 * folder, each named by its path relative to it ("demo", "evals/base"). A run
 * is only ever looked up by a name from that list, so no request can reach a
 * file outside the folder. Stores are opened once, read-only, and kept open
 * until the dashboard closes.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type Database from "better-sqlite3";
import {
  findRunFolders,
  openStore,
  type RunFigures,
  readMeta,
  runFigures,
  STORE_FILE,
  secondsSinceWrite,
} from "./queries.ts";

/** A run is "running" while its store changed less than this long ago and it has no summary yet. */
const RUNNING_WITHIN_S = 120;

/** A run as the run list shows it. */
export interface RunListing extends RunFigures {
  /** Its name in the dashboard: the folder relative to the dashboard's ("" for the folder itself). */
  id: string;
  name: string;
  kind: string;
  model: string | null;
  created_at: string | null;
  status: "running" | "finished" | "stopped" | "unfinished";
  /** The folder has an eval results.json (the paper-style table). */
  has_results: boolean;
}

/** A run name the dashboard does not serve. */
export class UnknownRunError extends Error {
  override name = "UnknownRunError";
}

export class RunRegistry {
  private readonly stores = new Map<string, Database.Database>();
  private known: string[] = [];

  /** `dir`: the folder whose run folders are served (e.g. runs/). */
  constructor(readonly dir: string) {
    this.dir = resolve(dir);
    if (!existsSync(this.dir))
      throw new Error(`no folder ${dir}: nothing to show (runs are made by train, demo, eval)`);
  }

  /** The names of the runs now in the folder (looked for again on each call: new runs appear). */
  ids(): string[] {
    this.known = findRunFolders(this.dir);
    return this.known;
  }

  /** The folder of run `id`; an unknown id is an UnknownRunError. */
  folder(id: string): string {
    if (!this.known.includes(id) && !this.ids().includes(id))
      throw new UnknownRunError(`no run "${id}" in ${this.dir}`);
    return join(this.dir, id);
  }

  /** Run `id`'s store, opened read-only on first use. */
  store(id: string): Database.Database {
    let db = this.stores.get(id);
    if (!db) {
      db = openStore(join(this.folder(id), STORE_FILE));
      this.stores.set(id, db);
    }
    return db;
  }

  /** Every run with its key figures; a store that cannot be read is listed with its error. */
  list(): Array<RunListing | { id: string; error: string }> {
    return this.ids().map((id) => {
      try {
        return this.listing(id);
      } catch (err) {
        return { id, error: (err as Error).message };
      }
    });
  }

  listing(id: string): RunListing {
    const db = this.store(id);
    const meta = readMeta(db);
    const folder = this.folder(id);
    return {
      id,
      name: meta.name ?? (id || "."),
      kind: meta.kind ?? "train",
      model: meta.model ?? null,
      created_at: meta.created_at ?? null,
      status: this.status(folder),
      has_results: existsSync(join(folder, "results.json")),
      ...runFigures(db),
    };
  }

  /** finished / stopped from summary.json (or results.json); otherwise running while the store is being written. */
  private status(folder: string): RunListing["status"] {
    const summaryPath = join(folder, "summary.json");
    if (existsSync(summaryPath)) {
      try {
        const summary = JSON.parse(readFileSync(summaryPath, "utf8")) as { stopped?: boolean };
        return summary.stopped ? "stopped" : "finished";
      } catch {
        return "unfinished"; // being rewritten: the next poll reads it
      }
    }
    if (existsSync(join(folder, "results.json"))) return "finished";
    return secondsSinceWrite(folder) < RUNNING_WITHIN_S ? "running" : "unfinished";
  }

  /** Closes every store opened. */
  close(): void {
    for (const db of this.stores.values()) db.close();
    this.stores.clear();
  }
}
