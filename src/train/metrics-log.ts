/**
 * The run's metrics.jsonl: one JSON object per line, appended as steps finish.
 * Each line carries its stage ("sft" or "grpo") and step, so a resumed run can
 * drop the lines written after the checkpoint it resumes from.
 */
import { readFile } from "node:fs/promises";
import { appendJsonlLog } from "../data/jsonl.ts";
import { writeFileAtomic } from "../model/safetensors-write.ts";

/** Appends one record as a line; a failed write names the file and leaves no part of the line. */
export async function appendMetrics(path: string, record: object): Promise<void> {
  await appendJsonlLog(path, [record]);
}

/** Reads every well-formed line (a torn last line is left out). */
export async function readMetrics(path: string): Promise<Record<string, unknown>[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return [];
  }
  const out: Record<string, unknown>[] = [];
  for (const line of text.split("\n")) {
    try {
      out.push(JSON.parse(line));
    } catch {
      // blank or torn line
    }
  }
  return out;
}

/** Keeps only the lines of other stages and those of `stages` up to `step` (and drops torn lines). */
export async function truncateMetrics(path: string, stages: readonly string[], step: number): Promise<void> {
  const kept = (await readMetrics(path)).filter(
    (r) => !stages.includes(String(r.stage)) || Number(r.step) <= step,
  );
  await writeFileAtomic(path, kept.map((r) => `${JSON.stringify(r)}\n`).join(""));
}
