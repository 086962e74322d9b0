/**
 * What the subcommands print, and where. The contract every subcommand keeps:
 *
 * - Results go to stdout: a text for people, or with `--json` one JSON object.
 *   The last line a command prints to stdout is that JSON object (with
 *   `--json`), so `reasonrl ... --json | tail -n 1` is always the result.
 * - Progress, logs and warnings go to stderr (see `progressLog`), so they never
 *   mix with results in a pipe.
 * - Errors of the user's input are one line on stderr, "reasonrl: ...", with
 *   exit status 1 (`fail`, or any error thrown out of an action; main.ts
 *   prints it). REASONRL_DEBUG=1 adds the stack.
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

/** Prints an error that ended the command, as one line (with the stack under REASONRL_DEBUG=1). */
export function reportError(err: unknown): void {
  if (process.env.REASONRL_DEBUG) console.error(err);
  console.error(`reasonrl: ${err instanceof Error ? err.message : String(err)}`);
}
