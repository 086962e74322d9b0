/**
 * A run folder, `<runsDir>/<name>/`, and the one owner of what is in it:
 *
 *   config.yaml     the recipe as the run started (never rewritten on resume)
 *   history.jsonl   the fields changed on resume (`train --allow-change`), one
 *                   line per resume: when, from which step, path old -> new
 *   metrics.jsonl   one line per training step (stage "sft" or "grpo") and per
 *                   held-out evaluation (stage "eval"), appended as they finish
 *   checkpoints/    <stage>/step-N/ (resume; last K kept), best/ (a model folder)
 *   final/          the trained model (a model folder, or LoRA adapters)
 *   summary.json    the run's summary (RunSummary), for `train` and `demo` alike
 *   chart.png       the demo's chart of the metrics
 *   run.sqlite      the run store: every step's metrics and rollouts, evaluations and their
 *                   samples, events (src/track/store.ts)
 *
 * Every file is written through a temporary name and renamed, and every
 * folder (best/, final/) filled under a temporary name and renamed, so a
 * killed run never leaves a half-written one.
 */
import { mkdir, readdir, readFile, rename, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import type { Accuracy } from "../eval/accuracy.ts";
import { exists, fileWriteError, writeFileAtomic } from "../model/safetensors-write.ts";
import { listCheckpoints } from "./checkpoint.ts";
import type { FieldChange } from "./config-diff.ts";
import { appendMetrics, readMetrics, truncateMetrics } from "./metrics-log.ts";

/** The best held-out accuracy so far, and the step it was measured after (0: before GRPO). */
export interface BestStep {
  step: number;
  accuracy: number;
}

/** summary.json: what a run did and what it measured (snake_case, as every JSON output). */
export interface RunSummary {
  name: string;
  /** The model folder trained from. */
  model: string;
  /** The training task in words (e.g. "arithmetic: 3 one-digit operands, + -"). */
  task: string;
  /** Held-out problems evaluated (null without evaluation). */
  heldout: number | null;
  /** Held-out accuracy before GRPO (after SFT) and after it. */
  before: Accuracy | null;
  after: Accuracy | null;
  /** after - before, in accuracy points (percent); null without both. */
  gain_points: number | null;
  /** The two 95% intervals do not overlap (after above before). */
  significant: boolean | null;
  best: BestStep | null;
  sft_steps: number;
  grpo_steps: number;
  /** True when the run was stopped (Ctrl-C) before its end; run it again to resume. */
  stopped: boolean;
  /** A chart of the run's metrics (PNG), when one was drawn. */
  chart: string | null;
  wall_s: number;
}

/** A line of history.jsonl: fields changed when the run was resumed at `stage` step `step`. */
export interface HistoryEntry {
  /** When (ISO 8601). */
  time: string;
  /** The stage and step the run resumed from: the new values hold from the next step on. */
  stage: string;
  step: number;
  changes: FieldChange[];
}

export class RunFolder {
  constructor(
    /** The folder: `<runsDir>/<name>`. */
    readonly dir: string,
  ) {}

  /** The folder of run `name` in `runsDir`. */
  static of(runsDir: string, name: string): RunFolder {
    return new RunFolder(join(runsDir, name));
  }

  get configPath(): string {
    return join(this.dir, "config.yaml");
  }
  get metricsPath(): string {
    return join(this.dir, "metrics.jsonl");
  }
  get summaryPath(): string {
    return join(this.dir, "summary.json");
  }
  get historyPath(): string {
    return join(this.dir, "history.jsonl");
  }
  /** The checkpoints of a training stage ("sft", "grpo"). */
  checkpointsOf(stage: string): string {
    return join(this.dir, "checkpoints", stage);
  }
  /** The best model by held-out accuracy (a model folder with best.json). */
  get bestDir(): string {
    return join(this.dir, "checkpoints", "best");
  }
  /** The trained model. */
  get finalDir(): string {
    return join(this.dir, "final");
  }
  /** The run store (src/track/store.ts). */
  get storePath(): string {
    return join(this.dir, "run.sqlite");
  }
  /** A chart of the run's metrics (the demo draws one). */
  get chartPath(): string {
    return join(this.dir, "chart.png");
  }

  /** Creates the folder (and its parents); a failure names the folder. */
  async create(): Promise<void> {
    await mkdir(this.dir, { recursive: true }).catch((err) => {
      throw fileWriteError(this.dir, err);
    });
  }

  /**
   * Removes the temporaries a killed process left (they carry its pid, so no later run would
   * reuse them): `final.tmp-<pid>`, `best.tmp-<pid>`, `run.sqlite.tmp-<pid>[-wal|-shm]` here,
   * `.tmp-step-N-<pid>` in each stage's checkpoints, and atomic writes' `.<file>.<pid>.<hex>.tmp`.
   * Returns what was removed.
   */
  async removeTemporaries(): Promise<string[]> {
    const stale = (name: string) =>
      /\.tmp-\d+(-wal|-shm|-journal)?$/.test(name) ||
      /^\.tmp-step-\d+-\d+$/.test(name) ||
      /^\..+\.\d+\.[0-9a-f]+\.tmp$/.test(name);
    const folders = [this.dir, join(this.dir, "checkpoints")];
    const stages = await readdir(join(this.dir, "checkpoints")).catch(() => []);
    folders.push(...stages.map((s) => this.checkpointsOf(s)));
    const removed: string[] = [];
    for (const folder of folders) {
      for (const name of await readdir(folder).catch(() => [])) {
        if (!stale(name)) continue;
        await rm(join(folder, name), { recursive: true, force: true });
        removed.push(join(folder, name));
      }
    }
    return removed;
  }

  async writeConfig(yaml: string): Promise<void> {
    await writeFileAtomic(this.configPath, yaml);
  }

  /** config.yaml's text, or null when the run has not started. */
  async readConfig(): Promise<string | null> {
    return (await exists(this.configPath)) ? readFile(this.configPath, "utf8") : null;
  }

  /** Records fields changed on resume (history.jsonl, rewritten whole through a temporary file: never a part line). */
  async appendHistory(entry: HistoryEntry): Promise<void> {
    const before = (await exists(this.historyPath)) ? await readFile(this.historyPath, "utf8") : "";
    await writeFileAtomic(this.historyPath, `${before}${JSON.stringify(entry)}\n`);
  }

  /** Every line of history.jsonl, oldest first (none before any change). */
  async readHistory(): Promise<HistoryEntry[]> {
    if (!(await exists(this.historyPath))) return [];
    const text = await readFile(this.historyPath, "utf8");
    return text
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l, i) => {
        try {
          return JSON.parse(l) as HistoryEntry;
        } catch {
          throw new Error(`${this.historyPath}:${i + 1}: not a JSON line`);
        }
      });
  }

  /** The step of a stage's latest checkpoint ("sft", "grpo"); 0 when it has none. */
  async latestStep(stage: string): Promise<number> {
    const latest = (await listCheckpoints(this.checkpointsOf(stage))).at(-1);
    return latest ? Number(basename(latest).replace(/^step-/, "")) : 0;
  }

  /** Appends a line to metrics.jsonl (a step's record, or an evaluation's). */
  async appendMetrics(record: object): Promise<void> {
    await appendMetrics(this.metricsPath, record);
  }

  /** Every well-formed line of metrics.jsonl. */
  readMetrics(): Promise<Record<string, unknown>[]> {
    return readMetrics(this.metricsPath);
  }

  /** Drops the lines of `stages` after step `step` (written after the checkpoint a resumed stage starts from). */
  async truncateMetrics(stages: readonly string[], step: number): Promise<void> {
    await truncateMetrics(this.metricsPath, stages, step);
  }

  /** The held-out result logged after step `step` (0: before GRPO), if any. */
  async evaluation(step: number): Promise<Accuracy | null> {
    const line = (await this.readMetrics()).find((r) => r.stage === "eval" && r.step === step);
    return (line?.result as Accuracy | undefined) ?? null;
  }

  /** The last held-out result logged. */
  async lastEvaluation(): Promise<Accuracy | null> {
    const evals = (await this.readMetrics()).filter((r) => r.stage === "eval");
    return (evals.at(-1)?.result as Accuracy | undefined) ?? null;
  }

  /** Logs a held-out result measured after step `step`. */
  async appendEvaluation(step: number, result: Accuracy): Promise<void> {
    await this.appendMetrics({ stage: "eval", step, result });
  }

  /**
   * Replaces folder `dir` (bestDir, finalDir) by what `fill` writes into an
   * empty temporary folder, renamed into place once complete.
   */
  async replaceFolder(dir: string, fill: (tmp: string) => Promise<void>): Promise<void> {
    const tmp = `${dir}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
    try {
      await fill(tmp);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  }

  /** The best step recorded with the best model (null before any). */
  async readBest(): Promise<BestStep | null> {
    try {
      return JSON.parse(await readFile(join(this.bestDir, "best.json"), "utf8"));
    } catch {
      return null;
    }
  }

  /** The file that records the best step inside a best model's folder. */
  static bestFile(folder: string): string {
    return join(folder, "best.json");
  }

  async writeSummary(summary: RunSummary): Promise<void> {
    await writeFileAtomic(this.summaryPath, `${JSON.stringify(summary, null, 2)}\n`);
  }

  async readSummary(): Promise<RunSummary> {
    return JSON.parse(await readFile(this.summaryPath, "utf8"));
  }

  /** summary.json, or null when there is none (or it cannot be read: the run did not finish writing it). */
  async summaryIfAny(): Promise<RunSummary | null> {
    try {
      return await this.readSummary();
    } catch {
      return null;
    }
  }
}
