/**
 * Verifying a JSONL file of cases: each line {"gold": ..., "pred": ...}
 * (optionally "options" and "expected") is written back with "equivalent",
 * the parsed forms and the milliseconds taken. All lines are validated before
 * any work; the output appears only when complete (temp file, then rename).
 */
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { writeFileAtomic } from "../model/safetensors-write.ts";
import { type VerifyOptionsInput, VerifyOptionsSchema } from "./config.ts";
import { VerifierPool } from "./pool.ts";
import type { VerifyResult } from "./verify.ts";

/** Raised for unreadable input; the message names the file, line and field. */
export class VerifyInputError extends Error {}

const Text = z.union([z.string(), z.number().transform(String)], {
  error: "expected a string (or a number)",
});
export const VerifyCaseSchema = z
  .object({
    gold: Text.describe("Gold answer: LaTeX, $...$, \\boxed{...} or a number"),
    pred: Text.describe("Model output or answer"),
    options: z
      .record(z.string(), z.unknown())
      .optional()
      .describe("Per-case verify options (see VerifyOptionsSchema)"),
    expected: z.boolean().optional().describe("Known label; when present the summary reports agreement"),
  })
  .loose();
export type VerifyCase = z.infer<typeof VerifyCaseSchema>;

/** Counts printed (as JSON) after a batch. */
export interface BatchSummary {
  cases: number;
  equivalent: number;
  not_equivalent: number;
  timeouts: number;
  errors: number;
  /** Cases with an "expected" label, and how many of them the verifier agreed with. */
  labelled: number;
  agree: number;
  agreement: number | null;
  ms: number;
}

/**
 * Parses JSONL text into cases, or throws VerifyInputError naming `file:line` and the field.
 * Each case's options, merged over `defaults`, must be valid VerifyOptions.
 */
export function parseCases(text: string, file: string, defaults: VerifyOptionsInput = {}): VerifyCase[] {
  const cases: VerifyCase[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (e) {
      throw new VerifyInputError(`${file}:${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    const r = VerifyCaseSchema.safeParse(raw);
    if (!r.success) {
      const issue = r.error.issues[0];
      const field = issue.path.length > 0 ? `field "${issue.path.join(".")}"` : "line";
      throw new VerifyInputError(`${file}:${i + 1}: ${field}: ${issue.message}`);
    }
    const o = VerifyOptionsSchema.safeParse({ ...defaults, ...r.data.options });
    if (!o.success) {
      const issue = o.error.issues[0];
      throw new VerifyInputError(
        `${file}:${i + 1}: field "options.${issue.path.join(".")}": ${issue.message}`,
      );
    }
    cases.push(r.data);
  });
  return cases;
}

/**
 * Verifies every case of `inPath` and writes `outPath` (JSONL, one result per case, same order).
 * `options` apply to all cases; a case's own "options" override them.
 */
export async function verifyFile(
  inPath: string,
  outPath: string,
  options: VerifyOptionsInput = {},
  pool?: VerifierPool,
): Promise<BatchSummary> {
  let text: string;
  try {
    text = await readFile(inPath, "utf8");
  } catch (e) {
    throw new VerifyInputError(
      `${inPath}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  const cases = parseCases(text, inPath, options);
  const own = pool ?? new VerifierPool();
  const t0 = performance.now();
  try {
    // A failed worker counts as an error of that case, not of the batch.
    const failed = (e: unknown): VerifyResult => ({
      equivalent: false,
      gold: { parsed: [], text: null, via: "none" },
      pred: { parsed: [], text: null, via: "none" },
      ms: 0,
      timedOut: false,
      error: e instanceof Error ? e.message : String(e),
    });
    const results = await Promise.all(
      cases.map((c) =>
        own.verify(c.gold, c.pred, { ...options, ...c.options } as VerifyOptionsInput).catch(failed),
      ),
    );
    const summary: BatchSummary = {
      cases: cases.length,
      equivalent: 0,
      not_equivalent: 0,
      timeouts: 0,
      errors: 0,
      labelled: 0,
      agree: 0,
      agreement: null,
      ms: 0,
    };
    const lines = cases.map((c, i) => {
      const r = results[i];
      if (r.equivalent) summary.equivalent++;
      else summary.not_equivalent++;
      if (r.timedOut) summary.timeouts++;
      if (r.error) summary.errors++;
      if (c.expected !== undefined) {
        summary.labelled++;
        if (c.expected === r.equivalent) summary.agree++;
      }
      const out: Record<string, unknown> = {
        ...c,
        equivalent: r.equivalent,
        gold_parsed: r.gold.parsed,
        pred_parsed: r.pred.parsed,
        ms: r.ms,
      };
      if (r.timedOut) out.timed_out = true;
      if (r.error) out.error = r.error;
      return JSON.stringify(out);
    });
    summary.agreement =
      summary.labelled > 0 ? Math.round((summary.agree / summary.labelled) * 10000) / 10000 : null;
    summary.ms = Math.round(performance.now() - t0);
    try {
      await writeFileAtomic(outPath, lines.length > 0 ? `${lines.join("\n")}\n` : "");
    } catch (e) {
      throw new VerifyInputError(
        `${outPath}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      );
    }
    return summary;
  } finally {
    if (!pool) await own.close();
  }
}
