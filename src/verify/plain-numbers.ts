/**
 * Plain (non-LaTeX) numbers and arithmetic in a model's output, the "expr"
 * target of Math-Verify: "1,000.99", "1 000", "2,74" (decimal comma), ".4",
 * "$1,000.99", "1,000.99€", "28 percent", "2/3", "(9+1)". A number must start
 * the text or follow a space or "=" (so "AZYUK2A" holds no number), and also,
 * beyond Math-Verify and when asked (`languages`), a character of a script
 * written without spaces ("答案是3/4") or a colon after a word ("Ответ:12");
 * currency signs may precede it and units may follow it.
 */

import { UNSPACED_SCRIPT } from "./languages.ts";

/** One plain number or expression found in text. */
export interface PlainMatch {
  start: number;
  end: number;
  /** Cleaned text: separators removed, decimal comma turned into a point, × ÷ into * /. */
  value: string;
  percent: boolean;
  isExpression: boolean;
}

const CURRENCY = "$€£¥₹₽₪₩₫฿₡₢₣₤₥₦₧₨₭₮₯₰₱₲₳₴₵₶₷₸₺₻₼₾₿";
const PERCENT = String.raw`(?<percent>\s*(?:%|[Pp]ercentage|[Pp]ercent|[Pp]ct)(?![A-Za-z]))?`;
const NUMBER = String.raw`(?<![\d.])(?:(?<int1>-?[1-9]\d{0,2}(?:[ ,]\d{3})+)(?<dec1>\.\d+)?|(?<int2>-?\d+)(?<dec2>[.,]\d+)|(?<dec3>\.\d+)|(?<int3>-?\d+))`;
/** Math-Verify's rule: before a number, the start, a space or "="; after an expression, punctuation or a space. */
const PREFIX = String.raw`(?:^|(?<=[\s=]))(?:\*\*)?`;
const SUFFIX = String.raw`(?=(?:\*\*)?(?:[.,:\s)$]|$))`;
/** With other scripts: also a character of a script written without spaces, or a colon (after a word: see below). */
const WIDE_PREFIX = String.raw`(?:^|(?<=[\s=:${UNSPACED_SCRIPT}]))(?:\*\*)?`;
const WIDE_SUFFIX = String.raw`(?=(?:\*\*)?(?:[.,:\s)$${UNSPACED_SCRIPT}]|$))`;
const OPS = String.raw`+\-*×/^()÷`;
const EXPR = String.raw`(?<expr>-?\(?-?\d[\d.\s${OPS}]{0,60}?[${OPS}][\d.\s${OPS}]{0,60}[\d)])`;
const numberRe = (prefix: string) =>
  new RegExp(`${prefix}[${CURRENCY.replace("$", "\\$")}]?${NUMBER}${PERCENT}`, "g");
const PATTERNS = {
  plain: { number: numberRe(PREFIX), expr: new RegExp(`${PREFIX}${EXPR}${SUFFIX}`, "g") },
  wide: { number: numberRe(WIDE_PREFIX), expr: new RegExp(`${WIDE_PREFIX}${EXPR}${WIDE_SUFFIX}`, "g") },
};

/**
 * All plain numbers and operator expressions in `text`, left to right; at the same
 * start the longer match first ("22/7" before "22"), as Math-Verify tries an
 * expression before a number at each place. With `languages`, numbers may also
 * follow a character of a script without spaces or "word:".
 */
export function findPlainNumbers(text: string, languages = false): PlainMatch[] {
  const { number: NUMBER_RE, expr: EXPR_RE } = languages ? PATTERNS.wide : PATTERNS.plain;
  const out: PlainMatch[] = [];
  NUMBER_RE.lastIndex = 0;
  for (let m = NUMBER_RE.exec(text); m !== null; m = NUMBER_RE.exec(text)) {
    const g = m.groups ?? {};
    const int = (g.int1 ?? g.int2 ?? g.int3 ?? "").replace(/[ ,]/g, "");
    const dec = (g.dec1 ?? g.dec2 ?? g.dec3 ?? "").replace(",", ".");
    const sign = int.startsWith("-") ? "-" : "";
    const digits = int.replace(/^-/, "").replace(/^0+(?=\d)/, "");
    out.push({
      start: m.index,
      end: m.index + m[0].length,
      value: `${sign}${digits || (dec ? "0" : "")}${dec}`,
      percent: g.percent !== undefined,
      isExpression: false,
    });
    if (m[0].length === 0) NUMBER_RE.lastIndex++;
  }
  EXPR_RE.lastIndex = 0;
  for (let m = EXPR_RE.exec(text); m !== null; m = EXPR_RE.exec(text)) {
    const expr = m.groups?.expr ?? "";
    const opened = (expr.match(/\(/g) ?? []).length;
    const closed = (expr.match(/\)/g) ?? []).length;
    // drop an unbalanced trailing ")" that belongs to the surrounding text
    const value = opened < closed && expr.endsWith(")") ? expr.slice(0, -1) : expr;
    out.push({
      start: m.index,
      end: m.index + m[0].length,
      value: value.replace(/×/g, "*").replace(/÷/g, "/").replace(/\s+/g, " ").trim(),
      percent: false,
      isExpression: true,
    });
  }
  // with languages, a colon counts only after a word: "Ответ:12", not the 45 of "3:45"
  const kept = languages
    ? out.filter((m) => text[m.start - 1] !== ":" || !/\d/.test(text[m.start - 2] ?? ""))
    : out;
  return kept.sort((a, b) => a.start - b.start || b.end - a.end);
}
