import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { boxedContent, findBoxes } from "../../src/verify/boxed.ts";
import { normalizeAnswer } from "../../src/verify/normalize.ts";

const norm = (s: string) => normalizeAnswer(s);

describe("normalizeAnswer", () => {
  it("removes sizing and spacing commands", () => {
    assert.equal(norm("\\left( 3, \\frac{\\pi}{2} \\right)"), "( 3, \\frac{\\pi}{2} )");
    assert.equal(norm("10,\\!080"), "10080");
    assert.equal(norm("a\\,b\\;c\\quad d"), "a b c d");
  });

  it("maps \\dfrac, \\tfrac, \\cfrac to \\frac and \\dbinom to \\binom", () => {
    assert.equal(norm("\\dfrac{1}{2}+\\tfrac12+\\cfrac{3}{4}"), "\\frac{1}{2}+\\frac12+\\frac{3}{4}");
    assert.equal(norm("\\dbinom{5}{2}"), "\\binom{5}{2}");
  });

  it("strips units in \\text, \\mbox and plain words after a number", () => {
    assert.equal(norm("15\\mbox{ cm}^2"), "15");
    assert.equal(norm("125\\textnormal{ miles}"), "125");
    assert.equal(norm("0.06 \\text{ yuan}"), "0.06");
    assert.equal(norm("125 miles"), "125");
    assert.equal(norm("5cm"), "5");
    // a lone text answer is not a unit
    assert.equal(norm("\\text{Evelyn}"), "\\text{Evelyn}");
    // single letters count as units only after a space
    assert.equal(norm("2h"), "2h");
  });

  it("drops degree signs and turns percent words into %", () => {
    assert.equal(norm("90^\\circ"), "90");
    assert.equal(norm("30^{\\circ}"), "30");
    assert.equal(norm("45°"), "45");
    assert.equal(norm("28 percent"), "28%");
    assert.equal(norm("28 pct"), "28%");
    assert.equal(norm("28\\%"), "28%");
  });

  it("joins thousands separators but keeps pairs in brackets", () => {
    assert.equal(norm("14{,}916"), "14916");
    assert.equal(norm("12,000,023"), "12000023");
    assert.equal(norm("1 000 000"), "1000000");
    assert.equal(norm("(1,100)"), "(1,100)");
    assert.equal(norm("32, 349"), "32, 349");
  });

  it("fixes doubled backslashes outside matrices and trailing punctuation", () => {
    assert.equal(norm("\\\\frac{1}{3}."), "\\frac{1}{3}");
    assert.equal(
      norm("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}"),
      "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}",
    );
    assert.equal(norm("x = 5;"), "x = 5");
  });

  it("turns 'and'/'or' joiners into commas, outside \\text only", () => {
    assert.equal(norm("12\\text{ and }13"), "12,13");
    assert.equal(norm("3 or 4"), "3,4");
    assert.equal(norm("\\text{black and white}"), "\\text{black and white}");
  });

  it("keeps what follows an implication arrow", () => {
    assert.equal(norm("2x = 4 \\Rightarrow x = 2"), "x = 2");
  });
});

describe("boxed", () => {
  it("finds boxes with nested braces and unclosed boxes", () => {
    const boxes = findBoxes("a \\boxed{\\frac{1}{2}} b \\fbox{3} c \\boxed{x");
    assert.deepEqual(
      boxes.map((b) => b.content),
      ["\\frac{1}{2}", "3", "x"],
    );
  });

  it("keeps the last group of boxes joined by separators", () => {
    assert.equal(boxedContent("\\boxed{1} papers and \\boxed{2} bins", "last"), "1,2");
    assert.equal(boxedContent("\\boxed{1} no no no no no \\boxed{2}", "last"), "2");
    assert.equal(boxedContent("\\boxed{1}, \\boxed{2}, \\boxed{3}", "last"), "1,2,3");
    assert.equal(boxedContent("\\boxed{1} blah blah blah blah \\boxed{2}", "all"), "1,2");
    assert.equal(boxedContent("no box", "last"), null);
  });
});
