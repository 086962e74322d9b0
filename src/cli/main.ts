/**
 * The `reasonrl` command. Each subcommand lives in its own file and exports a
 * `register(program)` function; this file only wires them together.
 */
import { Command } from "commander";
import { register as registerBench } from "./bench.ts";
import { register as registerData } from "./data.ts";
import { register as registerDemo } from "./demo.ts";
import { register as registerEval } from "./eval.ts";
import { register as registerExport } from "./export.ts";
import { register as registerGenerate } from "./generate.ts";
import { register as registerModel } from "./model.ts";
import { fail } from "./output.ts";
import { register as registerServe } from "./serve.ts";
import { register as registerTrain } from "./train.ts";
import { register as registerVerify } from "./verify.ts";

const program = new Command()
  .name("reasonrl")
  .description("GRPO reinforcement learning of reasoning in small language models")
  .version("0.1.0")
  .showHelpAfterError();

registerBench(program);
registerData(program);
registerDemo(program);
registerTrain(program);
registerVerify(program);
registerModel(program);
registerGenerate(program);
registerExport(program);
registerEval(program);
registerServe(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Errors of the user's input are reported as one line; REASONRL_DEBUG=1 shows the stack.
  if (process.env.REASONRL_DEBUG) console.error(err);
  fail(err instanceof Error ? err.message : String(err));
}
