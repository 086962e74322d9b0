/**
 * Ctrl-C for long commands (train, demo, data curate, eval): the first press
 * asks the work to stop at its next safe point (after the current step, with a
 * checkpoint; after the current batch), the second quits at once. Either way
 * the command exits with status 130 (128 + SIGINT, as shells report a command
 * stopped by Ctrl-C), so `reasonrl train ... && next` does not go on.
 */

/** The exit status of a command stopped by Ctrl-C (128 + SIGINT's number). */
export const STOPPED_EXIT_CODE = 130;

/**
 * Marks the command as stopped: it exits with status 130 once it has printed
 * what it saved (the process is not ended here, so `finally` blocks still run).
 */
export function exitAsStopped(): void {
  process.exitCode = STOPPED_EXIT_CODE;
}

/**
 * Runs `work` with Ctrl-C wired to `signal`: the first SIGINT aborts it and calls `notice`
 * (to say what happens now), a second exits the process with status 130 at once. When the
 * signal was aborted, the command exits with status 130 after `work` ends (what it saved is
 * for `work` to print). The handler is removed when `work` ends.
 */
export async function stopOnCtrlC<T>(
  notice: () => void,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(STOPPED_EXIT_CODE);
    controller.abort();
    notice();
  };
  process.on("SIGINT", onSigint);
  try {
    return await work(controller.signal);
  } finally {
    process.off("SIGINT", onSigint);
    if (controller.signal.aborted) exitAsStopped();
  }
}
