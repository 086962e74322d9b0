/**
 * String-level clean-up of one extracted answer before it is parsed: spacing
 * and sizing commands, fraction variants, degree signs, percent words, units,
 * thousands separators, doubled backslashes, "and"/"or" joiners and trailing
 * punctuation. Every rule is a plain rewrite of the LaTeX text; the structure
 * (lists, intervals, relations) is decided later by the parser.
 */
import { boxedContent } from "./boxed.ts";

/** Which groups of rewrites run (all on by default). */
export interface NormalizeOptions {
  /** Take the content of \boxed{...}: "last" group of boxes, "all" boxes, or "none". */
  boxed: "last" | "all" | "none";
  /** Strip trailing units (\text{ cm}, \mbox{ m}^2, "miles", ...). */
  units: boolean;
}

const UNICODE: [RegExp, string][] = [
  [/[\u2212\u2012\u2013\u2014]/g, "-"],
  [/\u00d7/g, "\\times "],
  [/\u00f7/g, "\\div "],
  [/[\u00b7\u22c5]/g, "\\cdot "],
  [/\u2264/g, "\\le "],
  [/\u2265/g, "\\ge "],
  [/\u2260/g, "\\ne "],
  [/[\u2248\u2243]/g, "\\approx "],
  [/\u223c/g, "\\sim "],
  [/\u00b1/g, "\\pm "],
  [/\u2213/g, "\\mp "],
  [/\u03c0/g, "\\pi "],
  [/\u221e/g, "\\infty "],
  [/\u221a/g, "\\sqrt "],
  [/\u00b0/g, "^\\circ "],
  [/\u222a/g, "\\cup "],
  [/\u2229/g, "\\cap "],
  [/\u2208/g, "\\in "],
  [/\u00b2/g, "^2"],
  [/\u00b3/g, "^3"],
  [/\u2026/g, "\\ldots "],
  [/[\u00a0\u2009\u202f\u3000]/g, " "],
  [/\uff0c/g, ","],
];

/** Common unit words that may trail a numeric answer ("125 miles", "15 cm^2"). */
const UNIT_WORDS = [
  "km",
  "m",
  "cm",
  "mm",
  "nm",
  "kg",
  "g",
  "mg",
  "lb",
  "lbs",
  "oz",
  "ft",
  "feet",
  "foot",
  "in",
  "inch",
  "inches",
  "yd",
  "yard",
  "yards",
  "mile",
  "miles",
  "mph",
  "kmh",
  "km/h",
  "m/s",
  "s",
  "sec",
  "second",
  "seconds",
  "min",
  "minute",
  "minutes",
  "h",
  "hr",
  "hrs",
  "hour",
  "hours",
  "day",
  "days",
  "week",
  "weeks",
  "month",
  "months",
  "year",
  "years",
  "l",
  "liter",
  "liters",
  "litre",
  "litres",
  "ml",
  "gallon",
  "gallons",
  "degree",
  "degrees",
  "deg",
  "rad",
  "radians",
  "dollar",
  "dollars",
  "cent",
  "cents",
  "unit",
  "units",
  "sq",
  "square",
  "cubic",
  "meter",
  "meters",
  "metre",
  "metres",
  "centimeter",
  "centimeters",
  "kilometer",
  "kilometers",
  "people",
  "students",
  "ways",
  "times",
  "yuan",
  "euros",
  "euro",
  "pounds",
  "kilograms",
  "grams",
  "points",
  "pages",
  "marbles",
  "apples",
  "cookies",
  "books",
];
const unitAlternatives = (words: string[]) => words.map((u) => u.replace("/", "\\/")).join("|");
/** Single letters (and "in") count as units only after a space: "2 h" is hours, "2h" a product. */
const SHORT_UNITS = UNIT_WORDS.filter((u) => u.length === 1 || u === "in");
const LONG_UNITS = UNIT_WORDS.filter((u) => !SHORT_UNITS.includes(u));
const UNIT_WORD_RE = new RegExp(
  `(?<=[\\d})]|\\\\pi)(?:\\s*(?:${unitAlternatives(LONG_UNITS)})|\\s+(?:${unitAlternatives(SHORT_UNITS)}))(?:\\^\\{?[23]\\}?)?(?:\\s+(?:${unitAlternatives(UNIT_WORDS)})(?:\\^\\{?[23]\\}?)?)*\\s*$`,
);
const TEXT_CMD = String.raw`\\(?:text|textnormal|textrm|textbf|textit|textup|mbox|mathrm|hbox)`;
const TRAILING_TEXT_UNIT = new RegExp(
  String.raw`(\S)\s*${TEXT_CMD}\s*\{[^{}]*\}(?:\s*\^\s*\{?\s*[23]\s*\}?)?\s*$`,
);
const TEXT_JOINER = new RegExp(String.raw`,?\s*${TEXT_CMD}\s*\{\s*(?:and|or|,)\s*\}\s*`, "g");
const PERCENT_TEXT = new RegExp(
  String.raw`\s*(?:${TEXT_CMD})?\s*\{?\s*\b(?:percent|percentage|pct)\b\s*\}?`,
  "gi",
);
const SIZING =
  /\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|Biggl|Biggr|big|Big|bigg|Bigg|middle)(?![a-zA-Z])\s*(?:\.(?![0-9]))?/g;

/** Splits off the part after the last top-level implication arrow. */
function afterLastArrow(s: string): string {
  const m = [
    ...s.matchAll(/\\(?:Rightarrow|implies|Longrightarrow|longrightarrow|rightarrow|to)(?![a-zA-Z])/g),
  ];
  if (m.length === 0) return s;
  const last = m[m.length - 1];
  const rest = s.slice((last.index ?? 0) + last[0].length).trim();
  return rest.length > 0 ? rest : s;
}

/** Replaces " and " / " or " joiners outside \\text{...} with commas. */
function joinersToCommas(s: string): string {
  const joiner = (part: string) => part.replace(/(?<![a-zA-Z\\])\s*,?\s*\b(?:and|or)\b\s*(?![a-zA-Z])/g, ",");
  const textStart = new RegExp(`${TEXT_CMD}\\s*\\{`, "g");
  let out = "";
  let i = 0;
  for (let t = textStart.exec(s); t !== null; t = textStart.exec(s)) {
    // copy each \text{...} group verbatim, rewrite what lies between them
    let depth = 0;
    let j = t.index + t[0].length - 1;
    for (; j < s.length; j++) {
      if (s[j] === "{") depth++;
      else if (s[j] === "}" && --depth === 0) break;
    }
    out += joiner(s.slice(i, t.index)) + s.slice(t.index, j + 1);
    i = j + 1;
    textStart.lastIndex = i;
  }
  return out + joiner(s.slice(i));
}

/** Removes commas from digit groups like 12,000,023 unless they sit alone inside ( ) or [ ]. */
function joinThousands(s: string): string {
  return s.replace(
    /(?<![\d.,])(-?)([1-9]\d{0,2}(?:,\d{3})+)(\.\d+)?(?![\d,])/g,
    (all, sign, digits, dec, offset) => {
      const before = s.slice(0, offset).trimEnd().slice(-1);
      const after = s
        .slice(offset + all.length)
        .trimStart()
        .slice(0, 1);
      if ((before === "(" || before === "[") && (after === ")" || after === "]")) return all;
      return `${sign}${digits.replaceAll(",", "")}${dec ?? ""}`;
    },
  );
}

/**
 * Normalises one extracted LaTeX answer. The result is still LaTeX, only simpler:
 * `normalizeAnswer("\\dfrac{1}{2}\\text{ cm}.")` is `"\\frac{1}{2}"`.
 */
export function normalizeAnswer(
  text: string,
  opts: NormalizeOptions = { boxed: "last", units: true },
): string {
  let s = text;
  if (opts.boxed !== "none") s = boxedContent(s, opts.boxed) ?? s;
  for (const [re, rep] of UNICODE) s = s.replace(re, rep);
  // collapse whitespace first: the patterns below have several \s* in a row
  s = s.replace(/\s+/g, " ");
  if (!/\\begin\s*\{\s*(?:[pbvBV]?matrix|array|smallmatrix|cases|align\*?)\s*\}/.test(s)) {
    s = s.replace(/\\\\(?=[a-zA-Z])/g, "\\");
  }
  s = s
    .replace(/\\(?:displaystyle|textstyle|scriptstyle|limits|nolimits|mathrm\{th\})/g, "")
    .replace(SIZING, "")
    .replace(/\\!\s*/g, "")
    .replace(/(?<!\\)\\[,;:> ]/g, " ")
    .replace(/\\q?quad/g, " ")
    .replace(/~/g, " ")
    .replace(/\\\$/g, "")
    .replace(/\$/g, "")
    .replace(/\\%/g, "%")
    .replace(/\\[dtc]frac(?![a-zA-Z])/g, "\\frac")
    .replace(/\\[dt]binom(?![a-zA-Z])/g, "\\binom")
    .replace(/\s*\{\s*,\s*\}/g, ",")
    .replace(/\^\s*\{?\s*\\circ\s*\}?(?:\s*[CF](?![a-zA-Z]))?/g, "")
    .replace(/\\(?:circ|degree)(?![a-zA-Z])/g, "")
    .replace(/\\(?:pmod|bmod|mod)\s*\{[^{}]*\}/g, "")
    .replace(/\(\s*\\?mod\s+[^()]*\)/g, "")
    .replace(/\\(?:dots|ldots|cdots)(?![a-zA-Z])/g, "\\ldots");
  s = s.replace(PERCENT_TEXT, "%");
  s = s.replace(/\b(?:np|math|sympy|sp)\.(?=[a-z])/g, "");
  s = s.replace(TEXT_JOINER, ",");
  s = joinersToCommas(s);
  s = afterLastArrow(s);
  s = s.replace(/\binfinity\b/gi, "\\infty").replace(/(?<![\\a-zA-Z])inf(?![a-zA-Z])/g, "\\infty");
  s = s.replace(/\s+/g, " ").trim();
  s = s.replace(/^(?:[.,;:](?!\d)\s*)+/, "").replace(/(?:\s*[.,;:])+$/, "");
  if (opts.units) {
    for (let k = 0; k < 2; k++) {
      const before = s;
      s = s.replace(TRAILING_TEXT_UNIT, "$1").trim();
      const w = s.replace(UNIT_WORD_RE, "").trim();
      if (w.length > 0) s = w;
      s = s.replace(/(?:\s*[.,;:])+$/, "");
      if (s === before) break;
    }
  }
  s = joinThousands(s);
  if (/^-?\d{1,3}(?: \d{3})+(?:\.\d+)?$/.test(s)) s = s.replaceAll(" ", "");
  return s.trim();
}
