import assert from "node:assert/strict";
import { test } from "node:test";
import { runCountingDemo } from "../../src/demo/counting.ts";

test("the built-in demo learns to count", async () => {
  const r = await runCountingDemo({ steps: 60, seed: 1, log: () => {} });
  assert.ok(r.final_loss < r.first_loss / 4, `loss ${r.first_loss} -> ${r.final_loss}`);
  assert.ok(r.accuracy > 0.9, `accuracy ${r.accuracy}`);
});
