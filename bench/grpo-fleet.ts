/**
 * `reasonrl bench grpo --rollout fleet`: the same LoRA GRPO run twice through runRecipe, the
 * rollouts once on the trainer's engine and once on two `reasonrl serve` processes on loopback
 * (started here, one compute thread each), with the adapter pushed to them after every update.
 *
 * Reported, both sides from the same run: the median step time of each (the first step, which
 * warms up graphs and connections, left out), the median generation time of each, and the cost
 * of the weight sync per step: writing the adapter folder (PEFT safetensors), loading it on the
 * servers (and unloading the previous one), and their share of the fleet's step.
 *
 * The model is the demo's architecture made wider (random weights at `hidden` x `layers`, the
 * arithmetic task's character tokenizer), so every completion runs to maxTokens: the slowest case.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DEMO_RECIPE } from "../src/demo/grpo-demo.ts";
import { loadRecipe, parseRecipe, type Recipe, type RecipeInput } from "../src/rl/recipe.ts";
import { runRecipe } from "../src/rl/run.ts";
import { ensureModelDir } from "../src/rl/run-setup.ts";
import type { GrpoRecord } from "../src/rl/trainer.ts";
import { RunFolder } from "../src/train/run-folder.ts";

export interface GrpoFleetBenchResult {
  bench: "grpo";
  rollout: "fleet";
  /** `reasonrl serve` processes of the fleet. */
  servers: number;
  /** The model: "qwen2 hidden 256 x 4 layers, LoRA r16 (all seven projections)". */
  model: string;
  /** Timed steps of each run (after one warm-up step). */
  steps: number;
  completions_per_step: number;
  /** The adapter folder's size (adapter_model.safetensors), MB. */
  adapter_mb: number;
  /** Median wall time of a step, rollouts local / on the fleet. */
  local_step_s: number;
  fleet_step_s: number;
  /** Median generation time of a step, local / on the fleet. */
  local_generate_s: number;
  fleet_generate_s: number;
  /** Median per step: writing the adapter folder, loading it on every server (and unloading the previous), both. */
  sync_write_ms: number;
  sync_load_ms: number;
  sync_ms: number;
  /** sync_ms / fleet_step_s. */
  sync_frac: number;
}

export interface GrpoFleetBenchOptions {
  /** Timed steps (after one warm-up step). */
  steps?: number;
  /** Width and depth of the model. */
  hidden?: number;
  layers?: number;
  /** Compute threads of the trainer (each server gets one). */
  threads?: number;
  /** The trainer's device ("cpu", "vulkan:0", ...); the servers compute on the CPU. */
  device?: string;
  log?: (line: string) => void;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x: number, digits = 3) => Number(x.toFixed(digits));

/** The two runs' recipe: the demo's GRPO stage on a wider model with LoRA, no SFT, no evaluation. */
function benchRecipe(
  demo: Recipe,
  root: string,
  o: Required<Omit<GrpoFleetBenchOptions, "log">>,
): RecipeInput {
  const init = demo.model.init;
  const grpo = demo.grpo;
  if (!init || !grpo) throw new Error("bench grpo: the demo recipe changed shape");
  const config = { ...init.config, hidden: o.hidden, layers: o.layers, ffn: 3 * o.hidden };
  const { sft: _, eval: __, ...rest } = demo;
  return {
    ...rest,
    runsDir: join(root, "runs"),
    model: {
      ...demo.model,
      path: join(root, "model"),
      init: { ...init, config },
      threads: o.threads,
      device: o.device,
      lora: { rank: 16, alpha: 32 },
    },
    // half the demo's prompts per step: both runs in about two minutes on 2 cores
    grpo: { ...grpo, steps: o.steps + 1, promptsPerStep: grpo.promptsPerStep / 2 },
    // no checkpoint inside the timed steps
    checkpoint: { every: o.steps + 1, keepLast: 1 },
  };
}

/** A `reasonrl serve` process on a free loopback port: its URL, and a stop function. */
async function startServer(model: string, log: (line: string) => void) {
  const bin = fileURLToPath(new URL("../bin/reasonrl.js", import.meta.url));
  const child = spawn(process.execPath, [bin, "serve", "--model", model, "--port", "0", "--threads", "1"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stderr.on("data", (d) => {
    err += d;
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on("data", (d) => {
      out += d;
      const m = /(http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on("exit", (code) => reject(new Error(`reasonrl serve exited (${code}): ${out}${err}`)));
  });
  log(`server at ${url}`);
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

/** Runs the recipe; each step's record with its wall time (from the previous step's end). */
async function timedRun(recipe: RecipeInput, name: string) {
  const times: number[] = [];
  let last = performance.now();
  await runRecipe(parseRecipe({ ...recipe, name }, `bench ${name}`), {
    log: () => {},
    warn: () => {},
    onGrpoStep: () => {
      const now = performance.now();
      times.push((now - last) / 1000);
      last = now;
    },
    onStage: (stage) => {
      if (stage === "grpo") last = performance.now();
    },
  });
  const folder = RunFolder.of((recipe.runsDir as string) ?? "runs", name);
  const records = (await folder.readMetrics()).filter((r) => r.stage === "grpo") as GrpoRecord[];
  // the first step warms up
  return { times: times.slice(1), records: records.slice(1), folder };
}

export async function benchGrpoFleet(options: GrpoFleetBenchOptions = {}): Promise<GrpoFleetBenchResult> {
  const log = options.log ?? (() => {});
  const o = {
    steps: options.steps ?? 3,
    hidden: options.hidden ?? 256,
    layers: options.layers ?? 4,
    threads: options.threads ?? 2,
    device: options.device ?? "cpu",
  };
  const root = await mkdtemp(join(tmpdir(), "reasonrl-bench-grpo-fleet-"));
  const servers: Array<Awaited<ReturnType<typeof startServer>>> = [];
  try {
    const recipe = benchRecipe(await loadRecipe(DEMO_RECIPE), root, o);
    const parsed = parseRecipe({ ...recipe }, "bench");
    await ensureModelDir(parsed.model);
    const g = parsed.grpo as NonNullable<Recipe["grpo"]>;
    log(
      `model: hidden ${o.hidden} x ${o.layers} layers, LoRA r16; ${g.promptsPerStep} prompts x ${g.groupSize} completions of ${g.maxTokens} tokens`,
    );
    servers.push(
      ...(await Promise.all([startServer(parsed.model.path, log), startServer(parsed.model.path, log)])),
    );

    log("rollouts on the trainer's engine ...");
    const local = await timedRun(recipe, "local");
    log(`  steps ${local.times.map((t) => t.toFixed(2)).join(", ")} s`);
    log("rollouts on the fleet ...");
    const rollout = { endpoints: servers.map((s) => s.url), protocol: "reasonrl" as const };
    const fleet = await timedRun({ ...recipe, rollout }, "fleet");
    log(`  steps ${fleet.times.map((t) => t.toFixed(2)).join(", ")} s`);

    const of = (rs: GrpoRecord[], k: string) => median(rs.map((r) => r[k] as number));
    const adapter = await stat(
      join(fleet.folder.dir, "adapters", `step-${o.steps + 1}`, "adapter_model.safetensors"),
    );
    const fleetStep = median(fleet.times);
    const sync = of(fleet.records, "sync_s");
    return {
      bench: "grpo",
      rollout: "fleet",
      servers: servers.length,
      model: `qwen2 hidden ${o.hidden} x ${o.layers} layers, LoRA r16 (all seven projections)`,
      steps: o.steps,
      completions_per_step: g.promptsPerStep * g.groupSize,
      adapter_mb: round(adapter.size / 2 ** 20, 2),
      local_step_s: round(median(local.times)),
      fleet_step_s: round(fleetStep),
      local_generate_s: round(of(local.records, "generate_s")),
      fleet_generate_s: round(of(fleet.records, "generate_s")),
      sync_write_ms: round(1000 * of(fleet.records, "sync_write_s"), 1),
      sync_load_ms: round(1000 * of(fleet.records, "sync_load_s"), 1),
      sync_ms: round(1000 * sync, 1),
      sync_frac: round(sync / fleetStep, 4),
    };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await rm(root, { recursive: true, force: true });
  }
}

export function describeGrpoFleetBench(r: GrpoFleetBenchResult): string {
  return (
    `GRPO step (${r.completions_per_step} completions, ${r.model}): ${r.local_step_s} s with local rollouts, ` +
    `${r.fleet_step_s} s with rollouts on ${r.servers} reasonrl servers (generation ${r.local_generate_s} vs ` +
    `${r.fleet_generate_s} s); adapter sync ${r.sync_ms} ms a step (write ${r.sync_write_ms} ms, load ` +
    `${r.sync_load_ms} ms, ${r.adapter_mb} MB): ${(100 * r.sync_frac).toFixed(1)}% of the fleet's step`
  );
}
