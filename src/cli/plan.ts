/** `reasonrl plan RECIPE`: the memory and time a GRPO run needs, before running it (logic in src/rl/plan.ts). */
import { freemem } from "node:os";
import type { Command } from "commander";
import { formatGiB } from "../model/memory-plan.ts";
import { assertRunFits, planRun, type RunPlan } from "../rl/plan.ts";
import { loadRecipe } from "../rl/recipe.ts";
import { type DeviceName, deviceOption, jsonOption, setOption, threadsOption } from "./options.ts";
import { printResult } from "./output.ts";

interface PlanFlags {
  device?: DeviceName;
  set: string[];
  probe: boolean;
  threads?: number;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command("plan <recipe>")
    .description(
      "memory of weights, adapters, optimizer, KV cache and activations of a GRPO recipe, and a measured time per step",
    )
    .addOption(deviceOption("device to plan for (default: the recipe's model.device, else cpu)"))
    .addOption(setOption("model.path=models/DeepSeek-R1-Distill-Qwen-1.5B"))
    .option("--no-probe", "skip the measured probe (memory only, no time estimate)")
    .addOption(threadsOption())
    .addOption(jsonOption())
    .action(async (path: string, o: PlanFlags) => {
      const recipe = await loadRecipe(path, o.set);
      const plan = await planRun(recipe, { device: o.device, probe: o.probe, threads: o.threads });
      const available = freemem();
      let fits = true;
      let problem: string | null = null;
      try {
        assertRunFits(plan, available);
      } catch (err) {
        fits = false;
        problem = (err as Error).message;
      }
      printResult(planJson(plan, available, fits, problem), o, describe(plan, available, problem));
    });
}

/** The plan as the JSON result (snake_case, bytes and seconds). */
function planJson(plan: RunPlan, available: number, fits: boolean, problem: string | null) {
  const m = plan.memory;
  return {
    recipe: plan.recipe,
    device: plan.device,
    model: plan.model.path,
    completions_per_step: plan.completions,
    micro_batch_rows: plan.input.rows,
    tokens_per_row: plan.input.tokens,
    memory_bytes: {
      weights: m.weights,
      adapters: m.adapters,
      optimizer: m.optimizer,
      reference: m.reference,
      kv_cache: m.kvCache,
      activations: m.activations,
      activations_without_checkpointing: m.activationsWithoutCheckpointing,
      runtime: m.runtime,
      total: m.total,
    },
    trainable_parameters: m.trainableParameters,
    available_bytes: available,
    fits,
    problem,
    time: plan.time && {
      generation_s: plan.time.generation_s,
      training_s: plan.time.training_s,
      step_s: plan.time.step_s,
    },
    notes: plan.notes,
  };
}

function describe(plan: RunPlan, available: number, problem: string | null): string {
  const m = plan.memory;
  const c = plan.model.config;
  const lines = [
    `${plan.recipe} on ${plan.device}: ${c.layers} layers x ${c.hidden} hidden, ${plan.completions} completions per step, ` +
      `micro-batches of ${plan.input.rows} x ${plan.input.tokens} tokens`,
    `  weights      ${formatGiB(m.weights)}`,
    `  adapters     ${formatGiB(m.adapters)}`,
    `  optimizer    ${formatGiB(m.optimizer)}  (gradients and AdamW moments of ${m.trainableParameters.toLocaleString()} parameters)`,
    `  reference    ${formatGiB(m.reference)}`,
    `  KV cache     ${formatGiB(m.kvCache)}`,
    `  activations  ${formatGiB(m.activations)} per micro-batch (${formatGiB(m.activationsWithoutCheckpointing)} without per-layer checkpointing)`,
    `  total        ${formatGiB(m.total)} at the peak; ${formatGiB(available)} available now`,
  ];
  if (plan.time) {
    const t = plan.time;
    lines.push(
      `  time         ~${t.step_s.toFixed(0)} s per step (generation ~${t.generation_s.toFixed(0)} s, training ~${t.training_s.toFixed(0)} s; from a probe of one layer at ${t.probe.tokens} tokens)`,
    );
  }
  for (const n of plan.notes) lines.push(`  note: ${n}`);
  if (problem) lines.push(problem);
  return lines.join("\n");
}
