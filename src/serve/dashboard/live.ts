/**
 * Live updates for the page: GET /api/live?runs=a,b is a stream of
 * server-sent events. Its first `update` per run holds everything the run has
 * (every stage's steps, the evaluations, the events); then, polling each store
 * about once a second (cheap: a WAL reader sees committed steps at once), an
 * `update` carries only what landed since: the step rows written after the
 * last one sent (a resumed run's rewritten steps too), the evaluations when
 * they changed (all of them: a resume may drop some), the new events. A
 * `runs` event carries the run list when it changes (a new run, a run
 * finishing). Every stream ends when the page goes away or the dashboard
 * closes.
 *
 *   event: update  data: {"run": "demo", "steps": [...], "evals": [...] (when changed), "events": [...]}
 *   event: runs    data: {"runs": [...]}   (as /api/runs)
 */
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import { flatStep } from "./api.ts";
import type { RunRegistry } from "./runs.ts";

/** How often the stores are polled, in milliseconds. */
export const POLL_MS = 1000;

/** Polls between two looks at the run list (a folder walk). */
const RUNS_EVERY = 5;

/** Where a page's stream stands in one run: the last step row, evaluations and event it was sent. */
interface Cursor {
  stepId: number;
  evals: string;
  eventId: number;
}

/** What landed in run `id` since `cursor` (moved past it); null when nothing did. */
function newRows(runs: RunRegistry, id: string, cursor: Cursor) {
  const store = runs.store(id);
  const steps = store.stepsSince(cursor.stepId);
  if (steps.length) cursor.stepId = steps[steps.length - 1].id;
  const evals = store.evals();
  const evalsChanged = JSON.stringify(evals) !== cursor.evals;
  cursor.evals = JSON.stringify(evals);
  const events = store.events(cursor.eventId);
  if (events.length) cursor.eventId = events[events.length - 1].id;
  if (!steps.length && !evalsChanged && !events.length) return null;
  return { run: id, steps: steps.map(flatStep), ...(evalsChanged ? { evals } : {}), events };
}

/**
 * The /api/live handler. `closing` aborts every stream (the dashboard closing); each stream also
 * ends when its page disconnects.
 */
export function liveHandler(runs: RunRegistry, closing: AbortSignal) {
  return (c: Context) => {
    const ids = (c.req.query("runs") ?? "").split(",").filter((s) => s !== "");
    for (const id of ids) runs.folder(id); // an unknown run: 404 before the stream starts
    return streamSSE(c, async (stream) => {
      let gone = false;
      stream.onAbort(() => {
        gone = true;
      });
      const cursors = new Map<string, Cursor>(ids.map((id) => [id, { stepId: 0, evals: "", eventId: 0 }]));
      let runList = "";
      for (let poll = 0; !gone && !closing.aborted; poll++) {
        if (poll % RUNS_EVERY === 0) {
          const list = JSON.stringify({ runs: runs.list() });
          if (list !== runList) await stream.writeSSE({ event: "runs", data: list });
          runList = list;
        }
        for (const [id, cursor] of cursors) {
          const update = newRows(runs, id, cursor);
          if (update) await stream.writeSSE({ event: "update", data: JSON.stringify(update) });
        }
        await sleep(POLL_MS, closing);
      }
    });
  };
}

/** Waits `ms`, or less when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}
