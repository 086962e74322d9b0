import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runVerifyBench } from "../../bench/verify.ts";
import { dataDir, equalRewritings, loadGolds, wrongRewriting } from "../../src/verify/gold-data.ts";
import { verifySync } from "../../src/verify/verify.ts";

const DATA = dataDir();
const SKIP = DATA ? false : "shared benchmark data not found (../shared/data or REASONRL_DATA_DIR): skipped";

describe("gold answers of the benchmarks", () => {
  it("all parse, equal themselves and their rewritings, and differ from a wrong answer", {
    skip: SKIP,
  }, (t) => {
    const { golds } = loadGolds();
    assert.ok(golds.length > 1000, `only ${golds.length} golds`);
    const problems: string[] = [];
    let parsed = 0;
    for (const g of golds) {
      const self = verifySync(g.answer, g.answer, { pred: "gold" });
      if (self.gold.parsed.length > 0) parsed++;
      else problems.push(`${g.id}: not parsed: ${g.answer}`);
      if (!self.equivalent) problems.push(`${g.id}: not equal to itself: ${g.answer}`);
      for (const pred of equalRewritings(g.answer)) {
        if (!verifySync(g.answer, pred).equivalent) problems.push(`${g.id}: rewriting not accepted: ${pred}`);
      }
      if (verifySync(g.answer, wrongRewriting(g.answer)).equivalent)
        problems.push(`${g.id}: wrong answer accepted`);
    }
    t.diagnostic(`parse rate ${((100 * parsed) / golds.length).toFixed(1)}% (${parsed}/${golds.length})`);
    assert.deepEqual(problems, []);
  });
});

describe("runVerifyBench", () => {
  it("reports the contract's figures and both sides of each target", async () => {
    const r = await runVerifyBench({ limit: 25, workers: 1 });
    assert.equal(r.bench, "verify");
    assert.equal(r.pairs, 4 * Math.min(25, loadGolds().golds.length));
    for (const k of ["per_s", "p50_ms", "p99_ms", "timeouts", "target_per_s", "target_p99_ms"] as const) {
      assert.equal(typeof r[k], "number", k);
    }
    assert.equal(r.equal_accepted, r.equal_total);
    assert.equal(r.wrong_rejected, r.wrong_total);
    assert.equal(r.adversarial_answered, r.adversarial_cases);
  });
});
