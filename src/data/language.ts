/**
 * A light language check for problem statements, with no model: which writing
 * systems the prose uses, and whether it reads as English.
 *
 * The prose is the text without its math: $...$, $$...$$, \(...\), \[...\],
 * math environments, [asy] diagrams and LaTeX commands are removed first, so
 * formulas and variable names do not count as words.
 *
 * - script shares: each letter of the prose counted by Unicode script (Latin,
 *   Han, Cyrillic, Greek, Arabic, ...).
 * - English: the share of the prose's words that are common English function
 *   words ("the", "of", "is", "find", ...). English math problems score about
 *   0.3-0.5; other languages written in Latin letters near 0.
 */

/** The problem's prose: its text without math, diagrams and LaTeX commands. */
export function proseOf(text: string): string {
  return text
    .replace(/\[asy\][\s\S]*?\[\/asy\]/g, " ")
    .replace(/\$\$[\s\S]*?\$\$|\$[^$]*\$|\\\([\s\S]*?\\\)|\\\[[\s\S]*?\\\]/g, " ")
    .replace(/\\begin\{(\w+\*?)\}[\s\S]*?\\end\{\1\}/g, " ")
    .replace(/\\[a-zA-Z]+/g, " ");
}

const SCRIPTS = [
  "Latin",
  "Han",
  "Hiragana",
  "Katakana",
  "Hangul",
  "Cyrillic",
  "Greek",
  "Arabic",
  "Hebrew",
  "Devanagari",
  "Thai",
] as const;
const SCRIPT_RES = SCRIPTS.map((s) => [s, new RegExp(`\\p{Script=${s}}`, "u")] as const);

/** Letters of the prose by script (scripts not listed above count as "Other"). */
export function scriptCounts(text: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const ch of proseOf(text).match(/\p{L}/gu) ?? []) {
    const code = ch.charCodeAt(0);
    const ascii = (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
    const script = ascii ? "Latin" : (SCRIPT_RES.find(([, re]) => re.test(ch))?.[0] ?? "Other");
    counts[script] = (counts[script] ?? 0) + 1;
  }
  return counts;
}

const ENGLISH = new Set(
  (
    "the a an of and or is are was were be been to in on for that this these those with as by at from it its " +
    "if what which how many much find let there has have than then each all such can when where who whose " +
    "not no any some one two three first second number numbers value sum product into given will your answer " +
    "express form simplest compute determine suppose positive integer integers real"
  ).split(" "),
);

/** Words of the prose (two or more letters, or "a"). */
export function proseWords(text: string): string[] {
  return (
    proseOf(text)
      .toLowerCase()
      .match(/\p{L}+/gu) ?? []
  ).filter((w) => w.length > 1 || w === "a");
}

/** The share of the prose's words that are common English words (0 without words). */
export function englishShare(text: string): number {
  const words = proseWords(text);
  if (words.length === 0) return 0;
  return words.filter((w) => ENGLISH.has(w)).length / words.length;
}
