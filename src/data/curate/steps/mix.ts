/**
 * `mix`: draws a fixed number, or a share, of rows from named pools with a
 * seed, e.g. open-rs's 3,000 open-s1 + 3,000 hard + 1,000 easy:
 *
 *   - step: mix
 *     pools:
 *       - { name: s1, where: { source: open-s1 }, count: 3000 }
 *       - { name: hard, where: { source: open-deepscaler }, count: 3000 }
 *       - { name: easy, where: { source: deepscaler-raw }, count: 1000 }
 *
 * Each row belongs to the first pool whose `where` it matches (where.ts); rows
 * in no pool are dropped (in-no-pool). A pool with `count` draws that many rows,
 * with `fraction` that share of its rows (rounded), with neither all of them;
 * the draw is a seeded shuffle of the pool, so the same seed and input give the
 * same rows. Rows not drawn are dropped (not-drawn). A pool smaller than its
 * count is an error unless `onShort: take-all`. Drawn rows get the label
 * `pool`, and keep their input order unless `shuffle` is set.
 */
import { z } from "zod";
import { seededRandom } from "../../../model/random.ts";
import type { DataRow } from "../../row.ts";
import { hashString } from "../../text.ts";
import { type Drop, defineStep } from "../step.ts";
import { describeWhere, matchesWhere, Where } from "../where.ts";

const Pool = z
  .object({
    name: z.string().min(1),
    where: Where.optional(),
    count: z.number().int().nonnegative().optional(),
    fraction: z.number().gt(0).max(1).optional(),
  })
  .strict()
  .refine((p) => p.count === undefined || p.fraction === undefined, {
    message: "give count or fraction, not both",
  });

export const MixParams = z
  .object({
    pools: z.array(Pool).min(1),
    /** Seed of the draws (default: the recipe's seed). */
    seed: z.number().int().optional(),
    /** A pool with fewer rows than its count: "error" stops the run, "take-all" takes what there is. */
    onShort: z.enum(["error", "take-all"]).default("error"),
    /** Shuffle the output (default: input order). */
    shuffle: z.boolean().default(false),
  })
  .strict()
  .refine((p) => new Set(p.pools.map((x) => x.name)).size === p.pools.length, {
    message: "pool names must differ",
  });

/** Fisher-Yates shuffle of a copy of `items` with a seeded generator. */
export function seededShuffle<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  const random = seededRandom(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

export const mixStep = defineStep({
  type: "mix",
  summary: "draw fixed counts or shares of rows from named pools with a seed",
  params: MixParams,
  async run(rows, p, ctx) {
    const seed = p.seed ?? ctx.seed;
    const members = p.pools.map(() => [] as DataRow[]);
    const dropped: Drop[] = [];
    for (const row of rows) {
      const i = p.pools.findIndex((pool) => matchesWhere(row, pool.where));
      if (i < 0) dropped.push({ row, reason: "in-no-pool" });
      else members[i].push(row);
    }
    const drawn = new Set<DataRow>();
    const notes: string[] = ["| pool | selects | rows | drawn |", "| --- | --- | ---: | ---: |"];
    const summary: { pool: string; rows: number; drawn: number }[] = [];
    p.pools.forEach((pool, i) => {
      const available = members[i];
      let n =
        pool.count ??
        (pool.fraction !== undefined ? Math.round(pool.fraction * available.length) : available.length);
      if (n > available.length) {
        if (p.onShort === "error")
          throw new Error(
            `mix: pool "${pool.name}" has ${available.length} rows, fewer than its count ${n} ` +
              "(lower the count, or set onShort: take-all)",
          );
        ctx.log(`mix: pool "${pool.name}" has only ${available.length} of ${n} rows; taking all`);
        n = available.length;
      }
      const chosen = seededShuffle(available, (seed ^ hashString(pool.name)) >>> 0).slice(0, n);
      for (const row of chosen) {
        row.labels.pool = pool.name;
        drawn.add(row);
      }
      for (const row of available)
        if (!drawn.has(row)) dropped.push({ row, reason: "not-drawn", detail: pool.name });
      notes.push(`| ${pool.name} | ${describeWhere(pool.where)} | ${available.length} | ${n} |`);
      summary.push({ pool: pool.name, rows: available.length, drawn: n });
    });
    const inOrder = rows.filter((r) => drawn.has(r));
    return {
      kept: p.shuffle ? seededShuffle(inOrder, seed >>> 0) : inOrder,
      dropped,
      details: { seed, pools: summary },
      notes,
    };
  },
});
