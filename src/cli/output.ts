/**
 * Output helpers shared by the subcommands. The `--json` contract: the last
 * line a command prints is one JSON object holding its result.
 */

/** Prints `result` as the final JSON line (always, for benches) or as text. */
export function printResult(result: Record<string, unknown>, opts: { json?: boolean }, text?: string): void {
  if (text !== undefined && !opts.json) console.log(text);
  if (opts.json || text === undefined) console.log(JSON.stringify(result));
}

/** Prints an error for the user and sets a failing exit code, without a stack trace. */
export function fail(message: string): never {
  console.error(`reasonrl: ${message}`);
  process.exit(1);
}
