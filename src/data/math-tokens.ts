/**
 * The one normal form in which curation compares problem texts (dedupe and
 * decontaminate both use it): a list of tokens on which the usual spellings of
 * one problem agree.
 *
 *   mathTokens("Find $\\dfrac12$ of 3m, if $xy \\le 1{,}000$.")
 *     -> ["find", "1", "2", "of", "3", "m", "if", "x", "y", "\\leq", "1000"]
 *   mathTokens("Find 1/2 of 3 m, if xy ≤ 1,000.")  -> the same tokens
 *
 * The rules, in order:
 * 1. Unicode math becomes LaTeX (unicode-math.ts): x² -> x^{2}, π -> \pi,
 *    √ -> \sqrt, ≤ -> \leq, × -> \times, ½ -> \frac{1}{2}, Greek letters, ...
 *    (then NFKC folds the rest: full-width digits, ligatures).
 * 2. Thousands separators go: 1,000,000, 1{,}000 and 10\,000 are numbers written
 *    without them (a comma list such as "2,4,100" is left alone).
 * 3. Tokens are words, numbers (3.14 is one), LaTeX commands and the signs
 *    = < > + (not -, which is also a hyphen: "x-axis", "two-digit"). Letters and digits never share a token ("3m" is
 *    "3 m"); inside math every letter is its own token ("xy" is "x y"), as is a
 *    run of letters outside math written against an operator ("xy=6").
 * 4. Presentation-only commands are dropped (\left \right \big \displaystyle
 *    \, \! \quad \limits ...), and so are multiplication and division signs
 *    (\cdot, \times, *, \div: "2 \cdot 3", "2 \times 3" and "2*3" agree); text
 *    and font wrappers (\text{..}, \mathrm{..}, \mathbf{..}, \operatorname{..})
 *    keep only their content; variants are unified (\dfrac \tfrac -> \frac,
 *    \le -> \leq, \ne -> \neq, \dbinom -> \binom, \varepsilon -> \epsilon).
 * 5. Fractions are expanded: \frac{a}{b} gives the tokens of a then b, as a/b
 *    does, and an argument written without braces is one character
 *    (\dfrac12 is 1/2; likewise \sqrt2, \binom84, and x^23 in math is x^{2}3).
 * 6. Everything is lower case; braces, punctuation and `$` only separate tokens.
 *
 * Function names (\sin, \log, \gcd, ...) become plain words, so "\gcd(a,b)"
 * and "gcd(a, b)" agree.
 */
import { unicodeToLatex } from "./unicode-math.ts";

/** A whole number with thousands separators (not part of a comma list or a decimal). */
const THOUSANDS = /(?<![\d.]|\d,|\d\{,\})\d{1,3}(?:(?:,|\{,\}|\\,|\\!)\d{3})+(?![\d]|,\d)/g;

/** "1,000,000", "1{,}000", "10\,000" -> digits only. */
export function removeThousandsSeparators(text: string): string {
  return text.replace(THOUSANDS, (m) => m.replace(/\D/g, ""));
}

/** Commands that only change how a formula looks. */
const DROPPED = new Set(
  (
    "left right big Big bigg Bigg bigl bigr Bigl Bigr biggl biggr Biggl Biggr middle displaystyle textstyle " +
    "scriptstyle scriptscriptstyle quad qquad limits nolimits cdot times ast div ldots cdots dots dotsb dotsc " +
    "dotsm dotsi vdots ddots lt gt colon prime nonumber notag noindent newline linebreak hfill centering " +
    "medskip smallskip bigskip lvert rvert vert lVert rVert Vert lbrace rbrace mathclose mathopen mathrel " +
    "mathbin mathord displaylimits"
  ).split(" "),
);

/** Commands whose brace argument is dropped with them. */
const DROPPED_WITH_ARGUMENT = new Set([
  "hspace",
  "vspace",
  "label",
  "tag",
  "phantom",
  "hphantom",
  "vphantom",
]);

/** Wrappers whose content is ordinary text (words stay words). */
const TEXT_WRAPPERS = new Set(
  "text textrm textnormal textup textbf textit textsf texttt textmd textsl emph mbox hbox operatorname mathrm".split(
    " ",
  ),
);

/** Font wrappers whose content stays math. */
const MATH_WRAPPERS = new Set(
  "mathbf mathbb mathcal mathfrak mathscr mathsf mathtt mathit boldsymbol bm pmb rm bf it sf tt cal".split(
    " ",
  ),
);

/** Spelling variants of one command. */
const ALIASES = new Map<string, string>([
  ["dfrac", "frac"],
  ["tfrac", "frac"],
  ["cfrac", "frac"],
  ["dbinom", "binom"],
  ["tbinom", "binom"],
  ["le", "leq"],
  ["leqslant", "leq"],
  ["ge", "geq"],
  ["geqslant", "geq"],
  ["ne", "neq"],
  ["rightarrow", "to"],
  ["varepsilon", "epsilon"],
  ["vartheta", "theta"],
  ["varphi", "phi"],
  ["varpi", "pi"],
  ["varrho", "rho"],
  ["varsigma", "sigma"],
  ["bmod", "mod"],
  ["pmod", "mod"],
  ["land", "wedge"],
  ["lor", "vee"],
  ["lnot", "neg"],
  ["gets", "leftarrow"],
]);

/** Function names written as words ("\sin x" reads as "sin x"). */
const FUNCTIONS = new Set(
  "sin cos tan cot sec csc arcsin arccos arctan sinh cosh tanh log ln lg exp gcd lcm min max det lim sup inf deg mod dim ker".split(
    " ",
  ),
);

/** Commands whose arguments, when written without braces, are one character each (\dfrac12, \sqrt2). */
const ONE_CHARACTER_ARGUMENTS = new Map([
  ["frac", 2],
  ["binom", 2],
  ["sqrt", 1],
]);

/** Environments whose content is math. */
const MATH_ENVIRONMENT = /^(?:equation|align|alignat|gather|multline|eqnarray|displaymath|math)\*?$/;

/** Characters next to which a run of letters outside `$` reads as math ("xy=6"). */
const OPERATOR = /[\^_=+/<>]/;
const NON_ASCII_LETTER = /[\p{L}\p{M}]/u;

/** A letter (any script; ASCII first, for speed). */
function isLetter(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (c < 128) return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
  return NON_ASCII_LETTER.test(s[i]);
}

function isDigit(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  return c >= 48 && c <= 57;
}

function isAsciiLetter(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

/**
 * The scanner behind mathTokens: one pass over the text, tracking whether it is
 * in math (between $..$, \(..\), \[..\] or a math environment), which brace
 * groups are text wrappers, and how many one-character arguments a command
 * still takes. It is a loop over characters with a case per kind of character,
 * which reads best in one piece (hence over 80 lines).
 */
function scan(s: string): string[] {
  const out: string[] = [];
  let math = false;
  let depth = 0;
  /** Brace groups of wrappers: the depth at which each closes, and the mode to go back to. */
  const groups: { depth: number; math: boolean }[] = [];
  /** Arguments still to read at depth `argDepth` (after \dfrac, \sqrt, and ^ or _ in math). */
  let pendingArgs = 0;
  let argDepth = 0;
  /** A wrapper was just read: the brace group that follows switches to this mode (null: none). */
  let wrapperMode: boolean | null = null;
  /** The next brace group is dropped whole (\hspace{..}, \begin{..}, \end{..}). */
  let skipGroup: "skip" | "begin" | "end" | null = null;
  let i = 0;
  const n = s.length;
  while (i < n) {
    const c = s[i];
    if (c === " " || c === "\n" || c === "\t" || c === "\r") {
      i++;
      continue;
    }
    const asArgument = pendingArgs > 0 && depth === argDepth;
    if (c === "{") {
      if (skipGroup) {
        const close = matchingBrace(s, i);
        const name = s.slice(i + 1, close).trim();
        if (skipGroup !== "skip" && MATH_ENVIRONMENT.test(name)) math = skipGroup === "begin";
        skipGroup = null;
        i = close + 1;
        continue;
      }
      if (asArgument) pendingArgs--; // a braced argument is read token by token
      depth++;
      if (wrapperMode !== null) {
        groups.push({ depth, math });
        math = wrapperMode;
      }
      wrapperMode = null;
      i++;
      continue;
    }
    wrapperMode = null;
    skipGroup = null;
    if (c === "}") {
      const group = groups[groups.length - 1];
      if (group?.depth === depth) math = (groups.pop() as { math: boolean }).math;
      depth = Math.max(0, depth - 1);
      i++;
      continue;
    }
    if (c === "$") {
      math = !math;
      pendingArgs = 0;
      i += s[i + 1] === "$" ? 2 : 1;
      continue;
    }
    if (c === "\\") {
      let end = i + 1;
      while (end < n && isAsciiLetter(s, end)) end++;
      if (end === i + 1) {
        const next = s[i + 1] ?? "";
        if (next === "(" || next === "[") math = true;
        else if (next === ")" || next === "]") math = false;
        i += 2;
        continue;
      }
      const raw = s.slice(i + 1, end);
      i = end;
      const name = ALIASES.get(raw) ?? raw;
      if (name === "begin" || name === "end") skipGroup = name;
      else if (DROPPED_WITH_ARGUMENT.has(name)) skipGroup = "skip";
      else if (TEXT_WRAPPERS.has(name)) wrapperMode = false;
      else if (MATH_WRAPPERS.has(name)) wrapperMode = true;
      else if (!DROPPED.has(name)) {
        if (FUNCTIONS.has(name)) out.push(name);
        else if (name !== "frac") out.push(`\\${name.toLowerCase()}`);
        // Outside math (Unicode turned into LaTeX), √242 is the root of 242.
        const own = !math || (name === "sqrt" && s[i] === "[") ? 0 : (ONE_CHARACTER_ARGUMENTS.get(name) ?? 0);
        pendingArgs = Math.max(own, asArgument ? pendingArgs - 1 : 0);
        argDepth = depth;
      }
      continue;
    }
    if (asArgument && (isDigit(s, i) || isLetter(s, i))) {
      out.push(c.toLowerCase());
      pendingArgs--;
      i++;
      continue;
    }
    if (depth === argDepth) pendingArgs = 0;
    if (isDigit(s, i)) {
      let j = i + 1;
      while (j < n && isDigit(s, j)) j++;
      if (s[j] === "." && isDigit(s, j + 1)) for (j++; j < n && isDigit(s, j); ) j++;
      out.push(s.slice(i, j));
      i = j;
      continue;
    }
    if (isLetter(s, i)) {
      let j = i + 1;
      while (j < n && isLetter(s, j)) j++;
      const word = s.slice(i, j).toLowerCase();
      if (math || nextToOperator(s, i, j)) for (const ch of word) out.push(ch);
      else out.push(word);
      i = j;
      continue;
    }
    if (c === "=" || c === "<" || c === ">" || c === "+") out.push(c);
    else if (math && (c === "^" || c === "_")) {
      pendingArgs = 1;
      argDepth = depth;
    }
    i++;
  }
  return out;
}

/** Operator commands next to which a run of letters outside `$` reads as math ("xy \\leq 3"). */
const OPERATOR_COMMAND =
  /^\\(?:leq?|geq?|neq?|times|cdot|div|pm|mp|in|subset|subseteq|approx|equiv|cong|sim|to)(?![a-zA-Z])/;

/** True when the nearest character before `start` or after `end`, spaces aside, is an operator. */
function nextToOperator(s: string, start: number, end: number): boolean {
  let before = start - 1;
  while (before >= 0 && s[before] === " ") before--;
  let after = end;
  while (after < s.length && s[after] === " ") after++;
  if (OPERATOR.test(s[before] ?? "") || OPERATOR.test(s[after] ?? "")) return true;
  if (s[after] === "\\" && OPERATOR_COMMAND.test(s.slice(after, after + 10))) return true;
  let back = before;
  while (back >= 0 && isAsciiLetter(s, back)) back--;
  return back < before && s[back] === "\\" && OPERATOR_COMMAND.test(s.slice(back, before + 1));
}

/** The index of the brace closing the one at `open` (or the end of the text). */
function matchingBrace(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === "\\") i++;
    else if (s[i] === "{") depth++;
    else if (s[i] === "}" && --depth === 0) return i;
  }
  return s.length;
}

/** The tokens of a problem in the normal form described above. */
export function mathTokens(text: string): string[] {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the ASCII range is the point
  const latex = /^[\x00-\x7f]*$/.test(text) ? text : unicodeToLatex(unicodeToLatex(text).normalize("NFKC"));
  return scan(/[,{\\]/.test(latex) ? removeThousandsSeparators(latex) : latex);
}
