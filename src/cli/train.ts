/** `reasonrl train RECIPE [--set key=value ...] [--device D] [--dtype T]`: runs (or resumes) a training recipe. */
import type { Command } from "commander";
import { loadRecipe } from "../rl/recipe.ts";
import { runRecipe } from "../rl/run.ts";
import { stopOnCtrlC } from "./interrupt.ts";
import { deviceOption, dtypeOption, jsonOption, setOption } from "./options.ts";
import { printResult } from "./output.ts";
import { progressHooks } from "./progress.ts";

interface TrainFlags {
  set: string[];
  device?: string;
  dtype?: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command("train")
    .description("run a training recipe (SFT and/or GRPO) in runs/<name>/; run it again to resume")
    .argument("<recipe>", "YAML recipe, e.g. recipes/demo.yaml or recipes/open-rs1.yaml")
    .addOption(setOption("grpo.steps=20"))
    .addOption(
      deviceOption("compute device, overrides the recipe's model.device: cpu, vulkan[:N], cuda[:N], metal"),
    )
    .addOption(dtypeOption("storage of the frozen weight matrices, overrides the recipe's model.dtype"))
    .addOption(jsonOption("print only the JSON summary"))
    .action(async (path: string, opts: TrainFlags) => {
      // --device and --dtype are overrides of the recipe's model.device and model.dtype.
      const sets = [
        ...opts.set,
        ...(opts.device ? [`model.device=${opts.device}`] : []),
        ...(opts.dtype ? [`model.dtype=${opts.dtype}`] : []),
      ];
      const recipe = await loadRecipe(path, sets);
      const progress = progressHooks(Boolean(opts.json));
      // Ctrl-C: finish the current step, save a checkpoint, exit cleanly; a second Ctrl-C exits at once.
      const notice = () => progress.log("stopping after this step (Ctrl-C again to quit now)...");
      await stopOnCtrlC(notice, async (signal) => {
        const summary = await runRecipe(recipe, {
          ...progress,
          warn: (m) => progress.log(`warning: ${m}`),
          stop: () => signal.aborted,
        });
        progress.done();
        const pct = (a: { accuracy: number } | null) => (a ? `${(100 * a.accuracy).toFixed(1)}%` : "-");
        const text = summary.stopped
          ? `stopped; checkpoint saved in ${recipe.runsDir}/${recipe.name} (run the same command to resume)`
          : `done in ${summary.wall_s.toFixed(0)} s: held-out accuracy ${pct(summary.before)} -> ${pct(summary.after)}; ` +
            `summary in ${recipe.runsDir}/${recipe.name}/summary.json`;
        printResult({ ...summary }, opts, text);
      });
    });
}
