/**
 * `reasonrl runs`: the runs' stores (run.sqlite, src/track/store.ts).
 *
 *   runs list [DIR]                         the runs under DIR (default runs/) with their key figures
 *   runs export RUN --format parquet        one Parquet file per table of RUN's store
 */
import { existsSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { type Command, Option } from "commander";
import { STORE_FILE } from "../track/store.ts";
import { exportStoreParquet } from "../track/store-export.ts";
import { listRuns, type RunListing } from "../track/store-read.ts";
import { jsonOption } from "./options.ts";
import { fail, printResult, progressLog } from "./output.ts";

export function register(program: Command): void {
  const runs = program.command("runs").description("list runs and export their stores (run.sqlite)");
  runs
    .command("list")
    .description("the runs (train, demo, eval) under a folder, with their key figures")
    .argument("[dir]", "folder of runs", "runs")
    .addOption(jsonOption("print one JSON object: { runs: [...] }"))
    .action((dir: string, o: { json?: boolean }) => {
      if (!existsSync(dir)) fail(`runs folder ${dir} does not exist`);
      const list = listRuns(dir, progressLog());
      printResult({ runs: list }, o, list.length ? runsTable(list) : `no runs with a store in ${dir}`);
    });
  runs
    .command("export")
    .description("write a run's store as Parquet files, one per table (pandas, DuckDB, datasets)")
    .argument("<run>", "run folder (holding run.sqlite), its run.sqlite, or a run's name in runs/")
    .addOption(new Option("--format <format>", "file format").choices(["parquet"]).makeOptionMandatory())
    .option("--out <dir>", "output folder (default: <run>/parquet)")
    .addOption(jsonOption("print one JSON object: { out, files: [...] }"))
    .action(async (run: string, o: { format: "parquet"; out?: string; json?: boolean }) => {
      const store = storeOf(run);
      const out = o.out ?? join(dirname(store), "parquet");
      const files = await exportStoreParquet(store, out);
      const text = files.map((f) => `${f.path}: ${f.rows} rows`).join("\n");
      printResult({ out, files }, o, `wrote ${files.length} Parquet files to ${out}\n${text}`);
    });
}

/** The store of `run`: a folder holding run.sqlite, the file itself, or a run's name in runs/. */
function storeOf(run: string): string {
  if (existsSync(run) && statSync(run).isFile()) return run;
  for (const dir of [run, join("runs", run)]) {
    const path = join(dir, STORE_FILE);
    if (existsSync(path)) return path;
  }
  return fail(
    existsSync(run)
      ? `${run} has no ${STORE_FILE} (runs from before the run store have none)`
      : `run ${run}: no such folder, nor runs/${basename(run)}`,
  );
}

/** The runs as an aligned table. */
function runsTable(list: readonly RunListing[]): string {
  const fmt = (v: number | null, digits: number) => (v === null ? "-" : v.toFixed(digits));
  const rows = [
    ["name", "kind", "status", "steps", "reward", "best acc", "last acc", "folder"],
    ...list.map((r) => [
      r.name,
      r.kind,
      r.status,
      String(r.steps),
      fmt(r.last_reward, 3),
      fmt(r.best_accuracy, 3),
      fmt(r.last_accuracy, 3),
      r.dir,
    ]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((cell, i) => cell.padEnd(widths[i])).join("  ");
  return rows.map((r) => line(r).trimEnd()).join("\n");
}
