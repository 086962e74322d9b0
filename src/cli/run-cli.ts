/**
 * One run of the `reasonrl` command line, as a function: parses `argv`, runs
 * the subcommand, and returns the exit status instead of exiting, so main.ts
 * and the CLI's tests (test/faults/cli-fuzz.test.ts) run exactly the same path.
 *
 * Exit status: 0 when the command did its work, 130 when Ctrl-C stopped it
 * (interrupt.ts; it says what it saved), 1 for any error. An error is printed
 * as one line, "reasonrl: <what and where>", without a stack; the global flag
 * `--verbose` (or REASONRL_DEBUG=1) prints the stack too.
 */
import { type Command, CommanderError } from "commander";
import { STOPPED_EXIT_CODE } from "./interrupt.ts";
import { reportError } from "./output.ts";
import { createProgram } from "./program.ts";

/** Commander's ways of ending that are not errors: help and version shown. */
const NOT_ERRORS = new Set(["commander.helpDisplayed", "commander.version"]);

/** Runs the command line `argv` (as process.argv: node, script, then the arguments); returns the exit status. */
export async function runCli(argv: readonly string[]): Promise<number> {
  const program = createProgram();
  process.exitCode = undefined;
  try {
    await program.parseAsync([...argv]);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (NOT_ERRORS.has(err.code) || err.exitCode === 0) return err.exitCode;
      const path = commandPath(program, argv.slice(2));
      // A group without its subcommand (`reasonrl data`): commander printed the group's help.
      if (err.code === "commander.help") {
        reportError(
          new Error(`${path ? `${path}: which command?` : "a command is needed"} (the list above)`),
          false,
        );
        return err.exitCode;
      }
      // Commander's own errors name the flag or argument; add where its help is.
      const message = err.message.replace(/^error: /, "");
      reportError(new Error(`${message} (see reasonrl ${path}${path ? " " : ""}--help)`), false);
      return err.exitCode || 1;
    }
    reportError(err, isVerbose(program, argv));
    // A command stopped by Ctrl-C that ends by throwing (what it kept is in the message) is still "stopped".
    return process.exitCode === STOPPED_EXIT_CODE ? STOPPED_EXIT_CODE : 1;
  }
}

/** Whether the stack of an error is wanted: --verbose (anywhere on the line) or REASONRL_DEBUG=1. */
function isVerbose(program: Command, argv: readonly string[]): boolean {
  return Boolean(program.opts().verbose || argv.includes("--verbose") || process.env.REASONRL_DEBUG);
}

/** The subcommand names at the start of `args` ("data curate" of "data curate r.yaml --out x"). */
function commandPath(program: Command, args: readonly string[]): string {
  const names: string[] = [];
  let command = program;
  for (const arg of args) {
    const next = command.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (!next) break;
    names.push(next.name());
    command = next;
  }
  return names.join(" ");
}
