/** The GRPO loop: a run stopped and resumed from its checkpoint ends exactly as an uninterrupted one. */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { AdamW, Engine } from "../../src/engine/index.ts";
import { LocalGenerator } from "../../src/generate/local.ts";
import { initLlamaWeights, parseLlamaConfig, trainableParameters } from "../../src/model/llama.ts";
import { GrpoTrainingOptions, trainGrpo } from "../../src/rl/trainer.ts";
import { itemsOfStep } from "../../src/train/data-order.ts";
import { RunFolder } from "../../src/train/run-folder.ts";
import { promptIndex, promptsOf, rewardOf } from "./helpers.ts";

const engine = new Engine({ threads: 2 });
const root = await mkdtemp(join(tmpdir(), "reasonrl-train-"));
after(() => rm(root, { recursive: true, force: true }));

const config = parseLlamaConfig({ vocabSize: 12, hidden: 16, layers: 1, heads: 2, kvHeads: 1, ffn: 16 });
const prompts = promptsOf([[1, 2], [3], [4, 5, 6], [7, 8], [9]]);
const reward = rewardOf((cs) =>
  cs.map((c) => {
    const ids = c.completion.tokenIds;
    return ids.filter((t) => t === (promptIndex(c) % 3) + 2).length / ids.length;
  }),
);

function models() {
  const policy = initLlamaWeights(engine, config, 3);
  const optimizer = new AdamW(engine, trainableParameters(policy), { maxGradNorm: 1 });
  return { engine, config, policy, generator: new LocalGenerator(engine, config, policy), optimizer };
}

const options = GrpoTrainingOptions.parse({
  steps: 6,
  promptsPerStep: 2,
  grpo: { groupSize: 4, temperature: 1, maxTokens: 4, loss: { beta: 0 }, chunkRows: 16 },
  schedule: { lr: 2e-2, warmupRatio: 0.2 },
  checkpointEvery: 2,
  seed: 5,
});
const run = (dir: string, m: ReturnType<typeof models>) => ({
  models: m,
  prompts,
  reward,
  folder: new RunFolder(join(root, dir)),
});

test("prompt order: seeded, every prompt once per epoch", () => {
  const firstEpoch = [0, 1].flatMap((s) => itemsOfStep(4, 2, s, 9));
  assert.deepEqual([...firstEpoch].sort(), [0, 1, 2, 3]);
  assert.deepEqual(itemsOfStep(4, 2, 3, 9), itemsOfStep(4, 2, 3, 9));
});

test("resume equals uninterrupted", async () => {
  const full = models();
  const uninterrupted = await trainGrpo(run("a", full), options);
  assert.equal(uninterrupted.length, 6);

  const first = models();
  let steps = 0;
  await trainGrpo(run("b", first), options, { stop: () => ++steps === 3 });
  const second = models(); // a fresh process: new weights, restored from step 3
  const resumed = await trainGrpo(run("b", second), options);
  assert.deepEqual(
    resumed.map((r) => r.step),
    [4, 5, 6],
  );
  for (const [i, t] of full.optimizer.parameters.entries()) {
    assert.deepEqual(second.optimizer.parameters[i].readF32(), t.readF32(), t.name);
  }
  const lines = (await readFile(join(root, "b", "metrics.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    lines.map((l) => l.step),
    [1, 2, 3, 4, 5, 6],
  );
  assert.deepEqual(
    lines.map((l) => l.reward),
    uninterrupted.map((r) => r.reward),
  );
});
