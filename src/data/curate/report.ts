/**
 * The curation report as text: the funnel as a terminal table, and report.md
 * (funnel, sources, bad rows, each step's notes).
 */
import { originOf } from "../row.ts";
import type { CurationReport, FunnelLine } from "./pipeline.ts";

/** Bad rows listed by place in report.md (all of them are in report.json). */
const BAD_ROWS_SHOWN = 100;

const reasonsText = (line: FunnelLine) =>
  Object.entries(line.reasons)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([reason, n]) => `${reason} ${n}`)
    .join(", ");

/** The funnel as an aligned plain-text table. */
export function formatFunnel(report: CurationReport): string {
  const header = ["step", "rows in", "kept", "dropped", "why dropped"];
  const body = report.funnel.map((l) => [
    l.selects === "all rows" || l.step === "load" ? l.step : `${l.step} (${l.selects})`,
    String(l.in),
    String(l.kept),
    String(l.dropped),
    reasonsText(l),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 || i === 4 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join("  ")
      .trimEnd();
  return [fmt(header), ...body.map(fmt), `${report.final} rows out`].join("\n");
}

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\s+/g, " ");

/** report.md. */
export function renderReport(report: CurationReport): string {
  const lines: string[] = [`# Curation report: ${report.recipe}`, ""];
  if (report.description) lines.push(report.description.trim(), "");
  lines.push(
    `Run ${report.startedAt}, ${report.seconds.toFixed(1)} s, seed ${report.seed}: ` +
      `${report.funnel[0]?.in ?? 0} rows read, ${report.final} rows out.`,
    "",
    "## Funnel",
    "",
    "| step | selects | rows in | kept | dropped | why dropped | seconds |",
    "| --- | --- | ---: | ---: | ---: | --- | ---: |",
  );
  for (const l of report.funnel)
    lines.push(
      `| ${l.step} | ${cell(l.selects)} | ${l.in} | ${l.kept} | ${l.dropped} | ${cell(reasonsText(l))} | ${l.seconds.toFixed(2)} |`,
    );
  lines.push("", "## Sources", "", "| source | files | rows | bad rows |", "| --- | --- | ---: | ---: |");
  for (const s of report.sources)
    lines.push(`| ${s.name} | ${cell(s.files.join(", "))} | ${s.rows} | ${s.bad} |`);
  if (report.bad.length > 0) {
    lines.push("", "## Bad rows", "");
    for (const b of report.bad.slice(0, BAD_ROWS_SHOWN)) lines.push(`- ${originOf(b)}: ${b.reason}`);
    if (report.bad.length > BAD_ROWS_SHOWN)
      lines.push(`- ... and ${report.bad.length - BAD_ROWS_SHOWN} more (all in report.json)`);
  }
  for (const s of report.steps) {
    if (!s.notes || s.notes.length === 0) continue;
    lines.push("", `## ${s.name}`, "", ...s.notes);
  }
  if (report.outputs.length > 0) lines.push("", "## Outputs", "", ...report.outputs.map((o) => `- ${o}`));
  lines.push("", "Every dropped row, with its reason and origin, is in dropped.jsonl.", "");
  return lines.join("\n");
}
