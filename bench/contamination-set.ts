/**
 * A labelled contamination set built from benchmark problems, for measuring
 * the `decontaminate` step (`reasonrl bench curate`, test/data/contamination-set.test.ts).
 *
 * Positives are benchmark problems leaked into training data, one kind of
 * change each:
 *   exact       the text as it is
 *   whitespace  spaces, newlines and tabs moved, added or removed
 *   latex       respelled LaTeX: \dfrac, \dfrac12, a/b, \left( \right), \le/\leq,
 *               \cdot/\times, \(..\), \displaystyle, ^{2}/^2, \mathrm, 1{,}000
 *   unicode     math in Unicode (x², π, √, ≤, ×, ½, θ, −) and `$` dropped
 *   preamble    an instruction or a "Problem 7." before it (and sometimes after it)
 *   choices     answer choices appended in one of several layouts
 *   paraphrase  one clause reworded (question words, instructions, phrases)
 * Their answers are the gold, sometimes respelled (\dfrac, $..$), so that only
 * a verifier sees them equal. Hard negatives (`lookalike`) are the same
 * template with other numbers and another answer: they must be kept.
 *
 * Every change is drawn with a seeded generator, so a seed gives one set.
 */

import type { BenchmarkProblem } from "../src/data/contamination.ts";
import { equivalentAnswers } from "../src/data/same-answer.ts";
import { exactKey } from "../src/data/text.ts";
import { seededRandom } from "../src/model/random.ts";

/** The kinds of leaked variants. */
export const TRANSFORMATIONS = [
  "exact",
  "whitespace",
  "latex",
  "unicode",
  "preamble",
  "choices",
  "paraphrase",
] as const;
export type Transformation = (typeof TRANSFORMATIONS)[number];

/** One labelled case: a training problem and whether it is a benchmark problem. */
export interface LabelledCase {
  id: string;
  kind: Transformation | "lookalike";
  benchmarkId: string;
  problem: string;
  answer: string;
  contaminated: boolean;
}

type Random = () => number;
type Rewrite = (text: string, r: Random) => string;

const pick = <T>(items: readonly T[], r: Random): T => items[Math.floor(r() * items.length)];

/** A $..$ or $$..$$ span (not \$), with its delimiter and inside. */
const MATH_SPAN = /(?<!\\)(\$\$?)((?:[^$\\]|\\[\s\S])+?)\1/g;

/** Applies `f` to the inside of every $..$ and $$..$$ span. */
const inMath = (text: string, f: (math: string) => string) =>
  text.replace(MATH_SPAN, (_, d: string, m: string) => `${d}${f(m)}${d}`);

/** Applies 1 to `most` of the rewrites that change the text, in a random order. */
function someOf(rewrites: readonly Rewrite[], most: number, text: string, r: Random): string {
  const order = [...rewrites].sort(() => r() - 0.5);
  let out = text;
  let applied = 0;
  const want = 1 + Math.floor(r() * most);
  for (const f of order) {
    const next = f(out, r);
    if (next !== out) {
      out = next;
      if (++applied >= want) break;
    }
  }
  return out;
}

const WHITESPACE: Rewrite[] = [
  (t) => t.replace(/\s+/g, " "),
  (t) => t.replace(/\n/g, "\n\n"),
  (t) => t.replace(/\. /g, ".  "),
  (t) => `\n  ${t}\t\n`,
  (t) => inMath(t, (m) => m.replace(/\s*([=+<>])\s*/g, " $1 ")),
  (t) => inMath(t, (m) => m.replace(/\s+/g, "")),
  (t) => t.replace(/, /g, " , "),
  (t) => t.replace(/ /g, (s, at: number) => (at % 7 === 0 ? "\n" : s)),
];

const LATEX: Rewrite[] = [
  (t) => t.replace(/\\frac(?![a-z])/g, "\\dfrac"),
  (t) => t.replace(/\\[dt]frac(?![a-z])/g, "\\frac"),
  (t) => t.replace(/\\(?:[dt])?frac\{(\d)\}\{(\d)\}/g, "\\dfrac$1$2"),
  (t) => t.replace(/\\(?:[dt])?frac\{([a-z])\}\{(\w)\}/g, "\\frac $1$2"),
  (t) => t.replace(/\\(?:[dt])?frac\{([^{}\s\\]+)\}\{([^{}\s\\]+)\}/g, (_, a, b) => `(${a})/(${b})`),
  (t) => t.replace(/\\le(?![a-z])/g, "\\leq").replace(/\\ge(?![a-z])/g, "\\geq"),
  (t) =>
    t
      .replace(/\\leq(?![a-z])/g, "\\le")
      .replace(/\\geq(?![a-z])/g, "\\ge")
      .replace(/\\neq(?![a-z])/g, "\\ne"),
  (t) => t.replace(/\\cdot(?![a-z])/g, "\\times"),
  (t) => t.replace(/\\times(?![a-z])/g, "\\cdot"),
  (t) => inMath(t, (m) => m.replace(/\(/g, "\\left(").replace(/\)/g, "\\right)")),
  (t) => t.replace(MATH_SPAN, (_, d: string, m: string) => (d === "$" ? `\\(${m}\\)` : `\\[${m}\\]`)),
  (t) => inMath(t, (m) => `\\displaystyle ${m}`),
  (t) => t.replace(/\^(\d)(?!\d)/g, "^{$1}"),
  (t) => t.replace(/\^\{(\d)\}/g, "^$1"),
  (t) => t.replace(/\\text\{/g, "\\mathrm{"),
  (t) => t.replace(/\\sqrt\{(\d)\}/g, "\\sqrt$1"),
  (t) => t.replace(/\\binom/g, "\\dbinom"),
  (t) => t.replace(/\\ldots/g, "\\dots"),
  (t) => t.replace(/(?<![\d.,{])(\d{1,3})(\d{3})(?![\d.])/g, "$1{,}$2"),
  (t) => t.replace(/(?<![\d.])(\d{1,3})(?:,|\{,\})(\d{3})(?![\d])/g, "$1$2"),
  (t) => inMath(t, (m) => m.replace(/(\d)([a-z])/g, "$1 \\cdot $2")),
  (t) => inMath(t, (m) => m.replace(/(?<!\{),(?!\})\s*/g, ",\\, ")),
];

const UNICODE_SYMBOLS: [RegExp, string][] = [
  [/\^\{?\\circ\}?/g, "°"],
  [/\^\{?2\}?(?!\d)/g, "²"],
  [/\^\{?3\}?(?!\d)/g, "³"],
  [/\\pi(?![a-z])/g, "π"],
  [/\\theta(?![a-z])/g, "θ"],
  [/\\alpha(?![a-z])/g, "α"],
  [/\\beta(?![a-z])/g, "β"],
  [/\\infty(?![a-z])/g, "∞"],
  [/\\(?:le|leq)(?![a-z])/g, "≤"],
  [/\\(?:ge|geq)(?![a-z])/g, "≥"],
  [/\\(?:ne|neq)(?![a-z])/g, "≠"],
  [/\\times(?![a-z])/g, "×"],
  [/\\cdot(?![a-z])/g, "·"],
  [/\\div(?![a-z])/g, "÷"],
  [/\\pm(?![a-z])/g, "±"],
  [/\\angle(?![a-z])/g, "∠"],
  [/\\triangle(?![a-z])/g, "△"],
  [/\\sqrt\{([^{}]+)\}/g, "√($1)"],
  [/\\d?frac\{1\}\{2\}/g, "½"],
  [/\\[dt]?frac\{([^{}]+)\}\{([^{}]+)\}/g, "($1)/($2)"],
  [/(?<=[\s(=])-(?=\d)/g, "−"],
];

/** Math written in Unicode; `$` dropped around spans left without a command. */
function unicode(text: string): string {
  let out = inMath(text, (m) => UNICODE_SYMBOLS.reduce((s, [re, u]) => s.replace(re, u), m));
  out = out.replace(MATH_SPAN, (span: string, _: string, m: string) => (m.includes("\\") ? span : m));
  return out;
}

const PREAMBLES = [
  "Problem 7. ",
  "Question 3: ",
  "(Competition problem) ",
  "Solve the following math problem efficiently and clearly. ",
  "Let's think step by step and output the final answer within \\boxed{}. ",
  "You are given a problem.\n\n",
  "Exercise 4.12\n",
  "**Problem:** ",
  "Q: ",
  "Read the problem carefully and answer it.\n",
  "[Hard] ",
  "The following is a contest question. ",
];
const SUFFIXES = [
  "",
  "",
  "\nPlease reason step by step, and put your final answer within \\boxed{}.",
  " Answer:",
  " (Give an exact answer.)",
];

function preamble(text: string, r: Random): string {
  return `${pick(PREAMBLES, r)}${text}${pick(SUFFIXES, r)}`;
}

/** Four distractors near a numeric answer, or generic ones. */
function distractors(answer: string, r: Random): string[] {
  const n = Number(answer);
  if (Number.isFinite(n) && answer.trim() !== "")
    return [1, 2, 3, 4].map((k) =>
      String(Number.isInteger(n) ? n + k * (1 + Math.floor(r() * 5)) : n * (k + 1)),
    );
  return ["0", "1", "2", "\\text{none of these}"];
}

const LETTERS = "ABCDE";
const CHOICE_LAYOUTS: ((options: string[]) => string)[] = [
  (o) => ` $${o.map((x, i) => `\\textbf{(${LETTERS[i]})}\\ ${x}`).join(" \\qquad ")}$`,
  (o) => `\n${o.map((x, i) => `(${LETTERS[i]}) ${x}`).join("\n")}`,
  (o) => ` Options: ${o.map((x, i) => `${LETTERS[i]}) ${x}`).join(", ")}.`,
  (o) => `\n\n${o.map((x, i) => `${LETTERS[i]}. $${x}$`).join("   ")}`,
];

function choices(text: string, answer: string, r: Random): string {
  const options = distractors(answer, r);
  options.splice(Math.floor(r() * 5), 0, answer);
  return `${text}${pick(CHOICE_LAYOUTS, r)(options)}`;
}

/** Phrase rewrites for one clause: a pattern and what it may become. */
const PHRASES: [RegExp, string[]][] = [
  [/\bHow many\b/, ["Find the number of", "Determine how many", "Count how many"]],
  [/\b[Ff]ind the number of\b/, ["Determine the number of", "Count the number of", "How many are the"]],
  [/\bWhat is the value of\b/, ["Find the value of", "Compute", "Evaluate", "Determine"]],
  [/\bWhat is\b/, ["Find", "Determine", "Compute", "Tell us"]],
  [/\bFind\b/, ["Determine", "Compute", "Work out", "Calculate"]],
  [/\bCompute\b/, ["Calculate", "Find", "Evaluate"]],
  [/\bDetermine\b/, ["Find", "Compute", "Work out"]],
  [/\bEvaluate\b/, ["Compute the value of", "Find the value of"]],
  [/\bSimplify\b/, ["Write in simplest form", "Reduce"]],
  [
    /\bExpress your answer as a common fraction\.?/,
    ["Give the answer as a fraction in lowest terms.", "Your answer should be a reduced fraction.", ""],
  ],
  [/\bExpress your answer in simplest radical form\.?/, ["Simplify any radicals in the answer.", ""]],
  [/\bExpress your answer as a decimal to the nearest tenth\.?/, ["Round the result to one decimal place."]],
  [/\bLet\b/, ["Suppose", "Assume", "Consider"]],
  [/\bSuppose\b/, ["Let", "Assume that"]],
  [/\bsuch that\b/, ["so that", "for which", "with the property that"]],
  [/\bpositive integers\b/, ["positive whole numbers", "natural numbers"]],
  [/\breal numbers\b/, ["reals", "real values"]],
  [/\bthe sum of\b/, ["the total of", "what you get by adding"]],
  [/\bthe product of\b/, ["the result of multiplying"]],
  [/\bthe probability that\b/, ["the chance that", "the likelihood that"]],
  [/\bthe smallest\b/, ["the least", "the minimum"]],
  [/\bthe largest\b/, ["the greatest", "the biggest", "the maximum"]],
  [/\bthere are\b/, ["we have", "one finds"]],
  [/\bis equal to\b/, ["equals", "is the same as"]],
  [/\bwhat is\b/, ["find", "determine"]],
  [/\bIf\b/, ["Given that", "Suppose that", "Assuming"]],
];

/** Word swaps that keep the meaning. */
const WORDS: [RegExp, string][] = [
  [/\bintegers\b/, "whole numbers"],
  [/\binteger\b/, "whole number"],
  [/\bgreatest\b/, "largest"],
  [/\bleast\b/, "smallest"],
  [/\bdistinct\b/, "different"],
  [/\beach\b/, "every"],
  [/\bexactly\b/, "precisely"],
  [/\bpossible\b/, "attainable"],
  [/\bmust\b/, "has to"],
  [/\btotal\b/, "overall"],
  [/\bvalues\b/, "numbers"],
  [/\bsatisfy\b/, "fulfil"],
  [/\bsatisfies\b/, "fulfils"],
  [/\bwhere\b/, "in which"],
];

/**
 * Rewords one sentence, the question when there is one: every phrase rewrite that applies
 * there (at most four) and the word swaps (null when nothing applies).
 */
function paraphrase(text: string, r: Random): string | null {
  const sentences = text.split(/(?<=[.?!])\s+(?=[A-Z$\\])/);
  const rules = [...PHRASES, ...WORDS.map(([re, to]): [RegExp, string[]] => [re, [to]])];
  const usable = sentences.map((s, i) => [s, i] as const).filter(([s]) => rules.some(([re]) => re.test(s)));
  if (usable.length === 0) return null;
  const questions = usable.filter(([s]) => s.trimEnd().endsWith("?"));
  const [sentence, at] = pick(questions.length > 0 ? questions : usable, r);
  let out = sentence;
  const phrases = PHRASES.filter(([re]) => re.test(sentence)).sort(() => r() - 0.5);
  for (const [re, options] of phrases.slice(0, 4)) if (re.test(out)) out = out.replace(re, pick(options, r));
  for (const [re, to] of WORDS) out = out.replace(re, to);
  sentences[at] = out;
  return sentences.join(" ");
}

/** An equivalent spelling of a gold answer (sometimes the same). */
function respellAnswer(answer: string, r: Random): string {
  const x = r();
  if (x < 0.3 && answer.includes("\\frac")) return answer.replace(/\\frac/g, "\\dfrac");
  if (x < 0.5) return `$${answer}$`;
  return answer;
}

/** Other numbers in the text (each changed with probability 1/2, at least one). */
function otherNumbers(text: string, r: Random): string {
  const spans = [...text.matchAll(/\d+/g)];
  const forced = Math.floor(r() * spans.length);
  let k = -1;
  return text.replace(/\d+/g, (d) => {
    k++;
    if (k !== forced && r() < 0.5) return d;
    const n = Number(d.slice(0, 9));
    return String(n + 1 + Math.floor(r() * Math.max(3, n / 2)));
  });
}

/** Another answer of the same shape: a number changed, or a term added. */
function otherAnswer(answer: string, r: Random): string {
  if (/\d/.test(answer)) return otherNumbers(answer, r);
  return `${answer}+${1 + Math.floor(r() * 5)}`;
}

/** The labelled set: `perKind` positives per transformation and `perKind` look-alikes. */
export function contaminationSet(
  benchmarks: readonly BenchmarkProblem[],
  opts: { perKind?: number; seed?: number } = {},
): LabelledCase[] {
  const perKind = opts.perKind ?? 150;
  const r = seededRandom(opts.seed ?? 11);
  const cases: LabelledCase[] = [];
  const make = (kind: LabelledCase["kind"], build: (b: BenchmarkProblem) => LabelledCase | null) => {
    let made = 0;
    for (let tries = 0; made < perKind && tries < perKind * 20; tries++) {
      const c = build(pick(benchmarks, r));
      if (c) {
        cases.push({ ...c, id: `${kind}-${made}` });
        made++;
      }
    }
  };
  const positive = (kind: Transformation, f: (b: BenchmarkProblem) => string | null) =>
    make(kind, (b) => {
      const problem = f(b);
      if (problem === null || (kind !== "exact" && problem === b.problem)) return null;
      const answer = kind === "exact" ? b.answer : respellAnswer(b.answer, r);
      return { id: "", kind, benchmarkId: b.id, problem, answer, contaminated: true };
    });
  positive("exact", (b) => b.problem);
  positive("whitespace", (b) => someOf(WHITESPACE, 3, b.problem, r));
  positive("latex", (b) => someOf(LATEX, 4, b.problem, r));
  positive("unicode", (b) => unicode(b.problem));
  positive("preamble", (b) => preamble(b.problem, r));
  positive("choices", (b) => choices(b.problem, b.answer, r));
  positive("paraphrase", (b) => paraphrase(b.problem, r));
  // A look-alike's answer is no benchmark problem's (else it may be a sibling's copy), and its
  // change must show in the normal form (not only in a \tag{1}).
  const answers = new Set(benchmarks.map((b) => b.answer.replace(/\s+/g, "")));
  make("lookalike", (b) => {
    if (!/\d/.test(b.problem)) return null;
    const answer = otherAnswer(b.answer, r);
    if (answers.has(answer.replace(/\s+/g, "")) || equivalentAnswers(b.answer, answer)) return null;
    const problem = otherNumbers(b.problem, r);
    if (exactKey(problem) === exactKey(b.problem)) return null;
    return { id: "", kind: "lookalike", benchmarkId: b.id, problem, answer, contaminated: false };
  });
  return cases;
}
