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
 *   event: update  data: {"run": "demo", "reset": false, "steps": [...], "evals": [...] (when changed), "events": [...]}
 *
 * `reset` is true when the run's store was replaced (the run started afresh in its folder) or rows
 * it sent were deleted (a resumed run drops the steps after its checkpoint): the update then holds
 * all of the store, and what the page had of the run is to be dropped.
 *   event: runs    data: {"runs": [...]}   (as /api/runs)
 */
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { RunStoreReader } from "../../track/store-read.ts";
import { flatStep } from "./api.ts";
import type { RunRegistry } from "./runs.ts";

/** How often the stores are polled, in milliseconds. */
export const POLL_MS = 1000;

/** Polls between two looks at the run list (a folder walk). */
const RUNS_EVERY = 5;

/** Where a page's stream stands in one run: the last step row, evaluations and event it was sent. */
interface Cursor {
  /** The store read (a run started afresh in its folder has a new one: the page then starts over). */
  reader: RunStoreReader | null;
  stepId: number;
  /** The time of that last step row: a resumed run deletes rows and may reuse their ids. */
  stepTime: number;
  evals: string;
  eventId: number;
}

/** A cursor before anything was sent. */
const START: Cursor = { reader: null, stepId: 0, stepTime: 0, evals: "", eventId: 0 };

/** What landed in run `id` since `cursor` (moved past it); null when nothing did. */
function newRows(runs: RunRegistry, id: string, cursor: Cursor) {
  const store = runs.store(id);
  // The last row sent comes back first, unless the run was resumed (rows deleted) or started afresh.
  const since = cursor.stepId > 0 ? store.stepsSince(cursor.stepId - 1) : [];
  const same = cursor.stepId === 0 || (since[0]?.id === cursor.stepId && since[0].time === cursor.stepTime);
  const reset = cursor.reader !== null && (cursor.reader !== store || !same);
  if (cursor.reader !== store || !same) Object.assign(cursor, START, { reader: store });
  const steps = cursor.stepId > 0 ? since.slice(1) : store.stepsSince(0);
  if (steps.length)
    Object.assign(cursor, { stepId: steps[steps.length - 1].id, stepTime: steps[steps.length - 1].time });
  const evals = store.evals();
  const evalsChanged = JSON.stringify(evals) !== cursor.evals;
  cursor.evals = JSON.stringify(evals);
  const events = store.events(cursor.eventId);
  if (events.length) cursor.eventId = events[events.length - 1].id;
  if (!reset && !steps.length && !evalsChanged && !events.length) return null;
  return { run: id, reset, steps: steps.map(flatStep), ...(evalsChanged ? { evals } : {}), events };
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
      const cursors = new Map<string, Cursor>(ids.map((id) => [id, { ...START }]));
      let runList = "";
      for (let poll = 0; !gone && !closing.aborted; poll++) {
        if (poll % RUNS_EVERY === 0) {
          const list = JSON.stringify({ runs: runs.list() });
          if (list !== runList) await stream.writeSSE({ event: "runs", data: list });
          runList = list;
        }
        for (const [id, cursor] of cursors) {
          let update: ReturnType<typeof newRows>;
          try {
            update = newRows(runs, id, cursor);
          } catch {
            continue; // its folder emptied for a fresh start, its store not made yet: the next poll
          }
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
