/**
 * Finding LaTeX math in a model's output: $$...$$, \[...\], $...$ and \(...\)
 * (single line), " [...] " and a bare \frac{1}{2}; each optionally followed by a
 * percent sign or word. Neighbouring environments joined by "and", "or" or ","
 * form one chain ("$1$, $2$ and $3$"). One left-to-right scan, linear time.
 */

/** One math environment: `content` is what lies between the delimiters. */
export interface MathSpan {
  start: number;
  end: number;
  content: string;
  percent: boolean;
}

const PERCENT_AFTER = /^\s*(?:\\?%|[Pp]ercentage|[Pp]ercent|[Pp]ct)(?![A-Za-z])/;

function isEscaped(text: string, i: number): boolean {
  let k = i - 1;
  let n = 0;
  while (k >= 0 && text[k] === "\\") {
    n++;
    k--;
  }
  return n % 2 === 1;
}

/** Index of the next unescaped `delim` at or after `from` (optionally not crossing a newline), or -1. */
function findClose(text: string, delim: string, from: number, singleLine: boolean): number {
  for (let i = from; i <= text.length - delim.length; i++) {
    if (singleLine && text[i] === "\n") return -1;
    if (text.startsWith(delim, i) && !isEscaped(text, i)) return i;
  }
  return -1;
}

const BARE_FRAC = /^-?\\frac\{-?\d+(?:[.,]\d+)?\}\{-?\d+(?:[.,]\d+)?\}/;

function span(
  text: string,
  start: number,
  contentStart: number,
  contentEnd: number,
  end: number,
): MathSpan | null {
  const content = text.slice(contentStart, contentEnd);
  if (content.trim().length === 0) return null;
  const pm = PERCENT_AFTER.exec(text.slice(end, end + 16));
  return { start, end: end + (pm ? pm[0].length : 0), content, percent: pm !== null };
}

/** The math environment whose opening delimiter is at `i`, or null. */
export function spanAt(text: string, i: number): MathSpan | null {
  const c = text[i];
  if (c === "$") {
    if (isEscaped(text, i)) return null;
    if (text[i + 1] === "$") {
      const close = findClose(text, "$$", i + 2, false);
      return close > i + 2 ? span(text, i, i + 2, close, close + 2) : null;
    }
    const prev = text[i - 1] ?? "";
    if (prev >= "0" && prev <= "9") return null;
    const close = findClose(text, "$", i + 1, true);
    return close > i + 1 ? span(text, i, i + 1, close, close + 1) : null;
  }
  if (c === "\\") {
    if (isEscaped(text, i)) return null;
    const d = text[i + 1];
    if (d === "[" || d === "(") {
      const close = findClose(text, d === "[" ? "\\]" : "\\)", i + 2, d === "(");
      return close > i + 2 ? span(text, i, i + 2, close, close + 2) : null;
    }
    return text.startsWith("\\frac", i) ? fracAt(text, i) : null;
  }
  if (c === "-" && text.startsWith("\\frac", i + 1)) return fracAt(text, i);
  if (c === "[" && i > 0 && /\s/.test(text[i - 1])) {
    let j = i + 1;
    while (j < text.length && text[j] !== "]" && text[j] !== "[" && text[j] !== "\n") j++;
    if (text[j] === "]" && /\s/.test(text[j + 1] ?? "")) return span(text, i, i + 1, j, j + 1);
  }
  return null;
}

/** All math environments of `text`, left to right, non-overlapping. */
export function findMathSpans(text: string): MathSpan[] {
  const spans: MathSpan[] = [];
  for (let i = 0; i < text.length; ) {
    const s = spanAt(text, i);
    if (s) {
      spans.push(s);
      i = s.end;
    } else i += text[i] === "$" && text[i + 1] === "$" ? 2 : 1;
  }
  return spans;
}

function fracAt(text: string, i: number): MathSpan | null {
  const m = BARE_FRAC.exec(text.slice(i, i + 80));
  return m ? span(text, i, i, i + m[0].length, i + m[0].length) : null;
}

const JOINER = /^\s*(?:,?\s*and|,?\s*or|,)\s*/i;

/** The chain of at most 6 spans starting with `first`, joined by "and" / "or" / ",". */
export function chainFrom(text: string, first: MathSpan): MathSpan[] {
  const chain = [first];
  while (chain.length < 6) {
    const end = chain[chain.length - 1].end;
    const j = JOINER.exec(text.slice(end, end + 20));
    if (!j) break;
    const next = spanAt(text, end + j[0].length);
    if (!next) break;
    chain.push(next);
  }
  return chain;
}

/** The first chain whose first span starts in [from, from + maxGap], or null. */
export function firstChainFrom(text: string, from: number, maxGap: number): MathSpan[] | null {
  for (let i = from; i <= Math.min(text.length - 1, from + maxGap); i++) {
    const s = spanAt(text, i);
    if (s) return chainFrom(text, s);
  }
  return null;
}

/** Groups spans joined only by "and" / "or" / "," into chains of at most 6. */
export function chainSpans(text: string, spans: MathSpan[]): MathSpan[][] {
  const chains: MathSpan[][] = [];
  for (const s of spans) {
    const last = chains[chains.length - 1];
    const prev = last?.[last.length - 1];
    const gap = prev ? text.slice(prev.end, s.start) : "";
    if (prev && last.length < 6 && JOINER.test(gap) && JOINER.exec(gap)?.[0].length === gap.length)
      last.push(s);
    else chains.push([s]);
  }
  return chains;
}
