/** Config diffs by dotted path (src/train/config-diff.ts), as the rerun check prints them. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { diffConfig, formatChange, formatValue, setPath } from "../../src/train/config-diff.ts";

test("diffConfig: leaves by dotted path, added and removed keys, lists item by item or whole", () => {
  const before = { grpo: { steps: 8, rewards: ["a", "b"], loss: { beta: 0.04 } }, seed: 3, list: [1, 2] };
  const after = { grpo: { steps: 10, rewards: ["a", "c"], loss: {} }, seed: 3, list: [1, 2, 3], name: "x" };
  assert.deepEqual(diffConfig(before, after), [
    { path: "grpo.steps", from: 8, to: 10 },
    { path: "grpo.rewards.1", from: "b", to: "c" },
    { path: "grpo.loss.beta", from: 0.04, to: undefined },
    { path: "list", from: [1, 2], to: [1, 2, 3] },
    { path: "name", from: undefined, to: "x" },
  ]);
  assert.deepEqual(diffConfig({ a: { b: [1, { c: 2 }] } }, { a: { b: [1, { c: 2 }] } }), []);
});

test("formatChange: one short line per field", () => {
  assert.equal(formatChange({ path: "grpo.steps", from: 8, to: 10 }), "grpo.steps: 8 -> 10");
  assert.equal(
    formatChange({ path: "model.lora", from: undefined, to: { rank: 8 } }),
    "model.lora: (absent) -> {rank: 8}",
  );
  assert.equal(formatValue("two words"), '"two words"');
  assert.equal(formatValue("data/heldout.jsonl"), "data/heldout.jsonl");
  assert.equal(formatValue(""), '""');
  assert.equal(formatValue([1, "a b"]), '[1, "a b"]');
});

test("setPath: sets, makes mappings on the way, deletes with undefined", () => {
  const config: Record<string, unknown> = { grpo: { steps: 8 } };
  setPath(config, "grpo.steps", 10);
  setPath(config, "eval.every", 5);
  assert.deepEqual(config, { grpo: { steps: 10 }, eval: { every: 5 } });
  setPath(config, "eval.every", undefined);
  assert.deepEqual(config, { grpo: { steps: 10 }, eval: {} });
});
