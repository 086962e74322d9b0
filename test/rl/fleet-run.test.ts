/**
 * A LoRA GRPO run with its rollouts on a fleet of three `reasonrl serve` processes (loopback),
 * against the same run with local rollouts: the same step metrics and the same final adapters,
 * bit for bit (each prompt's samples are seeded per prompt, promptSeed, and the servers sample
 * the same tokens; training then recomputes every log-prob on the trainer's engine, so it sees
 * the trainer's floats; the sampler's log-probs of those tokens differ in the last bits, within
 * SAMPLER_TOLERANCE, see samplerGap). Then a server is killed
 * between two steps: the run completes on the other two, the step's metrics say so (retries,
 * the endpoint set aside), nothing is lost (still the local run's numbers), and the server,
 * restarted on its port, is taken back with the current adapter.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { parseRecipe } from "../../src/rl/recipe.ts";
import { runRecipe } from "../../src/rl/run.ts";
import { ensureModelDir } from "../../src/rl/run-setup.ts";
import type { GrpoRecord } from "../../src/rl/trainer.ts";
import { RunFolder } from "../../src/train/run-folder.ts";
import { type ServeProcess, spawnServe } from "../serve/helpers.ts";
import { tinyRunRecipe } from "./helpers.ts";

const root = await mkdtemp(join(tmpdir(), "reasonrl-fleet-run-"));
const pauseFile = join(root, "pause");
const base = tinyRunRecipe();
const recipeOf = (name: string, rollout?: object) =>
  parseRecipe({
    ...base,
    name,
    runsDir: join(root, "runs"),
    model: { ...(base.model as object), path: join(root, "model"), lora: { rank: 4, alpha: 8 } },
    grpo: {
      ...(base.grpo as object),
      rewards: {
        rewards: [
          { name: "format", weight: 1, params: { variant: "think-close" } },
          { name: "accuracy", weight: 2 },
          {
            name: "token_mean",
            weight: 1,
            module: fileURLToPath(new URL("fleet-reward.ts", import.meta.url)),
            params: { pauseFile },
          },
        ],
      },
    },
    eval: undefined, // held-out evaluation samples locally: not what is compared here
    ...(rollout ? { rollout } : {}),
  });
await ensureModelDir(recipeOf("model").model);

/** A `reasonrl serve` of the run's base model on `port` (0: any free one); its URL. */
async function serve(port = 0): Promise<ServeProcess & { value: string }> {
  return spawnServe(
    ["--model", join(root, "model"), "--port", String(port), "--threads", "1", "--max-batch", "8"],
    (stdout) => /(http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(stdout)?.[1],
  );
}
const servers = await Promise.all([serve(), serve(), serve()]);
after(async () => {
  for (const s of servers) s.child.kill("SIGKILL");
  await rm(root, { recursive: true, force: true });
});
const urls = () => servers.map((s) => s.value);

/** The metrics that compare the sampler's log-probs with the trainer's (src/rl/grpo-step.ts). */
const SAMPLER_METRICS = ["logprob_diff_mean", "logprob_diff_max", "logprob_ratio_mean"];

/**
 * What a run gives to compare: each step's metrics (without times, fleet and sync numbers; the
 * sampler metrics apart), the final adapters' bytes.
 */
async function outcome(name: string) {
  const folder = RunFolder.of(join(root, "runs"), name);
  const steps = (await folder.readMetrics()).filter((r) => r.stage === "grpo") as GrpoRecord[];
  const compared = (k: string) =>
    !k.endsWith("_s") && !k.startsWith("fleet_") && !k.startsWith("sync_") && !SAMPLER_METRICS.includes(k);
  const numbers = steps.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => compared(k))));
  const sampler = steps.map((r) => SAMPLER_METRICS.map((k) => r[k] as number));
  const adapters = await readFile(join(folder.finalDir, "adapter_model.safetensors"));
  return { steps, numbers, sampler, adapters };
}

/**
 * The largest difference of the sampler metrics between two runs. The servers' log-probs of the
 * same tokens differ from the local sampler's in the last bits (their decode batches hold other
 * sequences, so the logits' products round differently); the tokens sampled do not.
 */
function samplerGap(a: number[][], b: number[][]): number {
  return Math.max(...a.flatMap((row, i) => row.map((x, j) => Math.abs(x - b[i][j]))));
}
/** The tolerance of samplerGap: per-token log-prob differences are float32 rounding (~1e-7). */
const SAMPLER_TOLERANCE = 1e-6;

const quiet = { log: () => {}, warn: () => {} };
await runRecipe(recipeOf("local"), quiet);
const local = await outcome("local");

test("rollouts on three reasonrl servers give the local run's metrics and final adapters, bit for bit", async (t) => {
  const summary = await runRecipe(recipeOf("fleet", { endpoints: urls(), protocol: "reasonrl" }), quiet);
  assert.equal(summary.grpo_steps, 8);
  const fleet = await outcome("fleet");
  assert.deepEqual(fleet.numbers, local.numbers);
  const gap = samplerGap(fleet.sampler, local.sampler);
  t.diagnostic(`sampler log-prob metrics: largest difference from the local run ${gap}`);
  assert.ok(gap <= SAMPLER_TOLERANCE, `sampler metrics differ by ${gap}`);
  assert.ok(fleet.adapters.equals(local.adapters), "final adapters differ");
  // every step pushed its adapter and generated on the fleet, without a retry
  for (const r of fleet.steps) {
    assert.ok(
      (r.sync_s as number) > 0 && (r.sync_write_s as number) >= 0,
      `step ${r.step}: ${JSON.stringify(r)}`,
    );
    assert.equal(r.fleet_requests, 2, "one request per prompt");
    assert.equal(r.fleet_retries, 0);
  }
  // the servers hold no adapter once the run is over (a rerun may load the same names again)
  for (const url of urls()) {
    const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: Array<{ id: string }> };
    assert.deepEqual(
      models.data.map((m) => m.id),
      ["model"],
    );
  }
});

test("a server killed between steps: the run completes on the others, says so, loses nothing; restarted, it is taken back with the current adapter", async () => {
  const victim = 0; // requests go to the least busy endpoint, ties to the first listed: this one
  const port = Number(new URL(servers[victim].value).port);
  let restarted: Promise<void> | null = null;
  /** What the restarted server serves after each step from the 4th on (adapter names). */
  const seen: Array<Promise<{ step: number; ids: string[] }>> = [];
  const idsOf = async (url: string) => {
    const body = (await (await fetch(`${url}/v1/models`)).json()) as { data: Array<{ id: string }> };
    return body.data.map((m) => m.id);
  };
  const onGrpoStep = (r: GrpoRecord) => {
    // After step 2 the server dies: step 3's requests to it fail and go elsewhere, the push of
    // step-3 finds it down and sets it aside.
    if (r.step === 2) servers[victim].child.kill("SIGKILL");
    if (r.step === 3) {
      // Held in step 4's rewards (the trainer's event loop stays free), the server comes back on
      // its port; the fleet's probe finds it and gives it step-3 before it takes requests again.
      writeFileSync(pauseFile, "");
      restarted = (async () => {
        await servers[victim].exited;
        servers[victim] = await serve(port);
        const until = Date.now() + 60_000;
        while (!(await idsOf(servers[victim].value)).includes("step-3")) {
          if (Date.now() > until) throw new Error("the restarted server was not given step-3");
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        await rm(pauseFile, { force: true });
      })();
    }
    if (r.step >= 4) seen.push(idsOf(servers[victim].value).then((ids) => ({ step: r.step, ids })));
  };
  const rollout = { endpoints: urls(), protocol: "reasonrl", probeInterval: 0.1 };
  const summary = await runRecipe(recipeOf("killed", rollout), { ...quiet, onGrpoStep });
  await restarted;
  assert.equal(summary.grpo_steps, 8);
  const killed = await outcome("killed");
  assert.deepEqual(killed.numbers, local.numbers, "the same groups and results as the local run");
  assert.ok(samplerGap(killed.sampler, local.sampler) <= SAMPLER_TOLERANCE);
  assert.ok(killed.adapters.equals(local.adapters), "final adapters differ");
  // what the step records say: step 3 asked again elsewhere, step 4 ran with the server down
  const fleet = killed.steps.map((r) =>
    Object.fromEntries(Object.entries(r).filter(([k]) => k.startsWith("fleet_") && k !== "fleet_ms")),
  );
  const quietStep = {
    fleet_requests: 2,
    fleet_retries: 0,
    fleet_set_aside: 0,
    fleet_recovered: 0,
    fleet_endpoints_down: 0,
  };
  assert.deepEqual(fleet, [
    quietStep,
    quietStep,
    { ...quietStep, fleet_requests: 3, fleet_retries: 1 },
    { ...quietStep, fleet_endpoints_down: 1 },
    quietStep,
    quietStep,
    quietStep,
    quietStep,
  ]);
  // taken back: after each later step the restarted server holds that step's adapter, and only it
  const views = await Promise.all(seen);
  assert.deepEqual(
    views.map((v) => v.ids.filter((id) => id.startsWith("step-"))),
    views.map((v) => [`step-${v.step}`]),
  );
});
