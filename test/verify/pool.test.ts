import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { VerifierPool } from "../../src/verify/pool.ts";
import { verifySync } from "../../src/verify/verify.ts";

describe("VerifierPool", () => {
  const pool = new VerifierPool({ workers: 2 });
  after(() => pool.close());

  it("answers in a worker like verifySync does in-thread", async () => {
    const pairs: [string, string][] = [
      ["\\frac{1}{2}", "The answer is $\\boxed{0.5}$"],
      ["(0,9) \\cup (9,36)", "$\\boxed{(0,9)\\cup(9,36)}$"],
      ["3", "$\\boxed{4}$"],
    ];
    const results = await pool.verifyMany(pairs.map(([gold, pred]) => ({ gold, pred })));
    assert.deepEqual(
      results.map((r) => r.equivalent),
      pairs.map(([g, p]) => verifySync(g, p).equivalent),
    );
    assert.deepEqual(results[0].pred.parsed, ["0.5"]);
  });

  it("stops a comparison past its limit inside the worker (cooperative deadline)", async () => {
    const many = Array.from({ length: 3000 }, (_, i) => `x^${i}`).join(", ");
    const reversed = Array.from({ length: 3000 }, (_, i) => `x^${2999 - i}+1`).join(", ");
    const r = await pool.verify(many, `$\\boxed{${reversed}}$`, { timeoutMs: 5 });
    assert.equal(r.timedOut, true);
    assert.equal(r.equivalent, false);
  });

  it("kills and replaces a worker that never answers (hard limit), without blocking the caller", async () => {
    const before = pool.hardTimeouts;
    const blocked = await pool.block(60_000, 20);
    assert.equal(blocked, null);
    assert.equal(pool.hardTimeouts, before + 1);
    const r = await pool.verify("2", "$\\boxed{2}$");
    assert.equal(r.equivalent, true);
  });

  it("answers adversarial inputs without crashing", async () => {
    const huge = "9".repeat(100_000);
    const matrix = `\\begin{pmatrix}${Array.from({ length: 120 }, () => Array(120).fill("1").join(" & ")).join(" \\\\ ")}\\end{pmatrix}`;
    const cases: [string, string][] = [
      [`${"{".repeat(10_000)}1${"}".repeat(10_000)}`, "1"],
      ["10^10^10^10", "$\\boxed{10^10^10^10 + 1}$"],
      [huge, `$\\boxed{${huge}}$`],
      [huge, `$\\boxed{${huge.slice(1)}8}$`],
      [matrix, `$\\boxed{${matrix}}$`],
      ["\ud800x\udc00", "$\\boxed{\ud800}$ \udfff"],
      ["\\boxed{".repeat(5000), "\\frac{".repeat(5000)],
    ];
    const results = await Promise.all(cases.map(([g, p]) => pool.verify(g, p, { timeoutMs: 1500 })));
    for (const r of results) assert.equal(typeof r.equivalent, "boolean");
    assert.equal(results[1].equivalent, false, "10^10^10^10 + 1 is not 10^10^10^10");
    assert.equal(results[2].timedOut || results[2].equivalent, true);
    assert.equal(results[3].equivalent, false);
    assert.equal(results[4].timedOut || results[4].equivalent, true);
  });

  it("rejects work after close", async () => {
    const p = new VerifierPool({ workers: 1 });
    await p.close();
    await assert.rejects(p.verify("1", "1"), /closed/);
  });
});
