/**
 * MinHash signatures and locality-sensitive hashing (LSH) over sets of hashed
 * n-grams, to find near-duplicate texts without comparing every pair.
 *
 * A signature holds, for each of `permutations` hash functions, the smallest
 * hash of the set; two sets agree at one position with probability equal to
 * their Jaccard similarity J. The signature is cut into `bands` bands of
 * r = permutations / bands values; sets that agree on a whole band become
 * candidates, which happens for at least one band with probability
 * 1 - (1 - J^r)^bands. With 128 permutations in 32 bands of 4 that is 0.98 at
 * J = 0.6 and above 0.9998 at J = 0.8: candidates are then checked with their
 * exact Jaccard similarity, so LSH only decides which pairs are looked at.
 */
import { mix32, seededRandom } from "../model/random.ts";

/** Computes MinHash signatures with `permutations` seeded hash functions. */
export class MinHasher {
  private readonly seeds: Uint32Array;

  constructor(
    readonly permutations = 128,
    seed = 1,
  ) {
    const random = seededRandom(seed);
    this.seeds = Uint32Array.from({ length: permutations }, () => Math.floor(random() * 2 ** 32));
  }

  /** The signature of a set of hashed n-grams (all 0xffffffff for an empty set). */
  signature(grams: Uint32Array): Uint32Array {
    const k = this.permutations;
    const sig = new Uint32Array(k).fill(0xffffffff);
    const seeds = this.seeds;
    for (let g = 0; g < grams.length; g++) {
      const x = grams[g];
      for (let i = 0; i < k; i++) {
        const v = mix32(x ^ seeds[i]);
        if (v < sig[i]) sig[i] = v;
      }
    }
    return sig;
  }
}

/**
 * An LSH index of signatures: `keys` cuts a signature into its band keys,
 * `add` files an item under them, and `candidates` returns the items sharing at
 * least one band key.
 */
export class LshIndex {
  private readonly tables: Map<number, number[]>[];
  private readonly rows: number;

  constructor(
    readonly bands: number,
    permutations: number,
  ) {
    if (bands < 1 || permutations % bands !== 0)
      throw new Error(`LSH: ${permutations} permutations cannot be cut into ${bands} equal bands`);
    this.rows = permutations / bands;
    this.tables = Array.from({ length: bands }, () => new Map());
  }

  /** One key per band: a 30-bit hash of the band's values (small integers are V8's fastest map keys). */
  keys(sig: Uint32Array): Int32Array {
    const keys = new Int32Array(this.bands);
    for (let b = 0; b < this.bands; b++) {
      let h = 0x811c9dc5 ^ b;
      const start = b * this.rows;
      for (let i = start; i < start + this.rows; i++) h = Math.imul(h ^ sig[i], 0x01000193);
      keys[b] = h & 0x3fffffff;
    }
    return keys;
  }

  /** Files item `id` under its band keys. */
  add(id: number, keys: Int32Array): void {
    for (let b = 0; b < this.bands; b++) {
      const bucket = this.tables[b].get(keys[b]);
      if (bucket) bucket.push(id);
      else this.tables[b].set(keys[b], [id]);
    }
  }

  /** The items filed under at least one of these band keys, each once, in ascending order. */
  candidates(keys: Int32Array): number[] {
    let found: Set<number> | null = null;
    for (let b = 0; b < this.bands; b++) {
      const bucket = this.tables[b].get(keys[b]);
      if (bucket) {
        found ??= new Set();
        for (const id of bucket) found.add(id);
      }
    }
    return found ? [...found].sort((x, y) => x - y) : [];
  }
}
