/**
 * The dashboard's JSON API without a browser (hono's app.request): the run
 * list over train and eval folders, steps, evaluations, events, the rollout
 * browser's filters, eval samples, the paper-style table of eval folders, the
 * live stream's first and later updates, and the errors a bad request gets.
 * The stores are written by the run store's own writer.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { RunRegistry } from "../../src/serve/dashboard/runs.ts";
import { createDashboardApp, isLoopback } from "../../src/serve/dashboard/server.ts";
import {
  evalFolder,
  finishedRun,
  type Json,
  MARKUP,
  openTrainStore,
  writeStep,
} from "./dashboard-fixture.ts";

const root = await mkdtemp(join(tmpdir(), "reasonrl-dashboard-api-"));
const runs = new RunRegistry(root);
const closing = new AbortController();
const app = createDashboardApp(runs, { closing: closing.signal });

before(async () => {
  await finishedRun(join(root, "a"), "a", 8);
  await evalFolder(join(root, "eval", "base"), "base", 0.4);
  await evalFolder(join(root, "eval", "tuned"), "tuned", 0.6);
});
after(async () => {
  closing.abort();
  runs.close();
  await rm(root, { recursive: true, force: true });
});

const host = { host: "127.0.0.1:8421" };
async function get(path: string, headers: Record<string, string> = host) {
  const res = await app.request(path, { headers });
  return { status: res.status, body: (await res.json()) as Json };
}

test("the run list has train and eval folders with their key figures", async () => {
  const { status, body } = await get("/api/runs");
  assert.equal(status, 200);
  const byId = new Map(body.runs.map((r: Json) => [r.id, r]));
  assert.deepEqual([...byId.keys()].sort(), ["a", "eval/base", "eval/tuned"]);
  const a = byId.get("a") as Json;
  assert.equal(a.kind, "train");
  assert.equal(a.status, "finished");
  assert.equal(a.steps, 8);
  assert.ok(Math.abs(a.last_reward - 1.3) < 1e-9);
  assert.equal(a.has_results, false);
  assert.equal((byId.get("eval/base") as Json).has_results, true);
});

test("steps come back as metrics records; evaluations with their intervals; events", async () => {
  const steps = (await get("/api/steps?run=a&stage=grpo")).body.steps;
  assert.deepEqual(
    steps.map((s: Json) => s.step),
    [1, 2, 3, 4, 5, 6, 7, 8],
  );
  assert.equal(steps[0].stage, "grpo");
  assert.equal(steps[7].kl, 0.08);
  const evals = (await get("/api/evals?run=a")).body.evals;
  assert.deepEqual(
    evals.map((e: Json) => [e.step, e.n]),
    [
      [4, 50],
      [8, 50],
    ],
  );
  assert.ok(evals[0].ci_low < evals[0].accuracy && evals[0].accuracy < evals[0].ci_high);
  const events = (await get("/api/events?run=a")).body.events;
  assert.deepEqual(
    events.map((e: Json) => [e.step, e.name, e.level]),
    [
      [3, "length_limit", "warn"],
      [6, "length_limit", "warn"],
    ],
  );
});

test("the rollout browser's filters each keep their completions, grouped by prompt", async () => {
  const q = (filter: string) => get(`/api/rollouts?run=a&step=5${filter}`);
  const all = (await q("")).body;
  assert.equal(all.total, 8);
  assert.equal(all.shown, 8);
  assert.deepEqual(
    all.groups.map((g: Json) => [g.grp, g.prompt, g.completions.length]),
    [
      [0, "What is 2 + 5?", 4],
      [1, "What is 3 + 5?", 4],
    ],
  );
  const idx = async (filter: string) =>
    (await q(filter)).body.groups.flatMap((g: Json) => g.completions.map((c: Json) => `${g.grp}.${c.idx}`));
  assert.deepEqual(await idx("&correct=1"), ["0.0", "0.3", "1.0", "1.3"]);
  assert.deepEqual(await idx("&correct=0"), ["0.1", "0.2", "1.1", "1.2"]);
  assert.deepEqual(await idx("&cut=1"), ["0.2", "1.2"]);
  assert.deepEqual(await idx("&non_english=1"), ["0.3", "1.3"]);
  assert.deepEqual(await idx("&format_broken=1"), ["0.2", "1.2"]);
  assert.deepEqual(await idx("&group=1&correct=1"), ["1.0", "1.3"]);
  assert.deepEqual(await idx(`&q=${encodeURIComponent("<script>")}`), ["0.1", "1.1"]);
  assert.deepEqual(await idx("&q=100%25"), []); // LIKE's wildcards are taken literally
  const first = (await q("&group=0")).body.groups[0].completions[1];
  assert.equal(first.completion, `<think>${MARKUP}</think>\n<answer>7</answer>`);
  assert.deepEqual(first.rewards, { accuracy: 0, format: 1 });
  assert.equal(first.advantage, -0.9);
  assert.deepEqual((await get("/api/rollout-steps?run=a")).body.steps, [1, 2, 3, 4, 5, 6, 7, 8]);
});

test("evaluation samples: the sets kept, then one set filtered", async () => {
  assert.deepEqual((await get("/api/eval-sets?run=a")).body.sets, [
    { step: 4, benchmark: "heldout", samples: 6 },
    { step: 8, benchmark: "heldout", samples: 6 },
  ]);
  const base = await get("/api/eval-samples?run=eval/base&step=0&benchmark=math500&correct=0");
  assert.deepEqual(
    base.body.samples.map((s: Json) => [s.problem, s.sample, s.completion]),
    [
      [1, 1, "<b>1</b>"],
      [2, 1, "<b>2</b>"],
      [3, 1, "<b>3</b>"],
    ],
  );
  const search = await get("/api/eval-samples?run=eval/base&step=0&benchmark=math500&q=problem%203");
  assert.equal(search.body.total, 2);
});

test("the paper-style table of eval folders comes from src/eval (eval compare)", async () => {
  const { status, body } = await get("/api/eval-table?runs=eval/base,eval/tuned");
  assert.equal(status, 200);
  assert.equal(body.metric, "pass@1");
  assert.deepEqual(body.columns, [{ name: "math500", title: "MATH-500" }]);
  assert.deepEqual(
    body.rows.map((r: Json) => [r.model, r.cells[0].text]),
    [
      ["base", "40.0 [30.0, 50.0]"],
      ["tuned", "60.0 [50.0, 70.0]"],
    ],
  );
  assert.match(body.markdown, /\| tuned \| 60\.0 \[50\.0, 70\.0\] \|/);
  assert.equal((await get("/api/eval-table?runs=a")).status, 400);
  assert.equal((await get("/api/eval-table?runs=eval/base&metric=pass@9")).status, 400);
});

test("bad requests name what is wrong; unknown runs and paths outside the folder are 404", async () => {
  const cases: Array<[string, number, RegExp]> = [
    ["/api/steps", 400, /missing parameter run/],
    ["/api/steps?run=nope", 404, /no run "nope"/],
    ["/api/steps?run=../a", 404, /no run/],
    ["/api/rollouts?run=a&step=x", 400, /step must be an integer/],
    ["/api/rollouts?run=a&step=1&cut=maybe", 400, /cut must be 1 or 0/],
    ["/api/eval-samples?run=a&step=4", 400, /missing parameter benchmark/],
    ["/etc/passwd", 404, /no page/],
  ];
  for (const [path, status, message] of cases) {
    const res = await get(path);
    assert.equal(res.status, status, path);
    assert.match(res.body.error, message, path);
  }
});

test("on loopback it answers only requests addressed to a loopback name", async () => {
  assert.equal((await get("/api/runs", { host: "evil.example:8421" })).status, 403);
  assert.equal((await get("/api/runs", { host: "localhost:8421" })).status, 200);
  assert.ok(isLoopback("127.0.0.1") && isLoopback("[::1]") && isLoopback("localhost"));
  assert.ok(!isLoopback("0.0.0.0") && !isLoopback("192.168.1.2"));
  const page = await app.request("/", { headers: host });
  assert.match(page.headers.get("content-security-policy") ?? "", /script-src 'self'/);
  assert.match(await page.text(), /<title>reasonrl dashboard<\/title>/);
  assert.equal((await app.request("/uplot.js", { headers: host })).status, 200);
});

/** Reads server-sent events from a response body until `count` events of `name` came. */
async function readEvents(res: Response, name: string, count: number, during?: () => void) {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  const events: Json[] = [];
  let buffer = "";
  while (events.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end = buffer.indexOf("\n\n");
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = block
        .split("\n")
        .filter((l) => l.startsWith("data: "))
        .map((l) => l.slice(6))
        .join("\n");
      if (event === name) {
        events.push(JSON.parse(data));
        if (events.length === 1) during?.();
      }
      end = buffer.indexOf("\n\n");
    }
  }
  await reader.cancel();
  return events;
}

test("the live stream sends a run's rows, then only the steps that land", { timeout: 15_000 }, async () => {
  const dir = join(root, "live");
  const store = openTrainStore(dir, "live");
  try {
    writeStep(store, 1);
    writeStep(store, 2);
    runs.ids(); // the new folder
    const res = await app.request("/api/live?runs=live", { headers: host });
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    const [first, second] = await readEvents(res, "update", 2, () => {
      writeStep(store, 3);
      writeStep(store, 4);
    });
    assert.deepEqual(
      first.steps.map((s: Json) => s.step),
      [1, 2],
    );
    assert.deepEqual(first.evals, []); // the first update holds everything, none yet
    assert.deepEqual(
      second.steps.map((s: Json) => s.step),
      [3, 4],
    );
    assert.deepEqual(
      second.evals.map((e: Json) => e.step),
      [4],
    );
    assert.deepEqual(
      second.events.map((e: Json) => e.step),
      [3],
    );
  } finally {
    store.close();
  }
  assert.equal((await get("/api/live?runs=nope")).status, 404);
});

test("a run started afresh in its folder (the demo does): the stream starts it over", {
  timeout: 15_000,
}, async () => {
  const dir = join(root, "fresh");
  let store = openTrainStore(dir, "fresh");
  for (let s = 1; s <= 3; s++) writeStep(store, s);
  runs.ids();
  const res = await app.request("/api/live?runs=fresh", { headers: host });
  const [first, second] = await readEvents(res, "update", 2, () => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
    store = openTrainStore(dir, "fresh");
    writeStep(store, 1);
  });
  store.close();
  assert.equal(first.reset, false);
  assert.deepEqual(
    first.steps.map((s: Json) => s.step),
    [1, 2, 3],
  );
  assert.equal(second.reset, true);
  assert.deepEqual(
    second.steps.map((s: Json) => s.step),
    [1],
  );
  assert.deepEqual((await get("/api/rollout-steps?run=fresh")).body.steps, [1]);
});

test("a dashboard of one run folder (or one eval folder) serves it as run '.'", async () => {
  const one = new RunRegistry(join(root, "a"));
  try {
    const app1 = createDashboardApp(one);
    const runsList = (await (await app1.request("/api/runs", { headers: host })).json()) as Json;
    assert.deepEqual(
      runsList.runs.map((r: Json) => [r.id, r.name]),
      [[".", "a"]],
    );
    const steps = (await (await app1.request("/api/steps?run=.", { headers: host })).json()) as Json;
    assert.equal(steps.steps.length, 8);
  } finally {
    one.close();
  }
});

test("a resumed run (steps after its checkpoint deleted, then written again): the stream starts it over", {
  timeout: 15_000,
}, async () => {
  const dir = join(root, "resumed");
  const store = openTrainStore(dir, "resumed");
  try {
    for (let s = 1; s <= 4; s++) writeStep(store, s);
    runs.ids();
    const res = await app.request("/api/live?runs=resumed", { headers: host });
    const [first, second] = await readEvents(res, "update", 2, () => {
      // As rl/run.ts resumes from the checkpoint of step 2: the rows of steps 3 and 4 go, and come again.
      store.truncateAfter("grpo", 2);
      writeStep(store, 3);
    });
    assert.deepEqual(
      first.steps.map((s: Json) => s.step),
      [1, 2, 3, 4],
    );
    assert.equal(second.reset, true);
    assert.deepEqual(
      second.steps.map((s: Json) => s.step),
      [1, 2, 3],
    );
  } finally {
    store.close();
  }
});
