import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { answerClassAgreement } from "../../bench/verify.ts";
import { show } from "../../src/verify/ast.ts";
import { isPlainNumber, looksLikeMath } from "../../src/verify/bare-answers.ts";
import { parseCases } from "../../src/verify/batch.ts";
import { ANSWER_EXTRACTION, EXTRACTION_PRESETS, GOLD_EXTRACTION } from "../../src/verify/config.ts";
import { extractAnswer } from "../../src/verify/extract.ts";
import { closeAtPrecision } from "../../src/verify/scalar.ts";
import { verifySync } from "../../src/verify/verify.ts";

const CLASSES = fileURLToPath(new URL("./fixtures/answer-classes.jsonl", import.meta.url));
const UPSTREAM = fileURLToPath(new URL("./fixtures/math-verify-cases.jsonl", import.meta.url));

/** Every gold and prediction string of both fixture files. */
function fixtureStrings(): string[] {
  const out = new Set<string>();
  for (const file of [CLASSES, UPSTREAM])
    for (const c of parseCases(readFileSync(file, "utf8"), file)) {
      out.add(c.gold);
      out.add(c.pred);
    }
  return [...out];
}

describe("answer classes (docs/VERIFY.md)", () => {
  const rows = answerClassAgreement(CLASSES);

  it("has 20 or more cases per class, positives and negatives", () => {
    const cases = parseCases(readFileSync(CLASSES, "utf8"), "answer-classes.jsonl");
    assert.deepEqual(
      rows.map((r) => r.class),
      ["bare", "script", "approx", "precision", "boxed"],
    );
    for (const r of rows) {
      const of = cases.filter((c) => c.class === r.class);
      assert.ok(of.length >= 20, `${r.class}: ${of.length} cases`);
      assert.ok(of.filter((c) => c.expected).length >= 5, `${r.class}: too few positives`);
      assert.ok(of.filter((c) => !c.expected).length >= 5, `${r.class}: too few negatives`);
    }
  });

  for (const cls of ["bare", "script", "approx", "precision", "boxed"]) {
    it(`agrees with every label of class "${cls}"`, (t) => {
      const r = rows.find((x) => x.class === cls);
      assert.ok(r);
      t.diagnostic(`${cls}: ${r.agree}/${r.cases}`);
      assert.deepEqual(
        r.disagreements.map((d) => `expected ${d.expected}: ${d.gold} vs ${d.pred} (${d.note})`),
        [],
      );
    });
  }
});

describe("properties over every fixture string", () => {
  const strings = fixtureStrings();

  it("identical strings are equivalent", () => {
    const failed = strings.filter((s) => !verifySync(s, s).equivalent);
    assert.deepEqual(failed, []);
  });

  it("a string that reads as math is read alike as a gold and as a prediction", () => {
    // plain numbers differ on purpose: gold "-2,1" is a list of roots, a predicted "3,5" a decimal comma
    const differ: string[] = [];
    for (const s of strings) {
      if (s.length > 200 || !looksLikeMath(s) || isPlainNumber(s)) continue;
      const gold = extractAnswer(s, GOLD_EXTRACTION).values.map(show).join(" | ");
      const pred = extractAnswer(s, ANSWER_EXTRACTION).values.map(show).join(" | ");
      if (gold !== pred) differ.push(`${s}: gold ${gold}, prediction ${pred}`);
    }
    assert.deepEqual(differ, []);
  });

  it("a bare answer keeps its verdict when written after 'The answer is' or 'Answer:'", () => {
    const cases = parseCases(readFileSync(CLASSES, "utf8"), "answer-classes.jsonl").filter(
      (c) => c.class === "bare" && !/answer|[.]$/i.test(c.pred) && !/[A-Za-z]{3,}/.test(c.pred),
    );
    assert.ok(cases.length >= 20);
    const changed: string[] = [];
    for (const c of cases)
      for (const written of [`The answer is ${c.pred}.`, `Answer: ${c.pred}`, `答案是 ${c.pred}`]) {
        if (verifySync(c.gold, written).equivalent !== c.expected) changed.push(`${c.gold} vs ${written}`);
      }
    assert.deepEqual(changed, []);
  });
});

describe("settings behind the rules", () => {
  const read = (text: string, preset: keyof typeof EXTRACTION_PRESETS) =>
    extractAnswer(text, EXTRACTION_PRESETS[preset]).values.map(show);

  it("reads bare answers whole and other scripts only where asked (bareMath, languages)", () => {
    assert.deepEqual(read("(1, 2, 3)", "answer"), ["(1, 2, 3)"]);
    assert.deepEqual(read("(1, 2, 3)", "lighteval"), ["3"]); // Math-Verify: the last number
    assert.deepEqual(read("所以答案是3/4。", "answer"), ["3/4"]);
    assert.deepEqual(read("所以答案是3/4。", "lighteval"), []);
    assert.deepEqual(read("Die Antwort ist 42, nicht 24.", "answer"), ["42"]);
    assert.deepEqual(read("Die Antwort ist 42, nicht 24.", "lighteval"), ["24"]);
  });

  it("rounds both sides to the precision, half away from zero on the decimal digits", () => {
    assert.ok(closeAtPrecision(0.3333335, 0.333334, 6));
    assert.ok(!closeAtPrecision(0.3333334, 0.333334, 6));
    assert.ok(closeAtPrecision(-2.0000005, -2.000001, 6));
    const piTo5 = Number.parseFloat("3.14159"); // π to five places, as a model writes it
    assert.ok(!closeAtPrecision(Math.PI, piTo5, 6));
    assert.ok(closeAtPrecision(Math.PI, piTo5, 5));
    assert.ok(closeAtPrecision(4.46e19, 4.46 * 1e19, 6)); // double rounding noise
    assert.ok(!closeAtPrecision(1.39e-10, 2.39e-10, 6)); // too small to round: relative
  });
});
