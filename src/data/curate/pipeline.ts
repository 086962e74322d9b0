/**
 * Runs a curation plan: loads the sources, passes the rows through each step
 * in turn, and writes the report into the output folder:
 *
 *   report.md      the funnel table (rows in, kept, dropped and why, per step),
 *                  the sources, the bad rows, and each step's notes
 *   report.json    the same as data, with every bad row and each step's details
 *                  (e.g. every benchmark hit with both ids)
 *   dropped.jsonl  one line per dropped row: step, reason, detail, id, origin
 *
 * plus whatever the `write` steps write. Every file is written to a temporary
 * name and renamed. A step with `where` sees only the rows it selects; the
 * others keep their places in the stream.
 */
import { constants } from "node:fs";
import { access, mkdir } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileWriteError, writeFileAtomic } from "../../model/safetensors-write.ts";
import type { HubOptions } from "../hub.ts";
import { type BadRow, type DataRow, originOf } from "../row.ts";
import { loadSource } from "../sources.ts";
import type { CurationPlan } from "./recipe.ts";
import { renderReport } from "./report.ts";
import type { Drop, StepContext } from "./step.ts";
import { describeWhere, matchesWhere } from "./where.ts";

/** Where and how a curation runs. */
export interface CurateOptions {
  /** The output folder (created if needed). */
  outDir: string;
  /** Caches of steps that call models (default ~/.cache/reasonrl/curate). */
  cacheDir?: string;
  /** Progress lines. */
  log?: (message: string) => void;
  /** Stops the run between steps (and inside steps that check it). */
  signal?: AbortSignal;
  /** Hub access for hub sources and steps. */
  hub?: HubOptions;
}

/** One line of the funnel. */
export interface FunnelLine {
  step: string;
  type: string;
  /** The rows the step was given ("all rows", or its `where`). */
  selects: string;
  in: number;
  kept: number;
  dropped: number;
  /** Drops by reason. */
  reasons: Record<string, number>;
  seconds: number;
}

/** What a source gave. */
export interface SourceSummary {
  name: string;
  files: string[];
  rows: number;
  bad: number;
}

/** The result of a curation run (also report.json). */
export interface CurationReport {
  recipe: string;
  description?: string;
  seed: number;
  startedAt: string;
  seconds: number;
  sources: SourceSummary[];
  /** The first line is "load" (rows read, bad rows dropped), then one line per step. */
  funnel: FunnelLine[];
  /** Rows left after the last step. */
  final: number;
  /** Files written by steps. */
  outputs: string[];
  bad: BadRow[];
  steps: { name: string; type: string; details?: Record<string, unknown>; notes?: string[] }[];
}

/** The default cache folder of curation steps. */
export function defaultCurationCache(): string {
  return process.env.REASONRL_CURATE_CACHE || join(homedir(), ".cache", "reasonrl", "curate");
}

const countReasons = (reasons: string[]) => {
  const out: Record<string, number> = {};
  for (const r of reasons) out[r] = (out[r] ?? 0) + 1;
  return out;
};

/**
 * Runs `plan` and writes its report into `opts.outDir`; returns the report and the final rows.
 * Kept in one piece (over 80 lines) so the pipeline reads in order: load, each step with its
 * checks and abort points, then the report.
 */
export async function runCuration(
  plan: CurationPlan,
  opts: CurateOptions,
): Promise<{ report: CurationReport; rows: DataRow[] }> {
  const started = performance.now();
  const log = opts.log ?? (() => {});
  const signal = opts.signal ?? new AbortController().signal;
  await mkdir(opts.outDir, { recursive: true });
  // Refuse a folder we cannot write into now, not after hours of model calls.
  await access(opts.outDir, constants.W_OK).catch((err) => {
    throw fileWriteError(opts.outDir, err);
  });

  const report: CurationReport = {
    recipe: plan.name,
    ...(plan.description ? { description: plan.description } : {}),
    seed: plan.seed,
    startedAt: new Date().toISOString(),
    seconds: 0,
    sources: [],
    funnel: [],
    final: 0,
    outputs: [],
    bad: [],
    steps: [],
  };

  // Load every source.
  let rows: DataRow[] = [];
  const t0 = performance.now();
  for (const source of plan.sources) {
    const loaded = await loadSource(source, opts.hub ?? {});
    log(
      `source ${loaded.name}: ${loaded.rows.length} rows, ${loaded.bad.length} bad (${loaded.files.join(", ")})`,
    );
    report.sources.push({
      name: loaded.name,
      files: loaded.files,
      rows: loaded.rows.length,
      bad: loaded.bad.length,
    });
    report.bad.push(...loaded.bad);
    rows.push(...loaded.rows);
  }
  report.funnel.push({
    step: "load",
    type: "load",
    selects: `${plan.sources.length} sources`,
    in: rows.length + report.bad.length,
    kept: rows.length,
    dropped: report.bad.length,
    reasons: countReasons(report.bad.map((b) => b.reason)),
    seconds: (performance.now() - t0) / 1000,
  });

  // Run the steps.
  const dropLines: string[] = [];
  for (const step of plan.steps) {
    if (signal.aborted) throw new Error("curation stopped");
    const t = performance.now();
    const selected = step.where ? rows.filter((r) => matchesWhere(r, step.where)) : rows;
    const ctx: StepContext = {
      name: step.name,
      log,
      cacheDir: join(opts.cacheDir ?? defaultCurationCache(), step.type),
      outDir: opts.outDir,
      signal,
      seed: plan.seed,
      hub: opts.hub ?? {},
    };
    const outcome = await step.definition.run(selected, step.params, ctx);
    checkOutcome(step.name, selected, outcome.kept, outcome.dropped);
    if (step.where) {
      const picked = new Set(selected);
      const kept = new Set(outcome.kept);
      rows = rows.filter((r) => !picked.has(r) || kept.has(r));
    } else rows = outcome.kept;

    const line: FunnelLine = {
      step: step.name,
      type: step.type,
      selects: describeWhere(step.where),
      in: selected.length,
      kept: outcome.kept.length,
      dropped: outcome.dropped.length,
      reasons: countReasons(outcome.dropped.map((d) => d.reason)),
      seconds: (performance.now() - t) / 1000,
    };
    report.funnel.push(line);
    report.outputs.push(...(outcome.outputs ?? []));
    report.steps.push({ name: step.name, type: step.type, details: outcome.details, notes: outcome.notes });
    for (const d of outcome.dropped)
      dropLines.push(
        JSON.stringify({
          step: step.name,
          reason: d.reason,
          ...(d.detail ? { detail: d.detail } : {}),
          id: d.row.id,
          source: d.row.provenance.source,
          origin: originOf(d.row.provenance),
        }),
      );
    log(
      `${step.name}: ${line.in} in, ${line.kept} kept, ${line.dropped} dropped (${line.seconds.toFixed(1)} s)`,
    );
  }

  report.final = rows.length;
  report.seconds = (performance.now() - started) / 1000;
  await writeFileAtomic(join(opts.outDir, "report.json"), `${JSON.stringify(report, null, 2)}\n`);
  await writeFileAtomic(join(opts.outDir, "report.md"), renderReport(report));
  await writeFileAtomic(
    join(opts.outDir, "dropped.jsonl"),
    dropLines.length ? `${dropLines.join("\n")}\n` : "",
  );
  return { report, rows };
}

/** A step must return each row it was given exactly once, kept or dropped. */
function checkOutcome(step: string, given: DataRow[], kept: DataRow[], dropped: Drop[]): void {
  const pending = new Set(given);
  for (const row of [...kept, ...dropped.map((d) => d.row)]) {
    if (!pending.delete(row))
      throw new Error(`step ${step}: returned row ${row.id} twice, or a row it was not given`);
  }
  if (pending.size > 0) throw new Error(`step ${step}: ${pending.size} rows neither kept nor dropped`);
}
