/**
 * `reasonrl train RECIPE [--set key=value ...] [--allow-change FIELD ...] [--device D] [--dtype T]`:
 * runs (or resumes) a training recipe. Run again, it resumes ("resuming from grpo step N of M");
 * a recipe that differs from the run's is refused with the fields that differ unless each is
 * allowed with --allow-change; a finished run prints its results and says so. Ctrl-C saves a
 * checkpoint, says how to resume, and exits with status 130.
 */
import type { Command } from "commander";
import { loadRecipe } from "../rl/recipe.ts";
import { describeStart, RESUMABLE_FIELDS, type RunStart } from "../rl/rerun.ts";
import { runRecipe } from "../rl/run.ts";
import type { GuardAlert } from "../track/guards.ts";
import { RunFolder, type RunSummary } from "../train/run-folder.ts";
import { describeGuardStop, guardAlertLine } from "./guard-alerts.ts";
import { stopOnCtrlC } from "./interrupt.ts";
import { deviceOption, dtypeOption, jsonOption, repeatable, setOption } from "./options.ts";
import { printResult } from "./output.ts";
import { progressHooks } from "./progress.ts";

interface TrainFlags {
  set: string[];
  allowChange: string[];
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
    .option(
      "--allow-change <field>",
      `let a resumed run go on with a changed field, recorded in the run's history.jsonl (repeatable): ${RESUMABLE_FIELDS.join(", ")}`,
      repeatable,
      [],
    )
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
      let start: RunStart = { kind: "new" };
      let guardStop: GuardAlert | null = null; // the guard (action: stop) that ended the run, if one did
      // Ctrl-C: finish the current step, save a checkpoint, exit with 130; a second Ctrl-C exits at once.
      const notice = () => progress.log("stopping after this step (Ctrl-C again to quit now)...");
      await stopOnCtrlC(notice, async (signal) => {
        const summary = await runRecipe(
          recipe,
          {
            ...progress,
            warn: (m) => progress.log(`warning: ${m}`),
            onGuard: (a) => {
              progress.log(guardAlertLine(a));
              if (a.action === "stop") guardStop ??= a;
            },
            stop: () => signal.aborted,
            onStart: (s) => {
              start = s;
              // Said even under --json (on stderr): a resumed run is never mistaken for a new one.
              if (s.kind === "resume") console.error(describeStart(s, recipe.name));
            },
          },
          { allowChange: opts.allowChange },
        );
        progress.done();
        const folder = RunFolder.of(recipe.runsDir, recipe.name);
        const text =
          guardStop && summary.stopped
            ? describeGuardStop(guardStop, summary, folder, resumeCommand(path, opts))
            : summary.stopped
              ? describeStopped(summary, folder, resumeCommand(path, opts))
              : `${start.kind === "finished" ? `${describeStart(start, recipe.name)}\n` : ""}${describeDone(summary, folder)}`;
        printResult({ ...summary, already_finished: start.kind === "finished" }, opts, text);
      });
    });
}

const pct = (a: { accuracy: number } | null) => (a ? `${(100 * a.accuracy).toFixed(1)}%` : "-");

/** A finished run in one line. */
function describeDone(s: RunSummary, folder: RunFolder): string {
  const held = s.before || s.after ? `held-out accuracy ${pct(s.before)} -> ${pct(s.after)}; ` : "";
  return `done in ${s.wall_s.toFixed(0)} s: ${s.sft_steps} sft and ${s.grpo_steps} grpo steps; ${held}summary in ${folder.summaryPath}`;
}

/** What a stopped run saved, and the command that resumes it. */
function describeStopped(s: RunSummary, folder: RunFolder, resume: string): string {
  const [stage, step] = s.grpo_steps > 0 ? ["grpo", s.grpo_steps] : ["sft", s.sft_steps];
  const where =
    step > 0
      ? `checkpoint of ${stage} step ${step} saved in ${folder.checkpointsOf(stage)}/step-${step}`
      : "nothing to save yet";
  return `stopped: ${where}; to resume, run the same command: ${resume}`;
}

/** The command line of this run, quoted for a POSIX shell. */
function resumeCommand(path: string, opts: TrainFlags): string {
  const quote = (a: string) => (/^[\w./:=@+-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`);
  const args = [
    path,
    ...opts.set.flatMap((s) => ["--set", s]),
    ...opts.allowChange.flatMap((f) => ["--allow-change", f]),
    ...(opts.device ? ["--device", opts.device] : []),
    ...(opts.dtype ? ["--dtype", opts.dtype] : []),
  ];
  return `reasonrl train ${args.map(quote).join(" ")}`;
}
