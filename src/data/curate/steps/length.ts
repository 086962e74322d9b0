/**
 * `length`: drops rows whose problem, answer or solution is outside character
 * limits (reasons problem-too-short, problem-too-long, answer-too-long, ...;
 * the first limit broken, in that order, names the drop).
 * A missing solution has length 0. Limits are in characters: token limits need
 * the model's tokenizer and are the trainer's business (maxPromptTokens).
 */
import { z } from "zod";
import type { DataRow } from "../../row.ts";
import { type Drop, defineStep } from "../step.ts";

const Limits = z
  .object({
    min: z.number().int().nonnegative().optional(),
    max: z.number().int().positive().optional(),
  })
  .strict();

export const LengthParams = z
  .object({
    problem: Limits.optional(),
    answer: Limits.optional(),
    solution: Limits.optional(),
  })
  .strict();

const FIELDS = ["problem", "answer", "solution"] as const;

export const lengthStep = defineStep({
  type: "length",
  summary: "drop rows whose problem, solution or answer is outside character limits",
  params: LengthParams,
  async run(rows, p) {
    const kept: DataRow[] = [];
    const dropped: Drop[] = [];
    for (const row of rows) {
      let reason: Drop | null = null;
      for (const field of FIELDS) {
        const limits = p[field];
        if (!limits) continue;
        const length = (row[field] ?? "").length;
        if (limits.min !== undefined && length < limits.min)
          reason = { row, reason: `${field}-too-short`, detail: `${length} < ${limits.min} chars` };
        else if (limits.max !== undefined && length > limits.max)
          reason = { row, reason: `${field}-too-long`, detail: `${length} > ${limits.max} chars` };
        if (reason) break;
      }
      if (reason) dropped.push(reason);
      else kept.push(row);
    }
    return { kept, dropped };
  },
});
