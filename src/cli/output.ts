/**
 * What the subcommands print, and where. The contract every subcommand keeps:
 *
 * - Results go to stdout: a text for people, or with `--json` one JSON object.
 *   The last line a command prints to stdout is that JSON object (with
 *   `--json`), so `reasonrl ... --json | tail -n 1` is always the result.
 * - Progress, logs and warnings go to stderr (see `progressLog`), so they never
 *   mix with results in a pipe.
 * - Every error is one line on stderr, "reasonrl: ...", naming the flag, file,
 *   line or field, with exit status 1 (`fail`, or any error thrown out of an
 *   action; run-cli.ts prints it). `--verbose` or REASONRL_DEBUG=1 adds the
 *   stack. A command stopped by Ctrl-C says what it saved and exits 130
 *   (interrupt.ts).
 * - JSON keys are snake_case (as the OpenAI API and TRL); code stays camelCase,
 *   converted where a result is built for printing.
 */

/** The flag every subcommand has (options.ts: jsonOption). */
export interface JsonFlag {
  json?: boolean;
}

/**
 * Prints a command's result: `text` for people (without --json), then the JSON
 * line (with --json, or always when there is no text, as benches do).
 */
export function printResult(result: Record<string, unknown>, opts: JsonFlag, text?: string): void {
  if (text !== undefined && !opts.json) console.log(text);
  if (opts.json || text === undefined) console.log(JSON.stringify(result));
}

/** A log for progress and notes: lines to stderr, or nothing when `quiet`. */
export function progressLog(quiet = false): (line: string) => void {
  return quiet ? () => {} : (line) => console.error(line);
}

/** An error of the user's input: main.ts prints its message as one line, without a stack. */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * Stops the command with an error for the user. It throws (so `finally` blocks
 * and `await using` still release engines and servers); main.ts prints
 * "reasonrl: <message>" and exits with status 1.
 */
export function fail(message: string): never {
  throw new UsageError(message);
}

/** JavaScript's own error types: a bug of ours rather than bad input (the stack helps then). */
const BUG_TYPES = [TypeError, ReferenceError, SyntaxError];

/**
 * Prints an error that ended the command as one line on stderr (a message of several lines is
 * joined with "; "), and its stack first when `verbose`.
 */
export function reportError(err: unknown, verbose = Boolean(process.env.REASONRL_DEBUG)): void {
  if (verbose) console.error(err);
  const message = err instanceof Error ? err.message : String(err);
  const line = message
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .join("; ");
  const hint = !verbose && BUG_TYPES.some((t) => err instanceof t) ? " (--verbose shows where)" : "";
  console.error(`reasonrl: ${line || (err instanceof Error ? err.name : "error")}${hint}`);
}
