/**
 * `reasonrl eval --endpoint` against llama.cpp's llama-server and against `reasonrl serve` on the
 * same model (bench/llama-server.ts): the same greedy completions, token counts and finish
 * reasons. Skipped, saying how to build it, when no llama-server binary is there.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { benchLlamaServer, DEFAULT_LLAMA_SERVER, findLlamaServer } from "../../bench/llama-server.ts";

const skip = findLlamaServer()
  ? false
  : `no llama-server at $REASONRL_LLAMA_SERVER or ${DEFAULT_LLAMA_SERVER}: build it as bench/llama-server.ts says (LLAMA_SERVER_BUILD)`;

test("eval against llama-server and reasonrl serve: same greedy completions, token counts, finish reasons", {
  skip,
}, async () => {
  const r = await benchLlamaServer({ problems: 4, maxTokens: 24, threads: 1 });
  assert.equal(r.ours.failed_samples, 0);
  assert.equal(r.llama_server.failed_samples, 0);
  assert.equal(r.same_completions, 4, JSON.stringify(r.first_difference));
  assert.equal(r.same_token_counts, 4, JSON.stringify(r.first_difference));
  assert.equal(r.same_finish_reasons, 4, JSON.stringify(r.first_difference));
});
