/**
 * Finding training problems that overlap evaluation problems, in the normal
 * form of math-tokens.ts (so respellings of a problem still overlap).
 *
 * Two inverted indexes of the benchmark problems, n-gram hash -> problems:
 *
 * - strict, by `ngram`-token n-grams (8): the overlap of a text with a
 *   benchmark problem is shared n-grams / n-grams of the shorter of the two
 *   (the overlap coefficient): 1 when one text contains the other, whatever
 *   extra text surrounds it (a preamble, answer choices). A benchmark problem
 *   shorter than `ngram` tokens has no n-gram of that size: it overlaps (1)
 *   the texts that contain its token sequence.
 * - loose, by `looseNgram`-token n-grams (3), for paraphrases: rewording one
 *   clause removes most 8-grams but few 3-grams.
 * - by rare numbers (those in at most RARE_NUMBER_PROBLEMS problems), for
 *   rewrites too thorough for 3-grams, short ones above all ("Find the number of
 *   positive divisors of 196." for "How many positive whole-number divisors does
 *   196 have?"): a problem with exactly the same numbers whose other words
 *   overlap by `minWordOverlap` or more, each word weighted by its rarity among
 *   the benchmark problems (inverse document frequency), is a loose match too.
 *
 * Each lookup costs one hash-map probe per n-gram, so both are fast for any
 * number of benchmark problems. Deciding what a match means (the same problem,
 * a paraphrase, a look-alike) needs the answers too: decontaminate.ts.
 */
import { hashString, ngramHashes, ngramHashesOf, textTokens } from "./text.ts";

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
  /** Shared strict n-grams over the strict n-grams of the shorter text, 0-1. */
  overlap: number;
  /** Shared strict n-grams. */
  shared: number;
  /** Shared loose n-grams over the loose n-grams of the shorter text, 0-1. */
  looseOverlap: number;
  /** Shared loose n-grams (boilerplate aside). */
  looseShared: number;
  /** Shared words (numbers aside) over those of the shorter text, each weighted by its rarity, 0-1 (0 when not computed). */
  wordOverlap: number;
  /** How many different numbers the benchmark problem has. */
  benchmarkNumbers: number;
  /** The text and the benchmark problem have the same numbers (as sets). */
  sameNumbers: boolean;
  /** The text holds the benchmark problem's whole token sequence (a copy, maybe with text around it). */
  contains: boolean;
  /** The benchmark problem's gold answer. */
  answer: string;
  /** Its position in the index's problems. */
  index: number;
}

/** Sizes of the n-grams of the two indexes. */
export interface ContaminationIndexOptions {
  /** Tokens per strict n-gram (open-r1 and the default: 8). */
  ngram: number;
  /** Tokens per loose n-gram, for paraphrase candidates (default 3). */
  looseNgram?: number;
  /** Loose n-grams found in more benchmark problems than this are boilerplate, not evidence (default 10). */
  commonGramProblems?: number;
  /** Rarity-weighted word overlap that makes a problem with the same rare numbers a loose match (default 0.6). */
  minWordOverlap?: number;
}

/** A number in at most this many benchmark problems finds rewrites of them (1 or 2 appear in most). */
const RARE_NUMBER_PROBLEMS = 50;

/** Loose matches need this many shared loose n-grams besides the share (a short text has few). */
const MIN_LOOSE_SHARED = 3;

const isNumber = (token: string) => token.charCodeAt(0) >= 48 && token.charCodeAt(0) <= 57;

/**
 * An inverted index of n-grams: hash -> the items that have it. With `maxItems`, n-grams
 * that more items have (boilerplate such as "express your answer as a common fraction")
 * are left out, from the items' sizes too, and count for nothing in a lookup.
 */
class GramIndex {
  private readonly lists = new Map<number, number[]>();
  readonly sizes: number[] = [];

  constructor(
    perItem: readonly Uint32Array[],
    private readonly maxItems = Number.POSITIVE_INFINITY,
  ) {
    perItem.forEach((grams, item) => {
      for (const g of grams) {
        const list = this.lists.get(g);
        if (list) list.push(item);
        else this.lists.set(g, [item]);
      }
    });
    for (const [g, list] of this.lists) if (list.length > maxItems) this.lists.set(g, []);
    perItem.forEach((grams, item) => {
      this.sizes[item] = grams.filter((g) => this.lists.get(g)?.length !== 0).length;
    });
  }

  /** How many of `grams` count (all but the common ones). */
  counted(grams: Uint32Array): number {
    if (this.maxItems === Number.POSITIVE_INFINITY) return grams.length;
    let n = 0;
    for (const g of grams) if (this.lists.get(g)?.length !== 0) n++;
    return n;
  }

  /** Shared n-gram counts per item, for the items sharing at least one (counts: a reused scratch array). */
  count(grams: Uint32Array, counts: Int32Array, touched: number[]): void {
    for (const g of grams) {
      const list = this.lists.get(g);
      if (!list) continue;
      for (const item of list) {
        if (counts[item] === 0) touched.push(item);
        counts[item]++;
      }
    }
  }
}

/** The benchmark problems, indexed by strict and loose n-grams and (short ones) by their whole text. */
export class ContaminationIndex {
  readonly ngram: number;
  readonly looseNgram: number;
  private readonly strict: GramIndex;
  private readonly loose: GramIndex;
  /** Problems shorter than `ngram` tokens: token count -> hash of the token sequence -> problems. */
  private readonly short = new Map<number, Map<number, number[]>>();
  /** Each problem's numbers, and its tokens joined (with a space before and after). */
  private readonly numbers: string[][] = [];
  private readonly keys: string[] = [];
  private readonly strictCounts: Int32Array;
  private readonly looseCounts: Int32Array;
  /** Rare number -> the problems that have it. */
  private readonly byRareNumber = new Map<string, number[]>();
  /** Each word's weight, log(problems / problems with it); each problem's words (not numbers) and their weights' sum. */
  private readonly wordWeight = new Map<string, number>();
  private readonly words: Set<string>[] = [];
  private readonly wordMass: number[] = [];
  private readonly minWordOverlap: number;

  constructor(
    readonly problems: readonly BenchmarkProblem[],
    options: ContaminationIndexOptions | number,
  ) {
    const o = typeof options === "number" ? { ngram: options } : options;
    this.ngram = o.ngram;
    this.looseNgram = o.looseNgram ?? 3;
    const strictGrams: Uint32Array[] = [];
    const looseGrams: Uint32Array[] = [];
    problems.forEach((p, i) => {
      const tokens = textTokens(p.problem);
      this.numbers.push([...new Set(tokens.filter(isNumber))]);
      this.keys.push(` ${tokens.join(" ")} `);
      if (tokens.length < this.ngram && tokens.length > 0) {
        const byHash = this.short.get(tokens.length) ?? new Map<number, number[]>();
        this.short.set(tokens.length, byHash);
        const h = sequenceHash(tokens, 0, tokens.length);
        byHash.set(h, [...(byHash.get(h) ?? []), i]);
      }
      strictGrams.push(ngramHashes(tokens, this.ngram));
      looseGrams.push(ngramHashes(tokens, this.looseNgram));
    });
    this.strict = new GramIndex(strictGrams);
    this.loose = new GramIndex(looseGrams, o.commonGramProblems ?? 10);
    this.strictCounts = new Int32Array(problems.length);
    this.looseCounts = new Int32Array(problems.length);
    this.minWordOverlap = o.minWordOverlap ?? 0.6;
    this.indexWords();
  }

  /** Word weights, each problem's words, and the problems of each rare number. */
  private indexWords(): void {
    const problemsWith = new Map<string, number>();
    for (const key of this.keys) {
      const words = new Set(
        key
          .trim()
          .split(" ")
          .filter((t) => !isNumber(t)),
      );
      this.words.push(words);
      for (const w of words) problemsWith.set(w, (problemsWith.get(w) ?? 0) + 1);
    }
    const n = this.keys.length;
    for (const [w, k] of problemsWith) this.wordWeight.set(w, Math.log((n + 1) / k));
    for (const words of this.words) this.wordMass.push(this.mass(words));
    const withNumber = new Map<string, number[]>();
    this.numbers.forEach((nums, i) => {
      for (const num of nums) withNumber.set(num, [...(withNumber.get(num) ?? []), i]);
    });
    for (const [num, list] of withNumber)
      if (list.length <= RARE_NUMBER_PROBLEMS) this.byRareNumber.set(num, list);
  }

  /** The summed weights of `words` (a word no benchmark problem has weighs as the rarest). */
  private mass(words: Iterable<string>): number {
    const unseen = Math.log(this.keys.length + 1);
    let m = 0;
    for (const w of words) m += this.wordWeight.get(w) ?? unseen;
    return m;
  }

  /** Shared words of `words` and problem `i`, weighted, over the lighter of the two. */
  private wordOverlapWith(words: ReadonlySet<string>, mass: number, i: number): number {
    let shared = 0;
    for (const w of words) if (this.words[i].has(w)) shared += this.wordWeight.get(w) ?? 0;
    return shared / Math.max(1e-9, Math.min(mass, this.wordMass[i]));
  }

  /**
   * The benchmark problems that `problem` overlaps by at least `minOverlap` (strict n-grams),
   * or by at least `minLooseOverlap` with MIN_LOOSE_SHARED loose n-grams or more (loose
   * n-grams; above 1, the default, leaves loose matches out), the largest overlap first.
   */
  hits(problem: string, minOverlap: number, minLooseOverlap = 1.01): OverlapHit[] {
    const tokens = textTokens(problem);
    if (tokens.length === 0) return [];
    const hashes = tokens.map(hashString);
    const grams = ngramHashesOf(hashes, this.ngram);
    const touched: number[] = [];
    this.strict.count(grams, this.strictCounts, touched);
    const contained = this.containedShort(hashes);
    for (const i of contained) if (this.strictCounts[i] === 0) touched.push(i);
    let looseGrams: Uint32Array | null = null;
    const looseTouched: number[] = [];
    if (minLooseOverlap <= 1) {
      looseGrams = ngramHashesOf(hashes, this.looseNgram);
      this.loose.count(looseGrams, this.looseCounts, looseTouched);
    }
    const looseCounted = looseGrams && looseTouched.length > 0 ? this.loose.counted(looseGrams) : 0;

    let numbers: Set<string> | null = null;
    // Rewrites by rare numbers: the problems with exactly this text's numbers, by word overlap.
    const byWords = new Map<number, number>();
    if (minLooseOverlap <= 1) {
      numbers = new Set(tokens.filter(isNumber));
      const words = new Set(tokens.filter((t) => !isNumber(t)));
      const mass = this.mass(words);
      for (const num of numbers)
        for (const i of this.byRareNumber.get(num) ?? []) {
          if (byWords.has(i) || !sameSet(this.numbers[i], numbers)) continue;
          const w = this.wordOverlapWith(words, mass, i);
          byWords.set(i, w);
          if (w >= this.minWordOverlap && this.looseCounts[i] === 0 && this.strictCounts[i] === 0)
            looseTouched.push(i);
        }
    }
    let key: string | null = null;
    const hits: OverlapHit[] = [];
    const seen = new Set<number>();
    for (const list of [touched, looseTouched])
      for (const i of list) {
        if (seen.has(i)) continue;
        seen.add(i);
        const shared = this.strictCounts[i];
        const overlap = contained.has(i)
          ? 1
          : shared / Math.max(1, Math.min(grams.length, this.strict.sizes[i]));
        const looseShared = this.looseCounts[i];
        const looseOverlap = looseShared / Math.max(1, Math.min(looseCounted, this.loose.sizes[i]));
        const wordOverlap = byWords.get(i) ?? 0;
        const loose =
          (looseOverlap >= minLooseOverlap && looseShared >= MIN_LOOSE_SHARED) ||
          wordOverlap >= this.minWordOverlap;
        if (overlap < minOverlap && !loose) continue;
        numbers ??= new Set(tokens.filter(isNumber));
        if (overlap === 1) key ??= ` ${tokens.join(" ")} `;
        const b = this.problems[i];
        hits.push({
          benchmarkId: b.id,
          benchmark: b.benchmark,
          overlap: round3(overlap),
          shared,
          looseOverlap: round3(looseOverlap),
          looseShared,
          wordOverlap: round3(wordOverlap),
          contains: contained.has(i) || (key !== null && overlap === 1 && key.includes(this.keys[i])),
          benchmarkNumbers: this.numbers[i].length,
          sameNumbers: sameSet(this.numbers[i], numbers),
          answer: b.answer,
          index: i,
        });
      }
    for (const i of touched) this.strictCounts[i] = 0;
    for (const i of looseTouched) this.looseCounts[i] = 0;
    return hits.sort(
      (a, b) =>
        b.overlap - a.overlap ||
        b.looseOverlap - a.looseOverlap ||
        a.benchmarkId.localeCompare(b.benchmarkId),
    );
  }

  /** The short benchmark problems whose whole token sequence appears in the text (by its tokens' hashes). */
  private containedShort(hashes: readonly number[]): Set<number> {
    const found = new Set<number>();
    for (const [length, byHash] of this.short)
      for (let start = 0; start + length <= hashes.length; start++) {
        const list = byHash.get(sequenceHashOf(hashes, start, length));
        if (list) for (const i of list) found.add(i);
      }
    return found;
  }
}

const sameSet = (a: readonly string[], b: ReadonlySet<string>) =>
  a.length === b.size && a.every((x) => b.has(x));

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** A hash of `length` tokens from `start` (the same as sequenceHashOf over their string hashes). */
function sequenceHash(tokens: readonly string[], start: number, length: number): number {
  return sequenceHashOf(tokens.map(hashString), start, length);
}

function sequenceHashOf(hashes: readonly number[], start: number, length: number): number {
  let h = 0x2545f491;
  for (let k = 0; k < length; k++) h = Math.imul(h ^ hashes[start + k], 0x9e3779b1) + k;
  return h >>> 0;
}
