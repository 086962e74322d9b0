/**
 * The GRPO loop's weight-sync hooks (beforeFirstStep, afterUpdate) and the
 * one-step-off-policy mode: the order of rollouts and updates, the policy
 * version each batch was sampled from, determinism.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { AdamW, Engine } from "../../src/engine/index.ts";
import { LocalGenerator } from "../../src/generate/local.ts";
import type { Generator } from "../../src/generate/types.ts";
import { initLlamaWeights, parseLlamaConfig, trainableParameters } from "../../src/model/llama.ts";
import { GrpoTrainingOptions, type GrpoTrainingOptionsInput, trainGrpo } from "../../src/rl/trainer.ts";
import { RunFolder } from "../../src/train/run-folder.ts";
import { idMean, promptsOf, rewardOf } from "./helpers.ts";

const engine = new Engine({ threads: 2 });
const root = await mkdtemp(join(tmpdir(), "reasonrl-async-"));
after(() => rm(root, { recursive: true, force: true }));

const config = parseLlamaConfig({ vocabSize: 12, hidden: 16, layers: 1, heads: 2, kvHeads: 1, ffn: 16 });
const prompts = promptsOf([[1, 2], [3], [4, 5, 6], [7, 8], [9]]);

/** What the run did, in order: "rollout v<version>" for each generation, "update <step>" for each afterUpdate. */
type Log = string[];

/** Models whose generator logs the policy version (optimizer steps made) each generation starts from. */
function models(log: Log) {
  const policy = initLlamaWeights(engine, config, 3);
  const optimizer = new AdamW(engine, trainableParameters(policy), { maxGradNorm: 1 });
  const local = new LocalGenerator(engine, config, policy);
  const generator: Generator = {
    generate(ps, options) {
      log.push(`rollout v${optimizer.stepCount}`);
      return local.generate(ps, options);
    },
  };
  return { engine, config, policy, generator, optimizer };
}

function options(extra: Partial<GrpoTrainingOptionsInput> = {}) {
  return GrpoTrainingOptions.parse({
    steps: 4,
    promptsPerStep: 2,
    grpo: { groupSize: 4, temperature: 1, maxTokens: 4, loss: { beta: 0 }, chunkRows: 16 },
    schedule: { lr: 2e-2 },
    checkpointEvery: 2,
    seed: 5,
    ...extra,
  });
}

function hooks(log: Log) {
  return {
    beforeFirstStep: async (start: number) => {
      log.push(`start ${start}`);
    },
    afterUpdate: async (step: number) => {
      log.push(`update ${step}`);
      return { sync_s: step / 10 };
    },
  };
}

const run = (dir: string, m: ReturnType<typeof models>) => ({
  models: m,
  prompts,
  reward: rewardOf(idMean),
  folder: new RunFolder(join(root, dir)),
});

test("hooks: beforeFirstStep once before any rollout, afterUpdate after each update, its numbers in the record", async () => {
  const log: Log = [];
  const records = await trainGrpo(run("sync", models(log)), options(), hooks(log));
  assert.deepEqual(log, [
    "start 0",
    "rollout v0",
    "update 1",
    "rollout v1",
    "update 2",
    "rollout v2",
    "update 3",
    "rollout v3",
    "update 4",
  ]);
  assert.deepEqual(
    records.map((r) => r.sync_s),
    [0.1, 0.2, 0.3, 0.4],
  );
});

test("hooks: a resumed run calls beforeFirstStep with the step it resumes from", async () => {
  const log: Log = [];
  let steps = 0;
  await trainGrpo(run("resumed", models(log)), options(), { stop: () => ++steps === 2 });
  const again: Log = [];
  await trainGrpo(run("resumed", models(again)), options(), hooks(again));
  assert.deepEqual(again, ["start 2", "rollout v2", "update 3", "rollout v3", "update 4"]);
});
