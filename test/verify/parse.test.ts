import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { show } from "../../src/verify/ast.ts";
import { normalizeAnswer } from "../../src/verify/normalize.ts";
import { ParseError, parseMath } from "../../src/verify/parser.ts";

const read = (s: string) => show(parseMath(normalizeAnswer(s)));

describe("parseMath", () => {
  it("reads numbers, fractions (also malformed), roots and mixed numbers", () => {
    assert.equal(read("-\\frac{10}{9}"), "-(10/9)");
    assert.equal(read("\\frac13"), "1/3");
    assert.equal(read("\\sqrt3"), "sqrt(3)");
    assert.equal(read("\\sqrt[3]{x}"), "sqrt(x, 3)");
    assert.equal(read("137 \\frac{1}{2}"), "137 + 1/2");
    assert.equal(read("3.61e2"), "3.61e2");
    assert.equal(read(".4"), ".4");
  });

  it("distinguishes lists, sets, tuples and intervals", () => {
    assert.equal(parseMath("1, 2, 3").type, "list");
    assert.equal(parseMath("\\{1, 2\\}").type, "set");
    assert.equal(parseMath("{1,3}").type, "set");
    const pair = parseMath("(1, 2)");
    assert.equal(pair.type, "tuple");
    assert.equal(pair.type === "tuple" && pair.paren2, true);
    assert.equal(parseMath("(1, 2, 3)").type, "tuple");
    assert.equal(read("[0, 1)"), "[0, 1)");
    assert.equal(read("(-\\infty, -3] \\cup [2, \\infty)"), "(-∞, -3] ∪ [2, ∞)");
    assert.equal(read("p=5,q=2;p=7,q=2"), "p = 5, q = 2, p = 7, q = 2");
    assert.equal(parseMath("(0;0;0),(0;-2;0)").type, "list");
  });

  it("reads relations, chains and ±", () => {
    assert.equal(read("x \\geq 5"), "x >= 5");
    assert.equal(read("f(2) < f(1) < f(4)"), "f(2) < f(1) < f(4)");
    assert.equal(read("x \\in [-2, 7]"), "x ∈ [-2, 7]");
    assert.equal(read("3 \\pm 2\\sqrt{2}"), "3 ± 2*sqrt(2)");
    assert.equal(read("x \\approx 11"), "x ≈ 11");
  });

  it("reads matrices (pmatrix, bmatrix, array) element-wise", () => {
    assert.equal(read("\\begin{pmatrix} 0 & 3 \\\\ 0 & -1 \\end{pmatrix}"), "[[0, 3], [0, -1]]");
    assert.equal(read("\\left[\\begin{array}{cc}1 & 2 \\\\3 & 4\\end{array}\\right]"), "[[1, 2], [3, 4]]");
  });

  it("reads functions, subscripts, sums, text and letter choices", () => {
    assert.equal(read("\\sin^2 x + \\cos^2 x"), "sin(x)^2 + cos(x)^2");
    assert.equal(read("\\tan^{-1} x"), "atan(x)");
    assert.equal(read("\\log_2 8"), "log(8, 2)");
    assert.equal(read("\\omega_{n}^{2}"), "omega_n^2");
    assert.equal(read("F_{n-k-1}"), "F_{n - k - 1}");
    assert.equal(read("\\sum_{k=0}^{n-1} k"), "sum(k=0..n - 1, k)");
    assert.equal(read("\\text{Evelyn}"), '"Evelyn"');
    assert.equal(read("\\text{(C)}"), '"C"');
    assert.equal(read("204_5"), "204_5");
    assert.equal(read("|x-2|"), "abs(x - 2)");
    assert.equal(read("10^10^10^10"), "10^(10^(10^10))");
  });

  it("rejects what is not math, and deep nesting without overflowing the stack", () => {
    assert.throws(() => parseMath("1 +"), ParseError);
    assert.throws(() => parseMath("\\frac{1}"), ParseError);
    assert.throws(() => parseMath(`${"{".repeat(10_000)}1${"}".repeat(10_000)}`), ParseError);
    assert.throws(() => parseMath(`${"(".repeat(10_000)}1${")".repeat(10_000)}`), ParseError);
  });
});
