import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { show } from "../../src/verify/ast.ts";
import {
  EXTRACTION_PRESETS,
  type ExtractionConfig,
  ExtractionConfigSchema,
} from "../../src/verify/config.ts";
import { extractAnswer } from "../../src/verify/extract.ts";

const answer = EXTRACTION_PRESETS.answer;
const got = (text: string, cfg: ExtractionConfig = answer) => extractAnswer(text, cfg).values.map(show);

describe("extractAnswer: anchors and priorities", () => {
  it("prefers 'final answer is $X$. I hope' and boxes over other math", () => {
    assert.deepEqual(got("We get $x=3$. Final Answer: The final answer is $42$. I hope it is correct."), [
      "42",
    ]);
    assert.deepEqual(got("First $7$, then $\\boxed{12}$, and finally $9$."), ["12"]);
  });

  it("takes the last box, and several boxes when they read as one answer", () => {
    assert.deepEqual(got("try \\boxed{1} ... long detour here ... then \\boxed{2}"), ["2"]);
    assert.deepEqual(got("The integers are \\boxed{-2} and \\boxed{1}."), ["-2, 1"]);
  });

  it("reads 'answer: ...' and 'answer ...' within 50 characters", () => {
    assert.deepEqual(got("Answer: $ 9 $"), ["9"]);
    assert.deepEqual(got("Answer \\[ 9 \\]"), ["9"]);
    assert.deepEqual(got("Answer \\( (9+1) \\)"), ["9 + 1"]);
  });

  it("keeps inline math on one line, display math across lines", () => {
    const latexOnly = ExtractionConfigSchema.parse({ targets: ["latex"] });
    assert.deepEqual(got("Answer $ \n 9 \n $", latexOnly), []);
    assert.deepEqual(got("Answer $$ \n 9 \n $$", latexOnly), ["9"]);
    assert.deepEqual(got("Answer \\[ \n 9 \n \\]", latexOnly), ["9"]);
  });

  it("finds plain numbers: separators, decimal commas, currency, percent, units", () => {
    const expr = ExtractionConfigSchema.parse({ targets: ["expr"] });
    assert.deepEqual(got("7,425,000", expr), ["7425000"]);
    assert.deepEqual(got("1 000", expr), ["1000"]);
    assert.deepEqual(got("Soucis : 2,74 $ a..", expr), ["2.74"]);
    assert.deepEqual(got(".4", expr), ["0.4"]);
    assert.deepEqual(got("the number is not 10 which is 1,000.99€", expr), ["1000.99"]);
    assert.deepEqual(got("$1,000.99", expr), ["1000.99"]);
    assert.deepEqual(got("so it is 1,000.99m²", expr), ["1000.99"]);
    assert.deepEqual(got("28 percent", expr), ["28%"]);
    assert.deepEqual(got("AZYUK2A", expr), []);
    assert.deepEqual(got("the probability is 2/3.", expr), ["2/3"]);
  });

  it("reads a bare LaTeX gold as a whole, not its last fraction", () => {
    assert.deepEqual(got("\\left( \\frac{3}{2}, -13 \\right)", EXTRACTION_PRESETS.gold), ["(3/2, -13)"]);
    assert.deepEqual(got("1\\frac{4}{5}", EXTRACTION_PRESETS.gold), ["1 + 4/5"]);
    assert.deepEqual(got("\\$36", EXTRACTION_PRESETS.gold), ["36"]);
  });
});

describe("extractAnswer: configuration", () => {
  it("boxedPriority -1 ignores boxes; a higher priority lets 'final answer' win", () => {
    const noBox = ExtractionConfigSchema.parse({ targets: ["latex"], boxedPriority: -1, anchorless: false });
    assert.deepEqual(got("\\boxed{1}", noBox), []);
    const late = ExtractionConfigSchema.parse({ boxedPriority: 100 });
    assert.deepEqual(got("final answer is $9999$, \\boxed{1}", late), ["9999"]);
  });

  it("first_match stops at the first match even when it does not parse; any_match goes on", () => {
    const text = "Then $2$ and finally $\\frac{1}{$";
    const first = ExtractionConfigSchema.parse({ targets: ["latex"], mode: "first_match" });
    const any = ExtractionConfigSchema.parse({ targets: ["latex"], mode: "any_match" });
    assert.deepEqual(got(text, first), []);
    assert.deepEqual(got(text, any), ["2"]);
    assert.equal(extractAnswer(text, first).fallback, "\\frac{1}{");
  });

  it("open-rs answer config needs an anchor: a bare $x$ alone does not count", () => {
    const cfg = EXTRACTION_PRESETS["open-rs-answer"];
    assert.deepEqual(got("so we get $5$", cfg), []);
    assert.deepEqual(got("so we get $\\boxed{5}$", cfg), ["5"]);
  });

  it("never throws on hostile text", () => {
    for (const text of [
      "$".repeat(5000),
      "\\boxed{".repeat(3000),
      "\ud800\udfff\ud800 $1$",
      "answer: ".repeat(2000),
    ]) {
      assert.doesNotThrow(() => extractAnswer(text, answer));
    }
  });
});
