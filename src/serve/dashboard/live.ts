/**
 * Live updates for the page: GET /api/live?runs=a,b is a stream of
 * server-sent events. Its first `update` per run holds everything the run has
 * (every stage's steps, the evaluations, the events); then, polling each store
 * about once a second (cheap: a WAL reader sees committed steps at once), an
 * `update` carries only what landed since. A `runs` event carries the run list
 * when it changes (a new run, a run finishing). Every stream ends when the
 * page goes away or the dashboard closes.
 *
 *   event: update  data: {"run": "demo", "steps": [...], "evals": [...], "events": [...]}
 *   event: runs    data: {"runs": [...]}   (as /api/runs)
 */
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import { evalsAfter, eventsAfter, type StepRow, stagesOf, stepsAfter } from "./queries.ts";
import type { RunRegistry } from "./runs.ts";

/** How often the stores are polled, in milliseconds. */
export const POLL_MS = 1000;

/** Polls between two looks at the run list (a folder walk). */
const RUNS_EVERY = 5;

/** Where a page's stream stands in one run: the last step per stage, eval and event it was sent. */
interface Cursor {
  steps: Map<string, number>;
  lastEval: number;
  lastEvent: number;
}

/** What landed in run `id` since `cursor` (moved past it); null when nothing did. */
function newRows(runs: RunRegistry, id: string, cursor: Cursor) {
  const db = runs.store(id);
  const steps: StepRow[] = [];
  for (const stage of stagesOf(db)) {
    const rows = stepsAfter(db, stage, cursor.steps.get(stage) ?? -1);
    if (rows.length) cursor.steps.set(stage, rows[rows.length - 1].step);
    steps.push(...rows);
  }
  const evals = evalsAfter(db, cursor.lastEval);
  if (evals.length) cursor.lastEval = evals[evals.length - 1].step;
  const events = eventsAfter(db, cursor.lastEvent);
  if (events.length) cursor.lastEvent = events[events.length - 1].id;
  if (!steps.length && !evals.length && !events.length) return null;
  return { run: id, steps, evals, events };
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
      const cursors = new Map<string, Cursor>(
        ids.map((id) => [id, { steps: new Map(), lastEval: -1, lastEvent: 0 }]),
      );
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
