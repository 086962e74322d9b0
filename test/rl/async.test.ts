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
import {
  type GrpoRecord,
  GrpoTrainingOptions,
  type GrpoTrainingOptionsInput,
  trainGrpo,
} from "../../src/rl/trainer.ts";
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

/** The records without their timings (which differ from run to run). */
const untimed = (records: readonly GrpoRecord[]) =>
  records.map(({ generate_s, reward_s, train_s, ...rest }) => rest);

/** A run with its log, its records, the policy version of each step's samples and its final weights. */
async function offPolicyRun(dir: string, extra: Partial<GrpoTrainingOptionsInput> = {}) {
  const log: Log = [];
  const m = models(log);
  const versions: number[][] = [];
  const records = await trainGrpo(run(dir, m), options({ offPolicy: 1, ...extra }), {
    ...hooks(log),
    onSamples: async (_, samples) => {
      versions.push([...new Set(samples.map((s) => s.policyVersion))]);
    },
  });
  const weights = m.optimizer.parameters.map((t) => Array.from(t.readF32()));
  return { log, records, versions, weights };
}

test("offPolicy 1: step t+1's rollout is sampled before step t's update, by the weights of version t", async () => {
  const { log, records, versions } = await offPolicyRun("off-order");
  assert.deepEqual(log, [
    "start 0",
    "rollout v0", // step 1's
    "rollout v0", // step 2's, before step 1's update
    "update 1",
    "rollout v1", // step 3's
    "update 2",
    "rollout v2", // step 4's
    "update 3",
    "update 4",
  ]);
  // Counting steps from 0, step t trains on a batch of version t - 1 (the first on its own).
  assert.deepEqual(versions, [[0], [0], [1], [2]]);
  assert.deepEqual(
    records.map((r) => r.policy_lag),
    [0, 1, 1, 1],
  );
  assert.deepEqual(
    records.map((r) => r.sync_s),
    [0.1, 0.2, 0.3, 0.4],
  );
});

test("offPolicy 1: same seeds, same metrics and weights; not those of the on-policy run", async () => {
  const [a, b] = [await offPolicyRun("off-a"), await offPolicyRun("off-b")];
  assert.deepEqual(untimed(a.records), untimed(b.records));
  assert.deepEqual(a.weights, b.weights);
  const onPolicy = await offPolicyRun("on", { offPolicy: 0 });
  assert.deepEqual(onPolicy.versions, [[0], [1], [2], [3]]);
  assert.deepEqual(untimed(onPolicy.records)[0], untimed(a.records)[0], "the first step is the same");
  assert.notDeepEqual(onPolicy.weights, a.weights);
});

/**
 * A "remote" generator: its own engine and copy of the weights (as a server would have them),
 * synced by afterUpdate. Each rollout after the first waits until the trainer has begun the
 * optimizer update that follows it: only a rollout running while the step trains gets there.
 */
function remoteModels(log: Log) {
  const trainer = models([]);
  const server = new Engine({ threads: 2 });
  const copy = initLlamaWeights(server, config, 3);
  const local = new LocalGenerator(server, config, copy);
  const served = { version: 0 };
  const updates: Array<() => void> = [];
  const updating = Array.from(
    { length: 8 },
    (_, i) => new Promise<void>((resolve) => (updates[i] = resolve)),
  );
  const step = trainer.optimizer.step.bind(trainer.optimizer);
  trainer.optimizer.step = (o) => {
    updates[trainer.optimizer.stepCount]();
    return step(o);
  };
  let rollouts = 0;
  trainer.generator = {
    async generate(ps, o) {
      log.push(`rollout v${served.version}`);
      if (rollouts++ > 0) await updating[served.version];
      return local.generate(ps, o);
    },
  };
  const sync = async (step: number) => {
    const from = trainableParameters(trainer.policy);
    for (const [i, t] of trainableParameters(copy).entries()) t.write(from[i].readF32());
    served.version = step;
    log.push(`update ${step}`);
    return {};
  };
  return { trainer, sync, close: () => server.dispose() };
}

test("offPolicy 1 with a remote generator: the next rollout runs while the step trains, with the same results", {
  timeout: 60_000, // without the overlap the rollout would wait for the update forever
}, async () => {
  const log: Log = [];
  const remote = remoteModels(log);
  const records = await trainGrpo(
    { ...run("remote", remote.trainer), remoteGenerator: true },
    options({ offPolicy: 1 }),
    { afterUpdate: remote.sync },
  );
  const weights = remote.trainer.optimizer.parameters.map((t) => Array.from(t.readF32()));
  remote.close();
  assert.deepEqual(log, [
    "rollout v0",
    "rollout v0",
    "update 1",
    "rollout v1",
    "update 2",
    "rollout v2",
    "update 3",
    "update 4",
  ]);
  const local = await offPolicyRun("remote-local");
  assert.deepEqual(
    untimed(records),
    untimed(local.records).map(({ sync_s, ...r }) => r),
  );
  assert.deepEqual(weights, local.weights);
});

test("offPolicy 1, resumed: the pending rollout is sampled again, by the restored weights", async () => {
  const first: Log = [];
  let steps = 0;
  await trainGrpo(run("off-resumed", models(first)), options({ offPolicy: 1 }), {
    stop: () => ++steps === 2,
  });
  // Step 3's rollout was sampled by version 1 before step 2's update; the resumed run samples it by version 2.
  assert.deepEqual(first, ["rollout v0", "rollout v0", "rollout v1"]);
  const again: Log = [];
  const versions: number[] = [];
  const records = await trainGrpo(run("off-resumed", models(again)), options({ offPolicy: 1 }), {
    ...hooks(again),
    onSamples: async (_, samples) => {
      versions.push(samples[0].policyVersion);
    },
  });
  assert.deepEqual(again, ["start 2", "rollout v2", "rollout v2", "update 3", "update 4"]);
  assert.deepEqual(versions, [2, 2]);
  assert.deepEqual(
    records.map((r) => [r.step, r.policy_lag]),
    [
      [3, 0],
      [4, 1],
    ],
  );
});
