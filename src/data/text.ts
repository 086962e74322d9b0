/**
 * Problem text as the curation steps compare it: one normal form, its words,
 * and hashed word n-grams.
 *
 *   normalizeText("Find $\\dfrac{1}{2}$ of  10.")  -> "find \\frac{1}{2} of 10."
 *   textTokens(...)                                -> ["find", "\\frac", "1", "2", "of", "10"]
 *   exactKey(...)                                  -> "find \\frac 1 2 of 10"
 *
 * Tokens are runs of letters or digits and LaTeX command names; punctuation,
 * braces, dollar signs and spacing commands are ignored, so "$x^2$" and "\(x^2\)"
 * read alike. N-grams are hashed to 30-bit integers (FNV-1a per token, then a
 * multiplicative mix per position; 30 bits keep them small integers for V8's
 * maps): two different n-grams share a hash with a probability of about 2^-30,
 * far too rarely to move a Jaccard score.
 */

/** Spacing and sizing commands that do not change what a problem says. */
const SPACING = /\\(?:left|right|big|Big|bigg|Bigg|displaystyle|textstyle|quad|qquad)(?![a-zA-Z])|\\[,;:! ]/g;

/**
 * Lower-cased NFKC text with LaTeX variants unified (\dfrac and \tfrac -> \frac,
 * \le -> \leq, ...), spacing commands and `$` removed, whitespace collapsed.
 */
export function normalizeText(text: string): string {
  return text
    .normalize("NFKC")
    .replace(SPACING, " ")
    .replace(/\\[dt]frac(?![a-zA-Z])/g, "\\frac")
    .replace(/\\(le|ge)(?![a-zA-Z])/g, "\\$1q")
    .replace(/\\(?:text|textbf|textrm|mathrm|mbox|operatorname)\s*\{([^{}]*)\}/g, "$1")
    .replace(/[$]/g, " ")
    .toLowerCase()
    .replace(/\s+/g, " ")
    .trim();
}

const TOKEN = /\\[a-z]+|[\p{L}\p{N}]+/gu;

/** The tokens of `text` after normalisation: words, numbers and LaTeX command names. */
export function textTokens(text: string): string[] {
  return normalizeText(text).match(TOKEN) ?? [];
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
  if (tokens.length === 0) return new Uint32Array(0);
  const tokenHashes = tokens.map(hashString);
  const count = Math.max(1, tokens.length - n + 1);
  const width = Math.min(n, tokens.length);
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
