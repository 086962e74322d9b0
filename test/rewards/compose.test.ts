import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { composeRewards } from "../../src/rewards/compose.ts";
import { REWARD_RECIPES } from "../../src/rewards/recipes.ts";
import { registerReward, rewardNames } from "../../src/rewards/registry.ts";
import { defineReward } from "../../src/rewards/types.ts";
import { VerifierPool } from "../../src/verify/pool.ts";
import { context, input } from "./helpers.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
const row = { answer: "42", solution: "Hence the answer is $\\boxed{42}$." };
const good = input("reasoning\n</think>\nso $\\boxed{42}$", row);
const bad = input("no think tag, $\\boxed{41}$", row);

describe("composeRewards", () => {
  it("knows every built-in reward of the issue", () => {
    for (const name of [
      "accuracy",
      "format",
      "tag_count",
      "reasoning_steps",
      "cosine",
      "repetition",
      "length",
      "soft_overlong",
      "language",
    ]) {
      assert.ok(rewardNames().includes(name), name);
    }
  });

  it("sums weighted rewards: the paper's format + 2 × accuracy", async () => {
    const r = await composeRewards(REWARD_RECIPES["open-rs-accuracy"]);
    const s = await r.score([good, bad], context());
    assert.deepEqual(s.total, [3, 0]);
    assert.deepEqual(s.perReward, { format: [1, 0], accuracy: [1, 0] });
    assert.deepEqual(s.errors, []);
  });

  it("leaves null rewards out of the total, and is null when none applies", async () => {
    const r = await composeRewards({ rewards: [{ name: "accuracy" }], onError: "skip" });
    const s = await r.score([input("$\\boxed{1}$", {})], context());
    assert.deepEqual(s.total, [null]);
    const r2 = await composeRewards({ rewards: [{ name: "accuracy", weight: 2 }, { name: "format" }] });
    assert.deepEqual((await r2.score([input("a\n</think>\nb", {})], context())).total, [1]);
  });

  it("loads user rewards from a TypeScript module: a function or a definition", async () => {
    const r = await composeRewards(
      {
        rewards: [
          { name: "short", module: "user-rewards.ts", params: { limit: 5 } },
          {
            name: "says-so",
            module: "user-rewards.ts",
            export: "mentions",
            params: { word: "so" },
            weight: 0.5,
          },
        ],
      },
      FIXTURES,
    );
    const s = await r.score([input("so"), input("a long text without it")], context());
    assert.deepEqual(s.perReward, { short: [1, 0], "says-so": [1, 0] });
    assert.deepEqual(s.total, [1.5, 0]);
  });

  it("reports a throwing reward and scores it as configured, without failing the batch", async () => {
    const cfg = {
      rewards: [{ name: "format" }, { name: "broken", module: "user-rewards.ts", export: "broken" }],
    };
    const ctx = context();
    const skipped = await (await composeRewards(cfg, FIXTURES)).score([good], ctx);
    assert.deepEqual(skipped.total, [1]);
    assert.deepEqual(skipped.perReward.broken, [null]);
    assert.equal(skipped.errors[0].reward, "broken");
    assert.match(skipped.errors[0].message, /boom/);
    assert.match(ctx.warnings[0], /reward broken failed: boom/);
    const zeroed = await (await composeRewards({ ...cfg, onError: -1 }, FIXTURES)).score([good], context());
    assert.deepEqual(zeroed.total, [0]);
  });

  it("treats a wrong number of values or NaN as a failure of that reward", async () => {
    registerReward(
      defineReward({
        name: "test_wrong_length",
        description: "returns one value too few",
        params: z.object({}),
        create: () => (inputs) => inputs.slice(1).map(() => Number.NaN),
      }),
    );
    const r = await composeRewards({ rewards: [{ name: "test_wrong_length" }, { name: "format" }] });
    const s = await r.score([good, bad], context());
    assert.deepEqual(s.perReward.test_wrong_length, [null, null]);
    assert.match(s.errors[0].message, /1 values for 2 inputs/);
    const r2 = await composeRewards({ rewards: [{ name: "test_wrong_length" }] });
    const s2 = await r2.score([good, bad, bad], context());
    assert.equal(s2.errors.length, 1);
  });

  it("rejects bad configurations before any scoring, naming what is wrong", async () => {
    await assert.rejects(composeRewards({ rewards: [{ name: "acuracy" }] }), /unknown reward "acuracy"/);
    await assert.rejects(
      composeRewards({ rewards: [{ name: "cosine", params: { maxLength: -1 } }] }),
      /parameter "maxLength"/,
    );
    await assert.rejects(composeRewards({ rewards: [] }), /field "rewards"/);
    await assert.rejects(
      composeRewards({ rewards: [{ name: "format" }, { name: "format" }] }),
      /appears twice/,
    );
    await assert.rejects(
      composeRewards({ rewards: [{ name: "x", module: "missing.ts" }] }, FIXTURES),
      /cannot load module/,
    );
    await assert.rejects(
      composeRewards({ rewards: [{ name: "x", module: "user-rewards.ts", export: "nope" }] }, FIXTURES),
      /no export "nope"/,
    );
  });

  describe("with the worker-pool verifier", () => {
    const pool = new VerifierPool({ workers: 1 });
    after(() => pool.close());

    it("scores every paper recipe", async () => {
      const ctx = { verifier: pool, warn: () => {} };
      for (const [name, recipe] of Object.entries(REWARD_RECIPES)) {
        const s = await (await composeRewards(recipe)).score([good, bad], ctx);
        assert.ok((s.total[0] as number) > (s.total[1] as number), name);
        assert.deepEqual(s.errors, [], name);
      }
    });
  });
});
