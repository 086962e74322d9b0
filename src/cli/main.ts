/**
 * The `reasonrl` command (bin/reasonrl.js loads this file): runs the command
 * line (run-cli.ts) and exits with its status: 0 done, 130 stopped by Ctrl-C,
 * 1 on any error (printed as one line; --verbose or REASONRL_DEBUG=1 adds the stack).
 */
import { reportError } from "./output.ts";

// An error outside the command's own flow (a stray rejected promise) is still one line and status 1.
const verbose = process.argv.includes("--verbose") || Boolean(process.env.REASONRL_DEBUG);
process.on("uncaughtException", (err) => {
  reportError(err, verbose);
  process.exit(1);
});
process.on("unhandledRejection", (err) => {
  reportError(err, verbose);
  process.exit(1);
});

// Imported here, after the handlers: a source that fails to load is reported as one line too.
const { runCli } = await import("./run-cli.ts");
const status = await runCli(process.argv);
// A failed command may hold handles (an engine, a server): end it now. A finished or stopped one
// ends by itself once its work is done, so its output is flushed.
if (status !== 0 && status !== 130) process.exit(status);
process.exitCode = status;
