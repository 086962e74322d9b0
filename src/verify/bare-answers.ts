/**
 * Answers written without LaTeX delimiters or boxes that are more than one
 * number: "(1, 2, 3)", "[1, 2, 3]", "{1, 2}", "(0, 1]", "x = y", a bare
 * \begin{pmatrix}. Math-Verify reads such text as its last number; reasonrl
 * reads it whole first. This file finds the text to read and makes the
 * extraction candidates of it (`bareProducers`, used by extract.ts):
 *   - the whole text, when it reads as math (no words),
 *   - after an answer anchor: a bracketed group with a comma, or a math tail
 *     up to the end of the sentence ("The answer is y = 2x + 1."),
 *   - anywhere in prose: a bracketed group with a comma ("the pair is (3, 4)"),
 *     and math that ends a sentence ("... the line is y = 3x - 2.").
 */
import { type Candidate, latexPieces, once, type Producer } from "./candidates.ts";
import type { ExtractionConfig } from "./config.ts";
import { answerAnchor, UNSPACED_SCRIPT } from "./languages.ts";

/** A piece of text to read as one answer. */
export interface BareSpan {
  start: number;
  end: number;
  text: string;
}

/** Words of two or more letters that math may contain. */
const MATH_WORDS = new Set(
  "and or sin cos tan cot sec csc arcsin arccos arctan sinh cosh tanh log ln lg exp sqrt pi inf infty max min gcd lcm det mod".split(
    " ",
  ),
);
const TEXT_GROUP = /\\(?:text|textbf|textrm|mathrm|mbox|operatorname|begin|end)\s*\{[^{}]*\}/g;
/** Letters of scripts other than basic Latin and Greek (accented Latin, Cyrillic, Hebrew, Arabic, Devanagari, CJK): words, not math. */
export const LETTERS_OF_PROSE = new RegExp(
  `[\\u00c0-\\u024f\\u0400-\\u04ff\\u0590-\\u06ff\\u0900-\\u097f${UNSPACED_SCRIPT}]`,
);

/**
 * Whether `s` reads as math rather than prose: every word of two or more letters
 * is a LaTeX command, inside \text{...}, a function name (sin, log, ...), "and",
 * "or", or a name of points in capitals (AB, ABC); no letters of other scripts.
 */
export function looksLikeMath(s: string): boolean {
  const stripped = s.replace(TEXT_GROUP, " ").replace(/\\[a-zA-Z]+/g, " ");
  if (LETTERS_OF_PROSE.test(stripped)) return false;
  for (const w of stripped.match(/[A-Za-z]{2,}/g) ?? []) {
    if (!MATH_WORDS.has(w.toLowerCase()) && !/^[A-Z]{2,3}$/.test(w)) return false;
  }
  return /[\dA-Za-z\\]/.test(s);
}

/** A single plain number: "12", "-3.5", "1,000", "3,5" (decimal comma), with currency or percent. */
export function isPlainNumber(s: string): boolean {
  return /^-?[$€£¥]?\s*(?:\d{1,3}(?:[ ,]\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?|\.\d+)\s*(?:%|[$€£¥])?$/.test(
    s.trim(),
  );
}

/** Math delimiters: $, \( and \[ (unescaped). */
export function hasMathDelimiters(s: string): boolean {
  return /(?<!\\)\$|\\\(|\\\[/.test(s);
}

/** Characters that make a text more than a number or a word: brackets, relations, separators, commands. */
const STRUCTURE = /[()[\]{}=<>,;\\|&^_]|≤|≥|≠|≈/;
const OPERATION = /[\w)}]\s*[-+*/]\s*[\w(\\]/;

/**
 * Whether `s` has structure beyond a number with a unit: a bracket, relation, separator
 * (not a comma between digits: "1,000", "3,5"), LaTeX command or operation between operands.
 * "5m" and "12 cm" have none (they are read as numbers, as Math-Verify does); "2x + 1" has.
 */
export function hasStructure(s: string): boolean {
  const t = s.replace(/(\d),(?=\d)/g, "$1");
  return STRUCTURE.test(t) || OPERATION.test(t) || /^\s*\+/.test(t);
}

/**
 * Read whole: text with structure, symbols without digits ("x", "e") or a number in
 * scientific notation ("6.02e23"); "5m" is left to the numbers.
 */
function readWhole(s: string): boolean {
  return hasStructure(s) || !/\d/.test(s) || /^-?\d+(?:\.\d+)?[eE][-+]?\d+$/.test(s.trim());
}

/** The whole text when it reads as math and is not a plain number or a number with a unit. */
export function wholeAsMath(text: string): BareSpan | null {
  const t = text.trim().replace(/[.。]$/, "");
  if (t.length === 0 || t.length > 400 || hasMathDelimiters(t) || isPlainNumber(t)) return null;
  if (!looksLikeMath(t) || !readWhole(t)) return null;
  const start = text.indexOf(t);
  return { start, end: start + t.length, text: t };
}

const OPENERS = /\\\{|[([{]/y;
const CLOSERS = /\\\}|[)\]}]/y;

/**
 * The balanced group opening at `i` ("(", "[", "{" or "\{"; an interval may close
 * with the other bracket: "(0, 1]"), on one line and at most 300 characters, when it
 * holds a comma or semicolon at its top level; otherwise null.
 */
function groupAt(text: string, i: number): BareSpan | null {
  let depth = 0;
  let separated = false;
  for (let j = i; j < text.length && j < i + 300; ) {
    const c = text[j];
    if (c === "\n") return null;
    OPENERS.lastIndex = j;
    const open = OPENERS.exec(text);
    if (open) {
      depth++;
      j += open[0].length;
      continue;
    }
    CLOSERS.lastIndex = j;
    const close = CLOSERS.exec(text);
    if (close) {
      depth--;
      j += close[0].length;
      if (depth === 0) return separated ? { start: i, end: j, text: text.slice(i, j) } : null;
      continue;
    }
    if (depth === 1 && (c === "," || c === ";")) separated = true;
    j += c === "\\" ? 2 : 1;
  }
  return null;
}

/** `text` with [asy]...[/asy] figure code blanked out (same length): coordinates are not answers. */
function withoutAsymptote(text: string): string {
  if (!text.includes("[asy]")) return text;
  return text.replace(/\[asy\][\s\S]*?(?:\[\/asy\]|$)/g, (m) => " ".repeat(m.length));
}

const GROUP_BEFORE = new RegExp(`[\\s:=${UNSPACED_SCRIPT}]`);

/**
 * Bracketed groups with a comma that read as math, left to right, each at the start
 * of the text or after a space, ":", "=" or a character of a script without spaces.
 */
export function bracketGroups(full: string): BareSpan[] {
  const text = withoutAsymptote(full);
  const out: BareSpan[] = [];
  if (!text.includes(",") && !text.includes(";")) return out;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== "(" && c !== "[" && c !== "{" && !(c === "\\" && text[i + 1] === "{")) continue;
    // a group after a name or inside another is an argument (f(1, 2), draw((0,0)--(1,1))), not an answer
    if (i > 0 && !GROUP_BEFORE.test(text[i - 1])) continue;
    const g = groupAt(text, i);
    if (g && looksLikeMath(g.text)) {
      out.push(g);
      i = g.end - 1;
    }
  }
  return out;
}

/** Words between an answer anchor and the answer: "is", ":", "=", and their translations. */
const CONNECTOR = /^(?:\s|\*\*|:|=|\b(?:is|are|was|equals|est|ist|lautet|es)\b|è|é|是|为|為|は|이|은|는)*/i;

/**
 * What follows an answer anchor ending at `from`, read whole: a bracketed group
 * with a comma when nothing numeric comes before it (within 50 characters), else
 * the text right after the connecting words up to the end of the sentence when it
 * reads as math and is not a plain number or a number with a unit ("y = 2x + 1",
 * "1, 2, 3", "x"; not "5m"). Null when neither.
 */
export function afterAnchor(text: string, from: number): BareSpan | null {
  const window = text.slice(from, from + 50);
  const open = window.search(/\\\{|[([{]/);
  if (open >= 0 && !/[\d$]/.test(window.slice(0, open))) {
    const g = groupAt(text, from + open);
    if (g && looksLikeMath(g.text)) return g;
  }
  const lead = CONNECTOR.exec(text.slice(from, from + 40))?.[0].length ?? 0;
  const start = from + lead;
  const rest = text.slice(start, start + 200);
  const stop = rest.search(/\n|[.!?](?=\s|$)/);
  // "1/2, or 50%" restates one answer: ", or" ends it ("x = 2 or x = 3" is two roots)
  const tail = (stop < 0 ? rest : rest.slice(0, stop)).split(/,\s+or\s+/i)[0].trimEnd();
  if (tail.length === 0 || hasMathDelimiters(tail) || isPlainNumber(tail)) return null;
  if (!looksLikeMath(tail) || !readWhole(tail)) return null;
  return { start, end: start + tail.length, text: tail };
}

/** Whether a whitespace-separated token holds a word that is not math ("get", "so", "因此"). */
function isProseWord(token: string): boolean {
  const stripped = token.replace(TEXT_GROUP, " ").replace(/\\[a-zA-Z]+/g, " ");
  if (LETTERS_OF_PROSE.test(stripped)) return true;
  return (stripped.match(/[A-Za-z]{2,}/g) ?? []).some(
    (w) => !MATH_WORDS.has(w.toLowerCase()) && !/^[A-Z]{2,3}$/.test(w),
  );
}

/**
 * Math that ends a sentence of prose, in the last 400 characters of `text`: the
 * longest run of tokens without a word (nor ", or": "1/2, or 50%" restates one answer)
 * before the end of each sentence, when it has structure ("So we get y = 3x - 2.", "the roots are 1, 2, 3"). These compete with
 * the numbers there by position, so only math that ends the text wins.
 */
export function sentenceTails(full: string): BareSpan[] {
  const text = withoutAsymptote(full);
  const from = Math.max(0, text.length - 400);
  const out: BareSpan[] = [];
  for (const m of text.slice(from).matchAll(/[^\n.!?]*(?:[.!?](?!\s|$)[^\n.!?]*)*/g)) {
    const sentence = m[0];
    if (sentence.trim().length === 0) continue;
    const tokens = [...sentence.matchAll(/\S+/g)];
    let k = tokens.length;
    const restates = (j: number) => /^or$/i.test(tokens[j][0]) && j > 0 && tokens[j - 1][0].endsWith(",");
    while (k > 0 && !isProseWord(tokens[k - 1][0]) && !restates(k - 1)) k--;
    if (k === tokens.length || k === 0) continue; // no math at the end, or no prose at all (wholeAsMath)
    const first = tokens[k];
    const lead = /^[,:;]*/.exec(first[0])?.[0].length ?? 0;
    const start = from + (m.index ?? 0) + (first.index ?? 0) + lead;
    const end = from + (m.index ?? 0) + sentence.trimEnd().length;
    const math = text.slice(start, end);
    // "(C)" after "option" is a choice, not math: a tail needs a digit, relation, operation or comma
    if (math.length === 0 || hasMathDelimiters(math) || isPlainNumber(math) || !/[\d=<>+\-^\\,]/.test(math))
      continue;
    if (hasStructure(math)) out.push({ start, end, text: math });
  }
  return out;
}

/** Answers without delimiters read whole (`bareMath`): the whole text, after an anchor, groups in prose. */
export function bareProducers(text: string, cfg: ExtractionConfig): Producer[] {
  const candidate = (b: BareSpan, priority: number, via: string): Candidate => ({
    priority,
    start: b.start,
    end: b.end,
    via,
    run: () => latexPieces([{ text: b.text, percent: false }], cfg, cfg.boxed),
  });
  const out: Producer[] = [];
  if (!cfg.bareLatex) {
    out.push({
      priority: 250,
      make: () => {
        const whole = wholeAsMath(text);
        return whole ? [candidate(whole, 250, "bare")] : [];
      },
    });
  }
  const anchor = answerAnchor(cfg.languages);
  if (anchor.any.test(text)) {
    const anchored = once(() =>
      [...text.matchAll(anchor.all)].map((m) => ({
        colon: m[1] === ":",
        span: afterAnchor(text, (m.index ?? 0) + m[0].length),
      })),
    );
    for (const [priority, colonOnly] of [
      [100, true],
      [200, false],
    ] as const) {
      out.push({
        priority,
        make: () =>
          anchored()
            .filter((a) => a.span !== null && (a.colon || !colonOnly))
            .map((a) => candidate(a.span as BareSpan, priority, "answer")),
      });
    }
  }
  if (cfg.anchorless)
    out.push({
      priority: 300,
      make: () => [...bracketGroups(text), ...sentenceTails(text)].map((g) => candidate(g, 300, "bare")),
    });
  return out;
}
