/**
 * The `reasonrl` program: every subcommand, wired together. Each subcommand
 * lives in its own file and exports a `register(program)` function; a new
 * subcommand is registered here (test/cli/json-contract.test.ts then checks
 * it keeps the --json contract).
 *
 * Errors are not printed nor exited on here: the program throws them
 * (`exitOverride`) and run-cli.ts prints each as one line with the exit status.
 */
import { Command } from "commander";
import { register as registerBench } from "./bench.ts";
import { register as registerDashboard } from "./dashboard.ts";
import { register as registerData } from "./data.ts";
import { register as registerDemo } from "./demo.ts";
import { register as registerDevices } from "./devices.ts";
import { register as registerEval } from "./eval.ts";
import { register as registerExport } from "./export.ts";
import { register as registerGenerate } from "./generate.ts";
import { register as registerModel } from "./model.ts";
import { register as registerPlan } from "./plan.ts";
import { register as registerRuns } from "./runs.ts";
import { register as registerServe } from "./serve.ts";
import { register as registerTrain } from "./train.ts";
import { register as registerVerify } from "./verify.ts";

/** A fresh `reasonrl` program (commands, options, help), not yet parsed. */
export function createProgram(): Command {
  const program = new Command()
    .name("reasonrl")
    .description("GRPO reinforcement learning of reasoning in small language models")
    .version("0.1.0")
    .option("--verbose", "on an error, print its stack too (as REASONRL_DEBUG=1)")
    // Set before the subcommands are added: they inherit both.
    .exitOverride()
    .configureOutput({ outputError: () => {} });
  registerBench(program);
  registerData(program);
  registerDemo(program);
  registerTrain(program);
  registerPlan(program);
  registerVerify(program);
  registerModel(program);
  registerGenerate(program);
  registerExport(program);
  registerEval(program);
  registerServe(program);
  registerDevices(program);
  registerRuns(program);
  registerDashboard(program);
  return program;
}
