/**
 * The paper-style table of eval results (results.json of `reasonrl eval`
 * folders) as data for the page: one row per result, one cell per benchmark
 * and Avg, each cell the estimate with its 95% interval and the text
 * `reasonrl eval compare` prints for it. The numbers come from src/eval
 * (results.json's estimates, averageEstimate, formatEstimate, the settings
 * notes), so the page shows what the CLI shows; the markdown report is sent
 * along for copying.
 */
import { BUILTIN_NAMES } from "../../eval/benchmarks.ts";
import { averageEstimate, type Estimate } from "../../eval/metrics.ts";
import type { EvalResults } from "../../eval/results.ts";
import {
  describeSettings,
  formatEstimate,
  omissionNotes,
  renderReport,
  settingsDifferences,
} from "../../eval/table.ts";

/** A cell: the estimate (null: the row lacks this benchmark) and its text ("30.0 [13.6, 46.4]"). */
export interface TableCell {
  value: number | null;
  ci95: [number, number] | null;
  text: string;
}

export interface EvalTable {
  metric: string;
  /** Metrics every row has (the page's metric picker). */
  metrics: string[];
  columns: Array<{ name: string; title: string }>;
  rows: Array<{ run: string; model: string; cells: TableCell[]; avg: TableCell; failed: number }>;
  /** How the samples were drawn, when every row drew them alike. */
  settings: string | null;
  /** Settings that differ between rows ("n: A 1, B 16"). */
  differences: string[];
  /** What the numbers leave out (failed samples, unknown lengths). */
  notes: string[];
  /** `reasonrl eval compare`'s markdown report of the same results. */
  markdown: string;
}

const cell = (e: Estimate | undefined): TableCell => ({
  value: e?.value ?? null,
  ci95: e?.ci95 ?? null,
  text: formatEstimate(e),
});

/** The table of `results` (labelled by run) for `metric` (default: pass@1, else the first shared one). */
export function evalTable(
  results: ReadonlyArray<{ run: string; results: EvalResults }>,
  metric?: string,
): EvalTable {
  const all = results.map((r) => r.results);
  if (all.length === 0) throw new Error("no eval results to put in a table");
  const metrics = Object.keys(all[0].average).filter((m) => all.every((r) => m in r.average));
  const chosen = metric ?? (metrics.includes("pass@1") ? "pass@1" : metrics[0]);
  if (!metrics.includes(chosen))
    throw new Error(`no metric "${chosen}" in every result (shared: ${metrics.join(", ")})`);
  const titles = new Map<string, string>();
  for (const r of all) for (const b of r.benchmarks) if (!titles.has(b.name)) titles.set(b.name, b.title);
  const rank = (name: string) =>
    BUILTIN_NAMES.includes(name) ? BUILTIN_NAMES.indexOf(name) : BUILTIN_NAMES.length;
  const columns = [...titles.keys()]
    .sort((a, b) => rank(a) - rank(b))
    .map((name) => ({ name, title: titles.get(name) ?? name }));
  const rows = results.map(({ run, results: r }) => {
    const estimates = columns.map((c) => r.benchmarks.find((b) => b.name === c.name)?.metrics[chosen]);
    const complete = estimates.every((e): e is Estimate => e !== undefined);
    return {
      run,
      model: r.model,
      cells: estimates.map(cell),
      avg: cell(complete ? averageEstimate(estimates) : undefined),
      failed: r.failed_samples ?? 0,
    };
  });
  const differences = settingsDifferences(all);
  return {
    metric: chosen,
    metrics,
    columns,
    rows,
    settings: differences.length === 0 ? describeSettings(all[0].settings) : null,
    differences,
    notes: omissionNotes(all),
    markdown: renderReport(all, chosen),
  };
}
