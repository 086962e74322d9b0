/**
 * `language`: keeps problems written in the allowed scripts and, optionally,
 * in English (src/data/language.ts has the measures).
 *
 * - script: less than `minScriptShare` of the prose's letters are in `scripts`.
 * - not-english: with `english` and at least `minWords` prose words, less than
 *   `minEnglishShare` of them are common English words. Problems that are
 *   almost all formula (fewer words) pass.
 */
import { z } from "zod";
import { englishShare, proseWords, scriptCounts } from "../../language.ts";
import type { DataRow } from "../../row.ts";
import { type Drop, defineStep } from "../step.ts";

export const LanguageParams = z
  .object({
    /** Unicode scripts allowed in the prose (e.g. Latin, Cyrillic, Han). */
    scripts: z.array(z.string().min(1)).min(1).default(["Latin"]),
    minScriptShare: z.number().min(0).max(1).default(0.9),
    /** Also require English prose. */
    english: z.boolean().default(true),
    minEnglishShare: z.number().min(0).max(1).default(0.15),
    /** Problems with fewer prose words skip the English check. */
    minWords: z.number().int().positive().default(8),
  })
  .strict();

export const languageStep = defineStep({
  type: "language",
  summary: "keep problems in the allowed scripts (default Latin) and, optionally, in English",
  params: LanguageParams,
  async run(rows, p) {
    const kept: DataRow[] = [];
    const dropped: Drop[] = [];
    for (const row of rows) {
      const counts = scriptCounts(row.problem);
      const letters = Object.values(counts).reduce((a, b) => a + b, 0);
      const allowed = p.scripts.reduce((sum, s) => sum + (counts[s] ?? 0), 0);
      if (letters > 0 && allowed / letters < p.minScriptShare) {
        const main = Object.entries(counts).sort((a, b) => b[1] - a[1])[0];
        dropped.push({
          row,
          reason: "script",
          detail: `${Math.round((100 * main[1]) / letters)}% ${main[0]}`,
        });
        continue;
      }
      if (p.english && proseWords(row.problem).length >= p.minWords) {
        const share = englishShare(row.problem);
        if (share < p.minEnglishShare) {
          dropped.push({ row, reason: "not-english", detail: `English word share ${share.toFixed(2)}` });
          continue;
        }
      }
      kept.push(row);
    }
    return { kept, dropped };
  },
});
