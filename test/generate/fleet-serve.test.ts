/**
 * A fleet of two real `reasonrl serve` servers (in this process, the tiny model) samples exactly
 * what LocalGenerator.generate samples locally: each prompt goes to one server with seed
 * promptSeed(seed, i), and the same per-prompt seeding runs on both sides. Token ids, finish
 * reasons and texts are equal; log-probs agree within float noise (another batch sums in another order).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { FleetGenerator } from "../../src/generate/fleet.ts";
import type { LocalGenerator } from "../../src/generate/local.ts";
import type { Tokenizer } from "../../src/model/tokenizer.ts";
import type { ServedModel } from "../../src/serve/served-model.ts";
import type { RunningServer } from "../../src/serve/server.ts";
import { reference, serveTiny, tinyModelFolder } from "../serve/helpers.ts";

let cleanup: () => Promise<void>;
const servers: Array<{ model: ServedModel; server: RunningServer }> = [];
let ref: { generator: LocalGenerator; tokenizer: Tokenizer };

before(async () => {
  const folder = await tinyModelFolder();
  cleanup = folder.cleanup;
  servers.push(await serveTiny(folder.dir), await serveTiny(folder.dir));
  ref = await reference(folder.dir);
});

after(async () => {
  for (const { model, server } of servers) {
    await server.close();
    await model.dispose();
  }
  await ref.generator.dispose();
  await cleanup();
});

test("rollouts on two reasonrl servers are the local rollouts", async () => {
  const prompts = ["Compute 2+2.", "Compute 7-3.", "Compute 1+5.", "Compute 9-9."].map((t) =>
    ref.tokenizer.encode(t),
  );
  const options = { n: 3, seed: 42, temperature: 1, topP: 0.95, maxTokens: 12 };
  const fleet = new FleetGenerator({
    endpoints: servers.map((s) => s.server.url),
    protocol: "reasonrl",
    model: servers[0].model.id,
    tokenizer: ref.tokenizer,
  });
  const remote = await fleet.generate(prompts, options);
  const local = await ref.generator.generate(prompts, options);
  const report = fleet.lastReport();
  assert.ok(report);
  assert.deepEqual(report.answered, [2, 2], "both servers took requests");
  assert.equal(report.logprobs, "processed");
  for (const [i, group] of local.entries()) {
    assert.equal(remote[i].length, 3);
    for (const [j, c] of group.entries()) {
      const r = remote[i][j];
      assert.deepEqual(Array.from(r.ids), Array.from(c.ids), `prompt ${i} sample ${j}`);
      assert.equal(r.finishReason, c.finishReason);
      assert.equal(r.text, c.text);
      for (const [t, x] of c.logprobs.entries()) assert.ok(Math.abs(x - r.logprobs[t]) < 1e-5, `token ${t}`);
    }
  }
  assert.ok(new Set(remote.flat().map((c) => c.ids.join(","))).size > 4, "the samples differ");
  fleet.close();
});
