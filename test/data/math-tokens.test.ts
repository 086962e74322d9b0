/**
 * The normal form dedupe and decontaminate compare problems in (math-tokens.ts):
 * each rule by a pair of spellings that must agree, and pairs that must not.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { mathTokens, removeThousandsSeparators } from "../../src/data/math-tokens.ts";
import { unicodeToLatex } from "../../src/data/unicode-math.ts";

const same = (a: string, b: string) => assert.deepEqual(mathTokens(a), mathTokens(b), `${a}  vs  ${b}`);
const differ = (a: string, b: string) => assert.notDeepEqual(mathTokens(a), mathTokens(b), `${a}  vs  ${b}`);

test("Unicode math reads as its LaTeX", () => {
  assert.equal(unicodeToLatex("x² + y¹⁰ = a₁₂"), "x^{2} + y^{10} = a_{12}");
  same("Let $x^2 + y^{2} \\leq 25$.", "Let x² + y² ≤ 25.");
  same("Find $\\pi r^2$ when $r \\geq 3$ and $r \\neq 4$.", "Find π r² when r ≥ 3 and r ≠ 4.");
  same("$\\sqrt{2}$ and $\\theta = 30^\\circ$", "√2 and θ = 30°");
  same("$\\frac{1}{2} \\times 6 \\div 3$", "½ × 6 ÷ 3");
  same("$-5 \\pm 2$", "−5 ± 2");
  same("Ｆｉｎｄ １２", "Find 12"); // full-width forms, by NFKC
});

test("fractions are expanded, with or without braces", () => {
  same("$\\frac{1}{2}$", "$\\dfrac12$");
  same("$\\tfrac{1}{2}$", "1/2");
  same("$\\frac{a+b}{c}$", "$(a+b)/c$");
  same("$\\dfrac{12}{5}$", "12/5");
  differ("$\\frac{1}{2}$", "12");
  same("$\\frac cd$", "$\\frac{c}{d}$");
  same("$\\sqrt2 + \\binom84$", "$\\sqrt{2} + \\dbinom{8}{4}$");
  same("$x^23$", "$x^{2} 3$");
  differ("$x^{23}$", "$x^{2}3$");
});

test("presentation-only commands are dropped, wrappers keep their content", () => {
  same("$\\left( \\displaystyle x \\right)$", "$(x)$");
  same("$a\\,b\\!c \\quad d\\;e$", "$a b c d e$");
  same("$30\\text{ cm}$ and $\\mathrm{lcm}(4, 6)$", "30 cm and lcm(4, 6)");
  same("$\\mathbb{R}$ and $\\textbf{odd}$", "$R$ and odd");
  same("$\\operatorname{gcd}(a, b)$", "\\gcd(a,b)");
  same("\\begin{align*} x &= 1 \\end{align*}", "$x = 1$");
  same("$x \\le 1$, $y \\ge 2$, $z \\ne 3$", "$x \\leq 1$, $y \\geqslant 2$, $z \\neq 3$");
});

test("multiplication signs are one spelling: \\cdot, \\times, *, or none", () => {
  same("$2 \\cdot 3$", "$2 \\times 3$");
  same("$2 \\times 3$", "2*3");
  same("$3 \\cdot x$", "$3x$");
});

test("letters and digits are separate tokens; letters in math one by one", () => {
  assert.deepEqual(mathTokens("3m"), ["3", "m"]);
  same("a rope of 3m", "a rope of 3 m");
  same("$xy = 6$", "$x y = 6$");
  same("if $xy \\leq 3$", "if xy ≤ 3"); // letters written against an operator read as math
  same("then xy=6", "then $xy = 6$");
  differ("the word ELLIPSE", "the word RADII");
  assert.deepEqual(mathTokens("Find the unique odd integer"), ["find", "the", "unique", "odd", "integer"]);
  assert.deepEqual(mathTokens("**Problem:** Compute 2+2"), ["problem", "compute", "2", "+", "2"]);
});

test("thousands separators are removed; comma lists stay", () => {
  assert.equal(removeThousandsSeparators("1,000,000 and 1{,}000 and 10\\,000"), "1000000 and 1000 and 10000");
  assert.equal(removeThousandsSeparators("2,4,100"), "2,4,100");
  same("a prize of $\\$1{,}500{,}000$", "a prize of $1,500,000");
  same("2{,}016", "2016");
});

test("relations stay tokens, and numbers keep their decimals", () => {
  differ("Solve $x + 3 = 5$.", "Solve $x = 3 + 5$.");
  differ("$x < 3$", "$x > 3$");
  assert.deepEqual(mathTokens("3.14 and 3. Then"), ["3.14", "and", "3", "then"]);
});
