import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { VerifyOptionsInput } from "../../src/verify/config.ts";
import { verifySync } from "../../src/verify/verify.ts";

/** Gold and prediction both given as answers (the prediction wrapped like a model would). */
function eq(gold: string, pred: string, opts: VerifyOptionsInput = {}): boolean {
  return verifySync(gold, `The answer is $\\boxed{${pred}}$.`, opts).equivalent;
}

describe("numbers", () => {
  it("compares exact rationals exactly", () => {
    assert.ok(eq("\\frac{1}{2}", "\\dfrac{2}{4}"));
    assert.ok(eq("0.5", "\\frac12"));
    assert.ok(eq("-5", "-5"));
    assert.ok(!eq("2", "\\frac{1+\\sqrt{5}}{2}"));
    assert.ok(!eq("4", "4\\sqrt{2}"));
    assert.ok(!eq("\\frac{1}{3}", "\\frac{1}{4}"));
  });

  it("compares decimals at the configured precision", () => {
    assert.ok(eq("\\frac{1}{3}", "0.333333"));
    assert.ok(eq("\\frac{1}{3}", "0.333", { precision: 3 }));
    assert.ok(!eq("\\frac{1}{3}", "0.333", { precision: 4 }));
    assert.ok(eq("\\sqrt{17}", "4.123105625617661", { precision: 5 }));
    assert.ok(!eq("16386.20", "16386.17"));
  });

  it("uses a relative tolerance for very large and very small numbers", () => {
    assert.ok(eq("4.46e19", "4.46 \\times 10^{19}"));
    assert.ok(!eq("4.46e19", "4.47 \\times 10^{19}"));
    assert.ok(!eq("1.39e-10", "2.39e-10"));
    assert.ok(eq("1.39e-10", "1.39 \\times 10^{-10}"));
  });

  it("reads thousands separators, decimal commas and degrees as numbers (not pairs, not radians)", () => {
    assert.ok(eq("1000.99", "1,000.99"));
    assert.ok(eq("12000023", "12,000,023"));
    assert.ok(eq("90", "90^\\circ"));
    assert.ok(!eq("\\frac{\\pi}{2}", "90^\\circ"));
    assert.ok(eq("32349", "32,\\! 349"));
    assert.ok(!eq("32349", "32, 349"));
  });

  it("accepts percent both as the number and as a fraction of 100", () => {
    assert.ok(eq("28\\%", "28\\%"));
    assert.ok(eq("28\\%", "0.28"));
    assert.ok(eq("28\\%", "28"));
    assert.ok(!eq("28\\%", "0.27"));
  });
});

describe("expressions", () => {
  it("decides identities with variables", () => {
    assert.ok(eq("\\frac{x+2}{7}", "\\frac{x}{7}+\\frac{2}{7}"));
    assert.ok(eq("\\tan^2(y)+1", "\\sec^2(y)"));
    assert.ok(eq("(x+1)^2", "x^2+2x+1"));
    assert.ok(!eq("x+2n+1", "x+1"));
    assert.ok(!eq("(a+5)(b+2)", "(+5)(b+2)"));
    assert.ok(
      eq(
        "\\frac{\\sqrt{\\sqrt{11}+\\sqrt{194}}}{15+2\\sqrt{33}}",
        "\\frac{\\sqrt{\\sqrt{11}+\\sqrt{194}}}{2\\sqrt{33}+15}",
      ),
    );
  });

  it("matches variables by name unless strict is off", () => {
    assert.ok(!eq("f(x)", "f(y)"));
    assert.ok(eq("f(x)", "f(y)", { strict: false }));
  });

  it("handles sums with symbolic bounds", () => {
    const g = "F_n = \\sum_{k=0}^{n-1} F_k F_{n-k-1}";
    assert.ok(eq(g, "F_n = \\sum_{k=0}^{n-1} F_{n-k-1} F_k"));
    assert.ok(!eq(g, "F_n = \\sum_{k=0}^{n-2} F_k F_{n-k-2}"));
  });
});

describe("structure", () => {
  it("compares comma lists as sets and parenthesised tuples in order", () => {
    assert.ok(eq("-2,1", "1,-2"));
    assert.ok(eq("(1,3)", "{1,3}"));
    assert.ok(!eq("(3,1)", "{1,3}"));
    assert.ok(eq("(2,2),(1,3),(3,3)", "(3,3),(2,2),(1,3)"));
    assert.ok(!eq("(1,2,3)", "(3,2,1)"));
    assert.ok(!eq("1,2", "1"));
  });

  it("compares intervals by endpoints and openness, unions in any order", () => {
    assert.ok(eq("[0,1)", "[0,1)"));
    assert.ok(!eq("(0,9)", "[0,9)"));
    assert.ok(eq("(2,12)\\cup(12,102)", "(12,102)\\cup(2,12)"));
    assert.ok(!eq("[-3,2]", "(-\\infty,-3]\\cup[2,\\infty)"));
    assert.ok(eq("(\\frac{3}{5},\\frac{8}{3}]", "(0.6,2.6667]", { precision: 2 }));
  });

  it("expands ±", () => {
    assert.ok(eq("1 \\pm \\sqrt{19}", "1+\\sqrt{19}, 1-\\sqrt{19}"));
    assert.ok(eq("\\pm 2021", "\\{-2021, 2021\\}"));
    assert.ok(!eq("\\pm 2021", "2021"));
  });

  it("compares matrices element-wise, after folding matrix arithmetic", () => {
    const m = "\\begin{pmatrix}6 & 8 \\\\ 10 & 12\\end{pmatrix}";
    assert.ok(eq(m, "\\begin{bmatrix}6 & 8 \\\\ 10 & 12\\end{bmatrix}"));
    assert.ok(
      eq(
        m,
        "\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix} + \\begin{pmatrix}5 & 6 \\\\ 7 & 8\\end{pmatrix}",
      ),
    );
    assert.ok(!eq(m, "\\begin{pmatrix}6 & 8 \\\\ 10 & 13\\end{pmatrix}"));
    assert.ok(!eq(m, "\\begin{pmatrix}6 & 8 & 10 & 12\\end{pmatrix}"));
  });

  it("compares text answers and multiple-choice letters", () => {
    assert.ok(eq("\\text{Evelyn}", "\\text{Evelyn}"));
    assert.ok(eq("\\text{(C)}", "C"));
    assert.ok(eq("\\text{odd}", "odd"));
    assert.ok(!eq("\\text{13}", "13"));
    assert.ok(!eq("d", "\\text{E}"));
  });

  it("accepts either the letter or the value of a choice written as '(B) 12'", () => {
    assert.ok(eq("B", "\\textbf{(B)} 12"));
    assert.ok(eq("12", "(B)\\ 12"));
    assert.ok(!eq("C", "(B) 12"));
    assert.ok(!eq("\\text{(C)}", "\\text{(C)} + 1"));
  });
});

describe("relations", () => {
  it("unwraps predicted equations and gold assignments", () => {
    assert.ok(eq("11", "x = 5+5+1 = 11"));
    assert.ok(eq("k = 1", "1"));
    assert.ok(eq("x = 11", "x = 5+5+1 = 7 = 11"));
    assert.ok(eq("\\frac{1}{3}", "x = \\frac13 \\approx 0.33"));
    assert.ok(!eq("7 = 11a+c", "11a+c"));
    assert.ok(!eq("2x + z = 1", "1"));
  });

  it("compares equations up to a factor and inequalities up to a positive factor or a flip", () => {
    assert.ok(eq("2x+4y-3=0", "y=-\\frac{1}{2}x+\\frac{3}{4}"));
    assert.ok(eq("x^2/4 + y^2/3 = 1", "x^2/16 + y^2/12 = 1/4"));
    assert.ok(eq("x < 1", "-x > -1"));
    assert.ok(eq("x \\leq 5", "5 \\geq x"));
    assert.ok(!eq("x > 5", "x < 5"));
    assert.ok(!eq("x \\geq 5", "x \\leq 5"));
  });

  it("reads a gold inequality as an interval; a predicted one only when allowed", () => {
    assert.ok(eq("-2 \\le x \\le 7", "x \\in [-2,7]"));
    assert.ok(eq("-793 < a < 10", "(-793, 10)"));
    assert.ok(eq("1\\leq|z|\\leq \\frac{3}{2}", "z \\in [-\\frac{3}{2}, -1] \\cup [1, \\frac{3}{2}]"));
    assert.ok(!eq("x \\in [-2,7]", "-2 \\le x \\le 7"));
    assert.ok(eq("x \\in [-2,7]", "-2 \\le x \\le 7", { allowSetRelationComparison: true }));
  });
});

describe("never equal by accident", () => {
  it("does not call two unparseable or empty answers equal", () => {
    assert.equal(verifySync("", "").equivalent, false);
    assert.equal(verifySync("no math here", "nothing either").equivalent, false);
  });
});
