/**
 * `dedupe`: drops repeated problems, keeping the first occurrence (in source
 * order, so list the preferred source first).
 *
 * - exact-duplicate: the same problem text in the normal form of math-tokens.ts
 *   (the one decontaminate uses: case, spacing, `$`, Unicode math, \frac and
 *   \dfrac12, presentation-only commands, "3m"/"3 m", thousands separators).
 * - near-duplicate: token n-gram Jaccard similarity >= `threshold` with a kept
 *   problem. Candidates come from MinHash/LSH (minhash.ts), and each candidate's
 *   exact Jaccard similarity decides. With `sameAnswer` (the default), a near
 *   match counts only when the gold answers are also equivalent (by the
 *   verifier, same-answer.ts): "the distance from the origin to (7, -24)" and "... to (-15, 8)" are
 *   different problems of one template, and both are kept.
 *
 * Every dropped row names the kept row it repeats and the similarity.
 */
import { z } from "zod";
import { LshIndex, MinHasher } from "../../minhash.ts";
import type { DataRow } from "../../row.ts";
import { equivalentAnswers } from "../../same-answer.ts";
import { jaccard, ngramHashes, textTokens } from "../../text.ts";
import { type Drop, defineStep } from "../step.ts";

export const DedupeParams = z
  .object({
    /** Drop exact duplicates (normalised text). */
    exact: z.boolean().default(true),
    /** Drop near-duplicates. */
    near: z.boolean().default(true),
    /** Jaccard similarity of token n-grams from which two problems are near-duplicates. */
    threshold: z.number().gt(0).max(1).default(0.8),
    /** Tokens per n-gram. */
    ngram: z.number().int().min(1).max(20).default(3),
    /** Near-duplicates must also have equivalent gold answers (by the verifier). */
    sameAnswer: z.boolean().default(true),
    /** MinHash permutations and LSH bands (permutations / bands values per band). */
    permutations: z.number().int().min(8).max(1024).default(128),
    bands: z.number().int().min(1).default(32),
  })
  .strict()
  .refine((p) => p.permutations % p.bands === 0, { message: "permutations must be a multiple of bands" });
export type DedupeParams = z.output<typeof DedupeParams>;

/** One duplicate found: the dropped row's id, the kept row's id, and their similarity (1 for exact). */
export interface DuplicatePair {
  dropped: string;
  kept: string;
  similarity: number;
  exact: boolean;
}

/**
 * Splits `rows` into kept rows and duplicates of earlier kept rows. Exposed for the
 * benchmark; the step below wraps it.
 */
export function findDuplicates(
  rows: readonly DataRow[],
  p: DedupeParams,
): { kept: DataRow[]; dropped: Drop[]; pairs: DuplicatePair[] } {
  const kept: DataRow[] = [];
  const dropped: Drop[] = [];
  const pairs: DuplicatePair[] = [];
  const byText = new Map<string, DataRow>();
  const hasher = new MinHasher(p.permutations, 1);
  const lsh = new LshIndex(p.bands, p.permutations);
  const keptGrams: Uint32Array[] = [];

  for (const row of rows) {
    const tokens = textTokens(row.problem);
    const key = tokens.join(" ");
    const first = byText.get(key);
    if (p.exact && first) {
      dropped.push({ row, reason: "exact-duplicate", detail: `same text as ${first.id}` });
      pairs.push({ dropped: row.id, kept: first.id, similarity: 1, exact: true });
      continue;
    }
    let grams: Uint32Array | null = null;
    let keys: Int32Array | null = null;
    if (p.near) {
      grams = ngramHashes(tokens, p.ngram);
      keys = lsh.keys(hasher.signature(grams));
      let match: { row: DataRow; similarity: number } | null = null;
      for (const candidate of lsh.candidates(keys)) {
        const other = kept[candidate];
        const similarity = jaccard(grams, keptGrams[candidate]);
        if (similarity < p.threshold || (match && similarity <= match.similarity)) continue;
        if (p.sameAnswer && !equivalentAnswers(other.answer, row.answer)) continue;
        match = { row: other, similarity };
      }
      if (match) {
        const similarity = Math.round(match.similarity * 1000) / 1000;
        dropped.push({ row, reason: "near-duplicate", detail: `of ${match.row.id} (Jaccard ${similarity})` });
        pairs.push({ dropped: row.id, kept: match.row.id, similarity, exact: false });
        continue;
      }
    }
    if (!byText.has(key)) byText.set(key, row);
    if (grams && keys) {
      lsh.add(kept.length, keys);
      keptGrams.push(grams);
    }
    kept.push(row);
  }
  return { kept, dropped, pairs };
}

export const dedupeStep = defineStep({
  type: "dedupe",
  summary: "drop exact duplicates (normalised text) and near-duplicates (n-gram Jaccard, MinHash/LSH)",
  params: DedupeParams,
  async run(rows, p) {
    const { kept, dropped, pairs } = findDuplicates(rows, p);
    return {
      kept,
      dropped,
      details: { pairs },
      notes: [
        `${pairs.filter((x) => x.exact).length} exact and ${pairs.filter((x) => !x.exact).length} near-duplicates ` +
          `(token ${p.ngram}-gram Jaccard >= ${p.threshold}${p.sameAnswer ? ", equivalent answer" : ""}); ` +
          "each dropped row names the kept one in dropped.jsonl.",
      ],
    };
  },
});
