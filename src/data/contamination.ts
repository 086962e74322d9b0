/**
 * Finding training problems that overlap evaluation problems, by word n-grams.
 *
 * Every benchmark problem's n-grams (text.ts) go into one inverted index,
 * n-gram hash -> benchmark problems. A training problem's n-grams are looked up
 * there, and for each benchmark problem sharing some, the overlap is
 *
 *   shared n-grams / n-grams of the shorter of the two texts
 *
 * (the overlap coefficient): 1 when one text contains the other, whatever extra
 * text surrounds it. Each lookup costs one hash-map probe per n-gram, so the
 * index is fast for any number of benchmark problems.
 */
import { ngramHashes, textTokens } from "./text.ts";

/** A problem of an evaluation benchmark. */
export interface BenchmarkProblem {
  /** E.g. "math500-test/algebra/621.json". */
  id: string;
  /** Which benchmark (file name), e.g. "math500". */
  benchmark: string;
  problem: string;
  answer: string;
}

/** One overlap of a problem with a benchmark problem. */
export interface OverlapHit {
  benchmarkId: string;
  benchmark: string;
  /** Shared n-grams over the n-grams of the shorter text, 0-1. */
  overlap: number;
  /** Shared n-grams. */
  shared: number;
  /** The benchmark problem's gold answer. */
  answer: string;
}

/** An inverted index of benchmark problems' word n-grams. */
export class ContaminationIndex {
  private readonly index = new Map<number, number[]>();
  private readonly sizes: number[] = [];

  constructor(
    readonly problems: readonly BenchmarkProblem[],
    readonly ngram: number,
  ) {
    problems.forEach((p, i) => {
      const grams = ngramHashes(textTokens(p.problem), ngram);
      this.sizes.push(grams.length);
      for (const g of grams) {
        const list = this.index.get(g);
        if (list) list.push(i);
        else this.index.set(g, [i]);
      }
    });
  }

  /** The benchmark problems `problem` overlaps by at least `minOverlap`, the largest overlap first. */
  hits(problem: string, minOverlap: number): OverlapHit[] {
    const grams = ngramHashes(textTokens(problem), this.ngram);
    if (grams.length === 0) return [];
    const counts = new Map<number, number>();
    for (const g of grams) {
      const list = this.index.get(g);
      if (list) for (const i of list) counts.set(i, (counts.get(i) ?? 0) + 1);
    }
    const hits: OverlapHit[] = [];
    for (const [i, shared] of counts) {
      const overlap = shared / Math.min(grams.length, this.sizes[i]);
      if (overlap >= minOverlap) {
        const b = this.problems[i];
        hits.push({
          benchmarkId: b.id,
          benchmark: b.benchmark,
          overlap: Math.round(overlap * 1000) / 1000,
          shared,
          answer: b.answer,
        });
      }
    }
    return hits.sort((a, b) => b.overlap - a.overlap || a.benchmarkId.localeCompare(b.benchmarkId));
  }
}
