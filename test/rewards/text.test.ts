import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createReward } from "../../src/rewards/registry.ts";
import { context, input } from "./helpers.ts";

const one = async (name: string, params: unknown, text: string, tokens = 0) =>
  (await createReward(name, params)([input(text, {}, tokens)], context()))[0] as number;

describe("reasoning_steps", () => {
  it("counts step markers up to the target", async () => {
    assert.equal(await one("reasoning_steps", {}, "Step 1: a\nStep 2: b\nStep 3: c\nStep 4: d"), 1);
    assert.equal(await one("reasoning_steps", {}, "First, we add. Finally, done."), 2 / 3);
    assert.equal(await one("reasoning_steps", {}, "just an answer"), 0);
  });

  it("counts numbered lines everywhere, or only at the very start as upstream", async () => {
    const text = "1. a\n2. b\n3. c";
    assert.equal(await one("reasoning_steps", {}, text), 1);
    assert.equal(await one("reasoning_steps", { numberedLines: "string-start" }, text), 1 / 3);
  });
});

describe("repetition", () => {
  it("is 0 without repeats and approaches maxPenalty with them", async () => {
    assert.equal(await one("repetition", {}, "the cat sat on the mat today"), 0);
    const repeated = await one("repetition", {}, "a b c a b c a b c a b c");
    assert.ok(repeated < -0.6 && repeated > -1, String(repeated));
    assert.equal(await one("repetition", {}, "too short"), 0);
  });

  it("can count token n-grams", async () => {
    const r = createReward("repetition", { unit: "tokens", ngramSize: 2 });
    const [v] = await r(
      [{ prompt: "", completion: { text: "", tokenIds: [1, 2, 1, 2, 1, 2] }, row: {} }],
      context(),
    );
    assert.equal(v, (1 - 2 / 5) * -1);
  });
});

describe("language", () => {
  it("penalises letters outside the target script, ignoring math", async () => {
    assert.equal(await one("language", {}, "The answer is $\\alpha + β$ = 3."), 0);
    assert.equal(await one("language", {}, "答案是三"), -1);
    const mixed = await one("language", {}, "abcd 答案");
    assert.ok(Math.abs(mixed + 2 / 6) < 1e-12, String(mixed));
  });

  it("can look at the reasoning only, and checks the script name", async () => {
    assert.equal(await one("language", { scope: "think" }, "think in English</think>答案"), 0);
    assert.equal(await one("language", { scope: "answer" }, "think in English</think>答案"), -1);
    assert.throws(() => createReward("language", { script: "Klingon" }), /parameter "script"/);
  });
});

describe("soft_overlong (DAPO)", () => {
  it("is 0 before the soft zone, linear inside it, -1 past the limit", async () => {
    const p = { maxLength: 100, cacheLength: 20 };
    assert.equal(await one("soft_overlong", p, "", 80), 0);
    assert.equal(await one("soft_overlong", p, "", 90), -0.5);
    assert.equal(await one("soft_overlong", p, "", 100), -1);
    assert.equal(await one("soft_overlong", p, "", 150), -1);
    assert.throws(() => createReward("soft_overlong", { maxLength: 10, cacheLength: 20 }), /cacheLength/);
  });
});
