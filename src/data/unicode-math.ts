/**
 * Unicode math in LaTeX spelling, so that "x² ≤ π" and "$x^2 \le \pi$" read
 * alike: superscripts and subscripts (a run of them is one ^{..} or _{..}),
 * relations, operators, roots, vulgar fractions, Greek letters and a few
 * symbols of geometry and sets. Used by math-tokens.ts before NFKC folds the
 * rest (full-width digits, ligatures).
 *
 *   unicodeToLatex("x² + y¹⁰ ≤ ½")  -> "x^{2} + y^{10} \leq  \frac{1}{2}"
 */

const GREEK = [
  "alpha",
  "beta",
  "gamma",
  "delta",
  "epsilon",
  "zeta",
  "eta",
  "theta",
  "iota",
  "kappa",
  "lambda",
  "mu",
  "nu",
  "xi",
  "omicron",
  "pi",
  "rho",
  "sigma", // U+03C2 is the final sigma, mapped below
  "sigma",
  "tau",
  "upsilon",
  "phi",
  "chi",
  "psi",
  "omega",
];

const SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱ";
const SUPERSCRIPT_PLAIN = "0123456789+-=()ni";
const SUBSCRIPTS = "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎";
const SUBSCRIPT_PLAIN = "0123456789+-=()";

/** Single Unicode math characters and their LaTeX spelling. */
const UNICODE_LATEX = new Map<string, string>([
  ["π", "\\pi "],
  ["√", "\\sqrt "],
  ["∛", "\\sqrt[3] "],
  ["≤", "\\leq "],
  ["⩽", "\\leq "],
  ["≥", "\\geq "],
  ["⩾", "\\geq "],
  ["≠", "\\neq "],
  ["×", "\\times "],
  ["÷", "\\div "],
  ["·", "\\cdot "],
  ["⋅", "\\cdot "],
  ["∙", "\\cdot "],
  ["∗", "*"],
  ["−", "-"],
  ["–", "-"],
  ["±", "\\pm "],
  ["∓", "\\mp "],
  ["°", "^{\\circ}"],
  ["∘", "\\circ "],
  ["∞", "\\infty "],
  ["≈", "\\approx "],
  ["≡", "\\equiv "],
  ["≅", "\\cong "],
  ["∼", "\\sim "],
  ["∠", "\\angle "],
  ["△", "\\triangle "],
  ["⊥", "\\perp "],
  ["∥", "\\parallel "],
  ["∈", "\\in "],
  ["∉", "\\notin "],
  ["⊂", "\\subset "],
  ["⊆", "\\subseteq "],
  ["∪", "\\cup "],
  ["∩", "\\cap "],
  ["∅", "\\emptyset "],
  ["∑", "\\sum "],
  ["∏", "\\prod "],
  ["∫", "\\int "],
  ["→", "\\to "],
  ["⇒", "\\implies "],
  ["⌊", "\\lfloor "],
  ["⌋", "\\rfloor "],
  ["⌈", "\\lceil "],
  ["⌉", "\\rceil "],
  ["′", "'"],
  ["…", "..."],
  ["⁄", "/"],
  ["∣", "|"],
  ["½", "\\frac{1}{2}"],
  ["⅓", "\\frac{1}{3}"],
  ["⅔", "\\frac{2}{3}"],
  ["¼", "\\frac{1}{4}"],
  ["¾", "\\frac{3}{4}"],
  ["ς", "\\sigma "],
  ...GREEK.map((name, i): [string, string] => [String.fromCodePoint(0x3b1 + i), `\\${name} `]),
  ...GREEK.map((name, i): [string, string] => [String.fromCodePoint(0x391 + i), `\\${name} `]),
]);

/** Replaces Unicode math by LaTeX; a run of superscripts or subscripts becomes one ^{..} / _{..}. */
export function unicodeToLatex(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const sup = SUPERSCRIPTS.indexOf(c);
    const sub = sup < 0 ? SUBSCRIPTS.indexOf(c) : -1;
    if (sup >= 0 || sub >= 0) {
      const [chars, plain, mark] =
        sup >= 0 ? [SUPERSCRIPTS, SUPERSCRIPT_PLAIN, "^"] : [SUBSCRIPTS, SUBSCRIPT_PLAIN, "_"];
      let run = "";
      for (; i < text.length && chars.includes(text[i]); i++) run += plain[chars.indexOf(text[i])];
      i--;
      out += `${mark}{${run}}`;
    } else out += UNICODE_LATEX.get(c) ?? c;
  }
  return out;
}
