import assert from "node:assert/strict";
import { test } from "node:test";
import { applyOverrides, parseOverride } from "../../src/data/overrides.ts";

test("overrides set nested fields, creating sections, values read as YAML", () => {
  const raw = { a: { b: 1 }, name: "r" };
  const out = applyOverrides(raw, ["a.c=[1, 2]", "d=true", "e.f.g=0.5", "name=other", "a.b=null"]);
  assert.deepEqual(out, { a: { b: null, c: [1, 2] }, d: true, e: { f: { g: 0.5 } }, name: "other" });
  assert.deepEqual(raw, { a: { b: 1 }, name: "r" }, "the input is not changed");
});

test("overrides address list items by index and by name", () => {
  const raw = {
    grpo: {
      rewards: {
        rewards: [
          { name: "format", weight: 1 },
          { name: "accuracy", weight: 2 },
        ],
      },
    },
  };
  const out = applyOverrides(raw, [
    "grpo.rewards.rewards.0.weight=0.5",
    "grpo.rewards.rewards.accuracy.weight=3",
    "grpo.rewards.rewards.2={name: cosine, weight: 1}",
  ]);
  assert.deepEqual(out.grpo, {
    rewards: {
      rewards: [
        { name: "format", weight: 0.5 },
        { name: "accuracy", weight: 3 },
        { name: "cosine", weight: 1 },
      ],
    },
  });
});

test("a custom item name reaches list items by another field", () => {
  const raw = {
    steps: [
      { step: "mix", seed: 1 },
      { step: "write", name: "out" },
    ],
  };
  const itemName = (item: Record<string, unknown>) => item.name ?? item.step;
  const out = applyOverrides(raw, ["steps.mix.seed=7", "steps.out.path=x.jsonl"], { itemName });
  assert.deepEqual(out.steps, [
    { step: "mix", seed: 7 },
    { step: "write", name: "out", path: "x.jsonl" },
  ]);
  assert.throws(() => applyOverrides(raw, ["steps.mix.seed=7"]), /no item "mix" in the list steps/);
});

test("bad overrides are errors naming the override, never CLI flags", () => {
  const raw = { a: 1, list: [{ name: "x" }] };
  assert.throws(() => applyOverrides(raw, ["novalue"]), /override "novalue": expected key\.path=value/);
  assert.throws(() => applyOverrides(raw, ["=3"]), /expected key\.path=value/);
  assert.throws(() => applyOverrides(raw, ["a.b=2"]), /"a" is not a section/);
  assert.throws(() => applyOverrides(raw, ["list.5.name=y"]), /no item "5"/);
  assert.throws(() => applyOverrides(raw, ["list.nope.name=y"]), /no item "nope"/);
  assert.throws(() => applyOverrides(raw, ["a..b=1"]), /not a valid key path/);
  assert.throws(() => applyOverrides(raw, ["__proto__.x=1"]), /not a valid key path/);
  assert.throws(() => applyOverrides(raw, ["a=[1, 2"]), /not valid YAML/);
  for (const set of ["novalue", "a.b=2"])
    assert.throws(
      () => applyOverrides(raw, [set]),
      (err: Error) => !err.message.includes("--"),
    );
});

test("parseOverride splits at the first =", () => {
  assert.deepEqual(parseOverride("a.b=x=y"), { keys: ["a", "b"], value: "x=y" });
});
