/**
 * Ctrl-C for long commands (train, demo, data curate): the first press asks
 * the work to stop at its next safe point (after the current step, with a
 * checkpoint; after the current batch), the second quits at once.
 */

/**
 * Runs `work` with Ctrl-C wired to `signal`: the first SIGINT aborts it and calls `notice`
 * (to say what happens now), a second exits the process with status 130. The handler is
 * removed when `work` ends.
 */
export async function stopOnCtrlC<T>(
  notice: () => void,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
    notice();
  };
  process.on("SIGINT", onSigint);
  try {
    return await work(controller.signal);
  } finally {
    process.off("SIGINT", onSigint);
  }
}
