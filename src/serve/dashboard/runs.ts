/**
 * The runs a dashboard serves: the run folders (with a run.sqlite) under its
 * folder, each named by its path relative to it ("demo", "eval/base"; "." when
 * the folder is itself a run). A run is only ever looked up by a name from
 * that list, so no request can reach a file outside the folder. Stores are
 * opened once, read-only (RunStoreReader), and kept open until the dashboard
 * closes.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { EvalResults } from "../../eval/results.ts";
import { STORE_FILE } from "../../track/store.ts";
import { type RunListing, RunStoreReader, runListing } from "../../track/store-read.ts";
import { evalSampleSets, findRunFolders } from "./queries.ts";

/** A run as the page's run list shows it. */
export interface RunEntry extends Omit<RunListing, "dir"> {
  /** Its name in the dashboard: the folder relative to the dashboard's. */
  id: string;
  /** It has eval results (results.json, or the store's copy): the paper-style table. */
  has_results: boolean;
}

/** A run name the dashboard does not serve. */
export class UnknownRunError extends Error {
  override name = "UnknownRunError";
}

export class RunRegistry {
  /** The folder whose run folders are served (absolute). */
  readonly dir: string;
  private readonly readers = new Map<string, { reader: RunStoreReader; file: string }>();
  private known: string[] = [];

  constructor(dir: string) {
    this.dir = resolve(dir);
    if (!existsSync(this.dir))
      throw new Error(`no folder ${dir}: nothing to show (train, demo and eval make run folders)`);
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

  /**
   * Run `id`'s store, opened read-only on first use, and opened again when the file was replaced
   * (a run started afresh in the same folder, as the demo does): then a new reader comes back.
   */
  store(id: string): RunStoreReader {
    const path = join(this.folder(id), STORE_FILE);
    const file = fileId(path);
    const open = this.readers.get(id);
    if (open && open.file === file) return open.reader;
    open?.reader.close();
    const reader = RunStoreReader.open(path);
    this.readers.set(id, { reader, file });
    return reader;
  }

  /** Every run with its key figures; a store that cannot be read is listed with its error. */
  list(): Array<RunEntry | { id: string; error: string }> {
    return this.ids().map((id) => {
      try {
        const { dir: _dir, ...listing } = runListing(this.folder(id));
        return { id, ...listing, has_results: this.results(id) !== null };
      } catch (err) {
        return { id, error: (err as Error).message };
      }
    });
  }

  /** Run `id`'s eval results: results.json in its folder, else the copy eval keeps in its store; null if none. */
  results(id: string): EvalResults | null {
    const file = join(this.folder(id), "results.json");
    try {
      const text = existsSync(file) ? readFileSync(file, "utf8") : this.store(id).meta().results;
      const value = text === undefined ? null : (JSON.parse(text) as EvalResults);
      return value?.version === 1 && Array.isArray(value.benchmarks) ? value : null;
    } catch {
      return null; // being rewritten, or not results: shown as none
    }
  }

  /** The evaluations of run `id` that kept samples. */
  evalSampleSets(id: string) {
    return evalSampleSets(join(this.folder(id), STORE_FILE));
  }

  /** Closes every store opened. */
  close(): void {
    for (const { reader } of this.readers.values()) reader.close();
    this.readers.clear();
  }
}

/** Which file is at `path` now (device and inode): it changes when the file is replaced; "" when there is none. */
function fileId(path: string): string {
  try {
    const s = statSync(path);
    return `${s.dev}:${s.ino}`;
  } catch {
    return "";
  }
}
