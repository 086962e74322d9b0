/**
 * The `reasonrl` command (bin/reasonrl.js loads this file): parses the command
 * line and runs the subcommand. The subcommands are registered in program.ts.
 */
import { reportError } from "./output.ts";
import { createProgram } from "./program.ts";

try {
  await createProgram().parseAsync(process.argv);
} catch (err) {
  // Errors of the user's input are reported as one line; REASONRL_DEBUG=1 shows the stack.
  reportError(err);
  process.exit(1);
}
