/**
 * Markdown tables shaped like the paper's Table 1: one row per model, one
 * column per benchmark and "Avg", values in percent with their 95% interval
 * ("30.0 [13.6, 46.4]"). table.md holds one evaluation; `reasonrl eval
 * compare` puts several in one table and says where their settings differ
 * (the paper's table mixed one-sample results with 16-sample averages).
 *
 * What a number leaves out is said under the tables: samples whose request
 * failed (also a "Failed" column when a row has any: they count as wrong),
 * and completions whose length or finish reason the server did not give
 * ("?" where a row has none at all).
 */
import { BUILTIN_NAMES } from "./benchmarks.ts";
import { averageEstimate, type Estimate } from "./metrics.ts";
import type { EvalResults, ResultSettings } from "./results.ts";

/** A value in percent with its interval, or "–" when missing. */
export function formatEstimate(e: Estimate | undefined): string {
  if (!e) return "–";
  const pct = (x: number) => (100 * x).toFixed(1);
  return `${pct(e.value)} [${pct(e.ci95[0])}, ${pct(e.ci95[1])}]`;
}

/** The benchmark columns of several results: the built-ins in the paper's order, then the others. */
function columns(results: readonly EvalResults[]): Array<{ name: string; title: string }> {
  const seen = new Map<string, string>();
  for (const r of results) for (const b of r.benchmarks) if (!seen.has(b.name)) seen.set(b.name, b.title);
  const names = [...seen.keys()].sort((a, b) => rank(a) - rank(b));
  return names.map((name) => ({ name, title: seen.get(name) as string }));
}

function rank(name: string): number {
  const i = BUILTIN_NAMES.indexOf(name);
  return i < 0 ? BUILTIN_NAMES.length : i;
}

/** Samples in a result (problems times n), and those of them that failed (0 in older results). */
function failedOf(r: EvalResults): { failed: number; samples: number } {
  const problems = r.benchmarks.reduce((a, b) => a + b.problems, 0);
  return { failed: r.failed_samples ?? 0, samples: problems * r.settings.n };
}

/**
 * One markdown table of `metric`: a row per result. A row's Avg is the unweighted mean over the
 * table's columns ("–" when the row lacks one of them). A "Failed" column (failed samples of
 * all) is added when a row has failed samples.
 */
export function metricTable(results: readonly EvalResults[], metric: string): string {
  const cols = columns(results);
  const failedColumn = results.some((r) => failedOf(r).failed > 0);
  const lines = [
    `| Model | ${cols.map((c) => c.title).join(" | ")} | Avg |${failedColumn ? " Failed |" : ""}`,
    `| --- | ${cols.map(() => "---:").join(" | ")} | ---: |${failedColumn ? " ---: |" : ""}`,
  ];
  for (const r of results) {
    const cells = cols.map((c) => r.benchmarks.find((b) => b.name === c.name)?.metrics[metric]);
    const complete = cells.every((e): e is Estimate => e !== undefined);
    const avg = complete ? averageEstimate(cells) : undefined;
    const { failed, samples } = failedOf(r);
    lines.push(
      `| ${escapeCell(r.model)} | ${cells.map(formatEstimate).join(" | ")} | ${formatEstimate(avg)} |` +
        (failedColumn ? ` ${failed} / ${samples} |` : ""),
    );
  }
  return lines.join("\n");
}

/** Completion lengths: share cut at max_tokens and mean tokens, per benchmark. */
export function lengthTable(results: readonly EvalResults[]): string {
  const cols = columns(results);
  const lines = [
    `| Model | ${cols.map((c) => c.title).join(" | ")} | All |`,
    `| --- | ${cols.map(() => "---:").join(" | ")} | ---: |`,
  ];
  const cell = (truncated: number | null, tokens: number | null) =>
    `${truncated === null ? "?" : `${(100 * truncated).toFixed(1)}%`} · ${tokens === null ? "?" : tokens.toFixed(0)}`;
  for (const r of results) {
    const cells = cols.map((c) => {
      const b = r.benchmarks.find((x) => x.name === c.name);
      return b ? cell(b.truncated, b.mean_tokens) : "–";
    });
    lines.push(`| ${escapeCell(r.model)} | ${cells.join(" | ")} | ${cell(r.truncated, r.mean_tokens)} |`);
  }
  return lines.join("\n");
}

/** One line describing the settings of a result. */
export function describeSettings(s: ResultSettings): string {
  return [
    `prompt ${s.prompt}`,
    s.system ? "with a system prompt" : "no system prompt",
    `n ${s.n}`,
    `temperature ${s.temperature}`,
    `top-p ${s.top_p}`,
    `max tokens ${s.max_tokens}`,
    `seed ${s.seed}`,
    s.limit === null ? "all problems" : `first ${s.limit} problems per benchmark`,
  ].join(", ");
}

/** The settings that differ between results, one line each ("n: A 1, B 16"). */
export function settingsDifferences(results: readonly EvalResults[]): string[] {
  const keys: Array<keyof ResultSettings> = [
    "prompt",
    "system",
    "n",
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "limit",
  ];
  const out: string[] = [];
  for (const key of keys) {
    const values = results.map((r) => JSON.stringify(r.settings[key] ?? null));
    if (new Set(values).size > 1)
      out.push(`${key}: ${results.map((r, i) => `${r.model} ${values[i]}`).join(", ")}`);
  }
  return out;
}

const METRIC_NOTE =
  "Values in percent with their 95% confidence interval over problems (normal approximation; " +
  "it shrinks to a point when every problem scores the same). " +
  "pass@1 = mean correctness over the n samples of a problem; pass@k = unbiased estimator " +
  "1 - C(n-c,k)/C(n,k); maj@k = majority vote over the first k samples. Avg = unweighted mean over the benchmarks.";

/** Lines under the tables for what the numbers leave out: failed samples, unknown lengths. */
export function omissionNotes(results: readonly EvalResults[]): string[] {
  const notes: string[] = [];
  for (const r of results) {
    const { failed, samples } = failedOf(r);
    if (failed > 0) {
      const perBenchmark = r.benchmarks
        .filter((b) => (b.failed_samples ?? 0) > 0)
        .map((b) => `${b.title} ${b.failed_samples}`);
      const errors = [...new Set((r.failures ?? []).map((f) => f.error))];
      const shown = errors.slice(0, 3).map((e) => `"${e}"`);
      if (errors.length > 3) shown.push(`and ${errors.length - 3} other error(s)`);
      notes.push(
        `**${escapeCell(r.model)}: ${failed} of ${samples} samples failed** (${perBenchmark.join(", ")}): ` +
          `their requests failed, so they count as wrong; rerun the same command to ask for them again. ` +
          `Errors: ${shown.join("; ")}.`,
      );
    }
    const unknownTokens = r.unknown_tokens ?? 0;
    if (unknownTokens > 0)
      notes.push(
        `${escapeCell(r.model)}: the token count of ${unknownTokens} completion(s) is unknown (the server ` +
          'returned neither a per-choice count nor logprobs); mean tokens is over the others, "?" where none is known.',
      );
    const unknownFinish = r.unknown_finish ?? 0;
    if (unknownFinish > 0)
      notes.push(
        `${escapeCell(r.model)}: the finish reason of ${unknownFinish} completion(s) is unknown; the share cut ` +
          'at max tokens is over the others, "?" where none is known.',
      );
  }
  return notes;
}

/** The metrics every result has, in the first result's order. */
function sharedMetrics(results: readonly EvalResults[]): string[] {
  const first = Object.keys(results[0]?.average ?? {});
  return first.filter((m) => results.every((r) => r.benchmarks.every((b) => m in b.metrics)));
}

/**
 * A markdown report of one or more results: a table per metric (or just `metric`), the
 * completion-length table, the settings and where they differ.
 */
export function renderReport(results: readonly EvalResults[], metric?: string): string {
  if (results.length === 0) throw new Error("no results to report");
  const metrics = metric ? [metric] : sharedMetrics(results);
  const out: string[] = [results.length === 1 ? `# Evaluation: ${results[0].model}` : "# Evaluations", ""];
  for (const m of metrics) out.push(`## ${m}`, "", metricTable(results, m), "");
  out.push("## Completion length (share cut at max tokens · mean tokens)", "", lengthTable(results), "");
  for (const note of omissionNotes(results)) out.push(note, "");
  out.push(METRIC_NOTE, "");
  const diffs = settingsDifferences(results);
  if (diffs.length === 0) out.push(`Settings: ${describeSettings(results[0].settings)}.`);
  else {
    out.push("**Settings differ between rows**, so the numbers are not measured alike:", "");
    for (const d of diffs) out.push(`- ${d}`);
  }
  out.push("");
  return out.join("\n");
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, "\\|");
}
