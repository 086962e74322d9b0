/** `reasonrl train RECIPE [--set key=value ...]`: runs (or resumes) a training recipe. */
import type { Command } from "commander";
import { loadRecipe } from "../rl/recipe.ts";
import { runRecipe } from "../rl/run.ts";
import { stopOnCtrlC } from "./interrupt.ts";
import { printResult } from "./output.ts";
import { progressHooks } from "./progress.ts";

export function register(program: Command): void {
  program
    .command("train")
    .description("run a training recipe (SFT and/or GRPO) in runs/<name>/; run it again to resume")
    .argument("<recipe>", "YAML recipe, e.g. recipes/demo.yaml or recipes/open-rs1.yaml")
    .option(
      "--set <key=value>",
      "override a recipe field by its dotted path (repeatable), e.g. --set grpo.steps=20",
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option("--json", "print only the JSON summary")
    .action(async (path: string, opts: { set: string[]; json?: boolean }) => {
      const recipe = await loadRecipe(path, opts.set);
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
