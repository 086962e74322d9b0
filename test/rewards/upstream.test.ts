/**
 * The *_upstream rewards against values worked out by hand from open-rs's
 * rewards.py (knoveleng/open-rs 2889c47), with the paper's cosine arguments
 * (grpo.py:76-91, README --cosine_max_len 3584):
 *   accuracy: 1.0 if verify(answer, gold) else 0.0; 1.0 when nothing matched in the gold
 *   cosine:   c = cos(L_chars / 3584 * pi), unclamped;
 *             correct 0.5 + 0.5 * (1.0 - 0.5) * (1 + c), wrong -0.5 + 0.5 * (0.0 + 0.5) * (1 + c);
 *             1.0 flat when nothing matched in the gold
 *   length:   lambda = 0.5 - (L - min) / (max - min) within the group; correct lambda, wrong min(0, lambda)
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { composeRewards } from "../../src/rewards/compose.ts";
import { createReward } from "../../src/rewards/registry.ts";
import { context, input } from "./helpers.ts";

// The gold is the worked solution; `answer` holds something else, to show it is not read.
const row = {
  answer: "7",
  solution: "Halving gives $\\frac{2}{4}$, so the answer is $\\boxed{\\frac{1}{2}}$.",
};
const noMath = { answer: "7", solution: "It is the number five." }; // nothing matches: upstream's 1.0
const plainNumber = { answer: "7", solution: "5" }; // LaTeX-only extraction finds nothing in a bare number
const brokenMath = { answer: "7", solution: "Thus $\\frac{$." }; // a match that does not parse: compared as text

/** A completion of exactly `chars` characters ending in `ending`. */
const ofLength = (chars: number, ending: string) => "x".repeat(chars - ending.length) + ending;
const RIGHT = "$\\boxed{0.5}$";
const WRONG = "$\\boxed{3}$";

const near = (got: number | null, want: number, what: string) =>
  assert.ok(got !== null && Math.abs(got - want) < 1e-12, `${what}: ${got} vs ${want}`);

describe("accuracy_upstream", () => {
  const reward = createReward("accuracy_upstream");

  it("1 for an equal final answer, 0 for a wrong one, an empty completion, or an answer without anchor", async () => {
    const r = await reward(
      [
        input(`so ${RIGHT}`, row),
        input(`so ${WRONG}`, row),
        input("", row),
        input("we get 1/2 and $0.5$ at the end", row),
        input("Final Answer: The final answer is $\\frac{1}{2}$. I hope it is correct.", row),
      ],
      context(),
    );
    assert.deepEqual(r, [1, 0, 0, 0, 1]);
  });

  it("1.0 for every completion when nothing matches in the gold (a bare number included), without warning", async () => {
    const ctx = context();
    const r = await reward(
      [input(WRONG, noMath), input("", noMath), input(RIGHT, plainNumber), input("", plainNumber)],
      ctx,
    );
    assert.deepEqual(r, [1, 1, 1, 1]);
    assert.deepEqual(ctx.warnings, []);
  });

  it("a gold that matches but does not parse is not 'unparseable': it is compared as text", async () => {
    const r = await reward(
      [input(WRONG, brokenMath), input("The answer is $\\frac{$", brokenMath)],
      context(),
    );
    assert.deepEqual(r, [0, 1]);
    // the library's own accuracy (unparseableGold: one) counts it as unparseable
    assert.deepEqual(
      await createReward("accuracy", { goldFields: ["solution"], unparseableGold: "one" })(
        [input(WRONG, brokenMath)],
        context(),
      ),
      [1],
    );
  });

  it("calls verify with the answer first: an interval answer to an inequality gold is wrong", async () => {
    const inequality = { solution: "So $1 < x < 2$." };
    const interval = input("$\\boxed{(1,2)}$", inequality);
    assert.deepEqual(await reward([interval], context()), [0]);
    const goldFirst = createReward("accuracy", { goldFields: ["solution"], gold: "open-rs-gold" });
    assert.deepEqual(await goldFirst([interval], context()), [1]);
  });

  it("a row without a solution is an error naming the field (upstream: KeyError)", async () => {
    await assert.rejects(async () => reward([input(RIGHT, { answer: "0.5" })], context()), /solution/);
  });

  it("takes no parameters", () => {
    assert.throws(
      () => createReward("accuracy_upstream", { goldFields: ["answer"] }),
      /goldFields|Unrecognized/,
    );
  });
});

describe("cosine_upstream", () => {
  const reward = createReward("cosine_upstream");
  const correct = (L: number) => 0.5 + 0.5 * (1.0 - 0.5) * (1 + Math.cos((L / 3584) * Math.PI));
  const wrong = (L: number) => -0.5 + 0.5 * (0.0 - -0.5) * (1 + Math.cos((L / 3584) * Math.PI));

  it("correct: 1.0 at 0 characters, 0.75 at 1,792, 0.5 at 3,584, back to 1.0 at 7,168 (no clamp)", async () => {
    const lengths = [RIGHT.length, 1792, 3584, 5376, 7168, 9000];
    const r = await reward(
      lengths.map((L) => input(ofLength(L, RIGHT), row, 1)),
      context(),
    );
    for (const [i, L] of lengths.entries()) near(r[i], correct(L), `correct at ${L}`);
    near(r[1], 0.75, "1792");
    near(r[2], 0.5, "3584");
    near(r[3], 0.75, "5376");
    near(r[4], 1.0, "7168");
  });

  it("wrong, empty or without an answer: 0.0 at 0 characters down to -0.5 at 3,584, periodic after", async () => {
    const r = await reward(
      [
        input("", row),
        input(ofLength(3584, WRONG), row),
        input(ofLength(7168, WRONG), row),
        input("I do not know.", row),
        input(ofLength(1792, "no answer here"), row),
      ],
      context(),
    );
    near(r[0], 0.0, "empty");
    near(r[1], -0.5, "3584");
    near(r[2], 0.0, "7168");
    near(r[3], wrong(14), "no answer, 14 characters");
    near(r[4], -0.25, "no answer, 1792 characters");
  });

  it("counts characters as Python's len does (code points), not tokens", async () => {
    const text = `${"中".repeat(1000)}${"😀".repeat(792)}${RIGHT}`; // 1,792 + 13 code points
    const [v] = await reward([input(text, row, 5)], context());
    near(v, correct(1792 + RIGHT.length), "code points");
  });

  it("1.0 flat, with no length signal, when nothing matches in the gold", async () => {
    const r = await reward(
      [input("", noMath), input(ofLength(1792, WRONG), noMath), input(ofLength(3584, RIGHT), plainNumber)],
      context(),
    );
    assert.deepEqual(r, [1, 1, 1]);
  });

  it("takes the paper's cosine values by default and upstream's own names for them", async () => {
    const short = createReward("cosine_upstream", { maxLength: 1000 }); // grpo.py's default
    const [v] = await short([input(ofLength(500, RIGHT), row)], context());
    near(v, 0.75, "Lmax 1000, 500 characters");
    assert.throws(() => createReward("cosine_upstream", { unit: "tokens" }), /unit|Unrecognized/);
  });
});

describe("length_upstream", () => {
  it("lambda within each group, in characters; an unparseable gold counts as correct", async () => {
    const r = await createReward("length_upstream")(
      [
        // group 0: 20, 30, 40 characters; right, right, wrong
        { ...input(ofLength(20, RIGHT), row), group: 0 },
        { ...input(ofLength(30, RIGHT), row), group: 0 },
        { ...input(ofLength(40, WRONG), row), group: 0 },
        // group 1: 100, 200 characters, unparseable gold (both "correct")
        { ...input(ofLength(100, WRONG), noMath), group: 1 },
        { ...input(ofLength(200, WRONG), noMath), group: 1 },
        // group 2: an empty completion and one without an answer (21 characters): both wrong
        { ...input("", row), group: 2 },
        { ...input("no answer here at all", row), group: 2 },
      ],
      context(),
    );
    assert.deepEqual(r, [0.5, 0, -0.5, 0.5, -0.5, 0, -0.5]);
  });

  it("all 0 when every length in the group is equal", async () => {
    const r = await createReward("length_upstream")(
      [input(ofLength(30, RIGHT), row), input(ofLength(30, WRONG), row)],
      context(),
    );
    assert.deepEqual(r, [0, 0]);
  });
});

describe("the paper's reward set-ups", () => {
  it("Experiment 3 as run: format + 2 x cosine_upstream", async () => {
    const composed = await composeRewards({
      rewards: [
        { name: "format", weight: 1, params: { variant: "think-close" } },
        { name: "cosine_upstream", weight: 2 },
      ],
    });
    const think = "reasoning\n</think>\n";
    const s = await composed.score(
      [input(ofLength(1792, `${think}${RIGHT}`), row), input(ofLength(1792, WRONG), row)],
      context(),
    );
    near(s.total[0], 1 + 2 * 0.75, "format and a correct answer at 1,792 characters");
    near(s.total[1], 2 * -0.25, "no format, a wrong answer at 1,792 characters");
  });
});
