import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createReward } from "../../src/rewards/registry.ts";
import { context, input } from "./helpers.ts";

const row = { answer: "\\frac{1}{2}", solution: "so it is $\\boxed{\\frac12}$" };

describe("accuracy", () => {
  it("scores 1 for an equal final answer, 0 otherwise", async () => {
    const r = await createReward("accuracy")(
      [
        input("... so $\\boxed{0.5}$", row),
        input("... so $\\boxed{2}$", row),
        input("Final Answer: The final answer is $1/2$. I hope it is correct.", row),
      ],
      context(),
    );
    assert.deepEqual(r, [1, 0, 1]);
  });

  it("needs an anchor by default (open-rs): a bare last number does not count", async () => {
    const [bare] = await createReward("accuracy")([input("we get 0.5 at the end", row)], context());
    assert.equal(bare, 0);
    const [loose] = await createReward("accuracy", { pred: "answer" })(
      [input("we get 0.5 at the end", row)],
      context(),
    );
    assert.equal(loose, 1);
  });

  it("reads the gold from the first non-empty of goldFields", async () => {
    const r = createReward("accuracy", { goldFields: ["solution"] });
    assert.deepEqual(
      await r([input("$\\boxed{1/2}$", { answer: "7", solution: row.solution })], context()),
      [1],
    );
  });

  it("skips an unparseable or missing gold with a warning by default; 'one' and 'zero' on request", async () => {
    const bad = { answer: "\\frac{" };
    const ctx = context();
    assert.deepEqual(
      await createReward("accuracy")([input("$\\boxed{1}$", bad), input("$\\boxed{1}$", {})], ctx),
      [null, null],
    );
    assert.equal(ctx.warnings.length, 2);
    assert.ok(
      ctx.warnings.some((w) => /could not be parsed/.test(w)),
      ctx.warnings.join("; "),
    );
    assert.ok(
      ctx.warnings.some((w) => /no gold/.test(w)),
      ctx.warnings.join("; "),
    );
    assert.deepEqual(
      await createReward("accuracy", { unparseableGold: "one" })([input("x", bad)], context()),
      [1],
    );
    assert.deepEqual(
      await createReward("accuracy", { unparseableGold: "zero" })([input("x", bad)], context()),
      [0],
    );
  });
});

describe("cosine", () => {
  const correct = (tokens: number) => input("$\\boxed{1/2}$", row, tokens);
  const wrong = (tokens: number) => input("$\\boxed{3}$", row, tokens);

  it("uses the paper's values: correct 1.0 at length 0 down to 0.5 at Lmax; wrong 0.0 down to -0.5", async () => {
    const r = await createReward("cosine")(
      [correct(0), correct(3584), correct(1792), wrong(0), wrong(3584)],
      context(),
    );
    assert.ok(Math.abs((r[0] as number) - 1) < 1e-12);
    assert.ok(Math.abs((r[1] as number) - 0.5) < 1e-12);
    assert.ok(Math.abs((r[2] as number) - 0.75) < 1e-12);
    assert.ok(Math.abs(r[3] as number) < 1e-12);
    assert.ok(Math.abs((r[4] as number) + 0.5) < 1e-12);
  });

  it("clamps the length ratio (fixed) unless told to reproduce upstream's periodic reward", async () => {
    const [clamped] = await createReward("cosine")([correct(2 * 3584)], context());
    assert.ok(Math.abs((clamped as number) - 0.5) < 1e-12);
    const [periodic] = await createReward("cosine", { clampRatio: false })([correct(2 * 3584)], context());
    assert.ok(Math.abs((periodic as number) - 1) < 1e-12);
  });

  it("an unparseable gold scored 'one' or 'zero' gives that value flat, whatever the length", async () => {
    const bad = { answer: "\\frac{" };
    const long = input("$\\boxed{1/2}$", bad, 1792);
    assert.deepEqual(
      await createReward("cosine", { unparseableGold: "one" })([long, input("", bad, 0)], context()),
      [1, 1],
    );
    assert.deepEqual(await createReward("cosine", { unparseableGold: "zero" })([long], context()), [0]);
    assert.deepEqual(await createReward("cosine")([long], context()), [null]);
  });

  it("counts tokens by default, characters when asked", async () => {
    const text = "$\\boxed{1/2}$"; // 13 characters
    const [tokens] = await createReward("cosine", { maxLength: 13 })([input(text, row, 0)], context());
    const [chars] = await createReward("cosine", { maxLength: 13, unit: "chars" })(
      [input(text, row, 0)],
      context(),
    );
    assert.ok(Math.abs((tokens as number) - 1) < 1e-12);
    assert.ok(Math.abs((chars as number) - 0.5) < 1e-12);
  });
});

describe("length (Kimi k1.5)", () => {
  it("gives the shortest correct +0.5 and the longest -0.5; wrong answers at most 0", async () => {
    const group = [
      input("$\\boxed{1/2}$", row, 100),
      input("$\\boxed{1/2}$", row, 300),
      input("$\\boxed{7}$", row, 100),
      input("$\\boxed{7}$", row, 200),
    ];
    assert.deepEqual(await createReward("length")(group, context()), [0.5, -0.5, 0, 0]);
  });

  it("is 0 for all when all lengths are equal", async () => {
    const group = [input("$\\boxed{1/2}$", row, 5), input("$\\boxed{7}$", row, 5)];
    assert.deepEqual(await createReward("length")(group, context()), [0, 0]);
  });
});
