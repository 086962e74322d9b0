/**
 * Problem text as the curation steps compare it: its tokens in one normal form
 * (math-tokens.ts), the key of exact deduplication, and hashed token n-grams.
 *
 *   textTokens("Find $\\dfrac{1}{2}$ of  10.")  -> ["find", "1", "2", "of", "10"]
 *   exactKey("Find 1/2 of 10")                -> "find 1 2 of 10"
 *
 * N-grams are hashed to 30-bit integers (FNV-1a per token, then a
 * multiplicative mix per position; 30 bits keep them small integers for V8's
 * maps): two different n-grams share a hash with a probability of about 2^-30,
 * far too rarely to move a Jaccard score.
 */
import { mathTokens } from "./math-tokens.ts";

/** The tokens of `text` in the normal form of math-tokens.ts: words, numbers, LaTeX commands, relations. */
export function textTokens(text: string): string[] {
  return mathTokens(text);
}

/** The key of exact deduplication: the tokens joined by single spaces. */
export function exactKey(text: string): string {
  return textTokens(text).join(" ");
}

/** 32-bit FNV-1a of a string. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The distinct hashed word n-grams (30-bit) of `tokens`, sorted ascending. A text of fewer
 * than `n` tokens (but at least one) yields a single gram of all of them, so short
 * problems still compare.
 */
export function ngramHashes(tokens: readonly string[], n: number): Uint32Array {
  return ngramHashesOf(tokens.map(hashString), n);
}

/** ngramHashes from the tokens' hashString values (for callers that need them more than once). */
export function ngramHashesOf(tokenHashes: readonly number[], n: number): Uint32Array {
  if (tokenHashes.length === 0) return new Uint32Array(0);
  const count = Math.max(1, tokenHashes.length - n + 1);
  const width = Math.min(n, tokenHashes.length);
  const out = new Uint32Array(count);
  for (let start = 0; start < count; start++) {
    let h = 0x9e3779b9;
    for (let k = 0; k < width; k++) h = Math.imul(h ^ tokenHashes[start + k], 0x85ebca6b) + k;
    out[start] = h & 0x3fffffff;
  }
  out.sort();
  return dedupeSorted(out);
}

function dedupeSorted(a: Uint32Array): Uint32Array {
  if (a.length < 2) return a;
  let w = 1;
  for (let r = 1; r < a.length; r++) if (a[r] !== a[w - 1]) a[w++] = a[r];
  return a.subarray(0, w);
}

/** How many values two ascending arrays of distinct values share. */
export function sharedCount(a: Uint32Array, b: Uint32Array): number {
  let i = 0;
  let j = 0;
  let shared = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      shared++;
      i++;
      j++;
    } else if (a[i] < b[j]) i++;
    else j++;
  }
  return shared;
}

/** Jaccard similarity |A ∩ B| / |A ∪ B| of two ascending arrays of distinct values (0 when both are empty). */
export function jaccard(a: Uint32Array, b: Uint32Array): number {
  const shared = sharedCount(a, b);
  const union = a.length + b.length - shared;
  return union === 0 ? 0 : shared / union;
}
