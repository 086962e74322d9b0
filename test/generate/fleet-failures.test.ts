/**
 * The fleet under load and failure, against fake vLLM servers on loopback: requests spread by
 * least outstanding; a 500 or a refused connection is retried elsewhere; an endpoint that keeps
 * failing is set aside, probed, and given the current adapters before it takes requests again;
 * with every endpoint down, or the retries spent, the call throws instead of returning fewer groups.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { FleetGenerator, fleetMetrics } from "../../src/generate/fleet.ts";
import { eventually, type FakeServer, fakeServer, generateCalls } from "./fleet-fakes.ts";

const servers: FakeServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())));

async function started(port = 0): Promise<FakeServer> {
  const s = await fakeServer("vllm", { port });
  servers.push(s);
  return s;
}

const prompt = (k: number) => Int32Array.from({ length: k }, (_, i) => i + 1);
const quick = { backoffMs: 1, probeIntervalMs: 30, protocol: "vllm", model: "base" } as const;

test("requests go to the endpoint with the fewest outstanding", async () => {
  const a = await started();
  const b = await started();
  a.holding = b.holding = true;
  const fleet = new FleetGenerator({ ...quick, endpoints: [a.url, b.url] });
  const first = fleet.generate([1, 2, 3, 4, 5].map(prompt));
  await eventually(() => a.held() + b.held() === 5, "5 requests held");
  assert.deepEqual([a.held(), b.held()], [3, 2], "alternating from an idle fleet, ties to the first");
  b.release();
  await eventually(() => fleet.endpointStatus()[1].outstanding === 0, "b answered");
  // a holds 3, b none: the next 3 all go to b
  await fleet.generate([6, 7, 8].map(prompt));
  assert.deepEqual([generateCalls(a.calls).length, generateCalls(b.calls).length], [3, 5]);
  a.release();
  assert.equal((await first).length, 5);
});

test("at most `concurrency` requests per endpoint; the others wait for a free one", async () => {
  const a = await started();
  a.holding = true;
  const fleet = new FleetGenerator({ ...quick, endpoints: [a.url], concurrency: 2 });
  const call = fleet.generate([1, 2, 3, 4].map(prompt));
  await eventually(() => a.held() === 2, "2 requests held");
  assert.equal(generateCalls(a.calls).length, 2);
  a.release();
  assert.equal((await call).length, 4);
  assert.equal(generateCalls(a.calls).length, 4);
});

test("a 500 is retried on another endpoint; one failure does not set the endpoint aside", async () => {
  const a = await started();
  const b = await started();
  let failures = 1;
  a.fail = (c) => (c.path === "/v1/completions" && failures-- > 0 ? 500 : null);
  const fleet = new FleetGenerator({ ...quick, endpoints: [a.url, b.url], setAsideAfter: 2 });
  const groups = await fleet.generate([prompt(3)], { n: 2 });
  assert.equal(groups[0].length, 2);
  assert.equal(generateCalls(a.calls).length, 1);
  assert.equal(generateCalls(b.calls).length, 1, "the retry went to the other endpoint");
  const report = fleet.lastReport();
  assert.ok(report);
  assert.deepEqual(
    {
      requests: report.requests,
      retries: report.retries,
      setAside: report.setAside,
      down: report.endpointsDown,
    },
    { requests: 2, retries: 1, setAside: 0, down: 0 },
  );
  assert.match(report.events[0], /POST \/v1\/completions \(prompt 0\): HTTP 500: injected failure 500/);
  assert.deepEqual(fleetMetrics(report), {
    fleet_requests: 2,
    fleet_retries: 1,
    fleet_set_aside: 0,
    fleet_recovered: 0,
    fleet_endpoints_down: 0,
    fleet_ms: report.ms,
  });
  assert.equal(fleet.endpointStatus()[0].up, true);
});

test("a refused connection sets the endpoint aside; the call completes on the others and says so", async () => {
  const gone = await started();
  await gone.close();
  const b = await started();
  const fleet = new FleetGenerator({
    ...quick,
    endpoints: [gone.url, b.url],
    setAsideAfter: 1,
    probeIntervalMs: 60_000,
  });
  const groups = await fleet.generate([1, 2, 3, 4].map(prompt), { n: 3 });
  assert.deepEqual(
    groups.map((g) => g.length),
    [3, 3, 3, 3],
  );
  const report = fleet.lastReport();
  assert.ok(report);
  assert.equal(report.setAside, 1);
  assert.equal(report.endpointsDown, 1);
  assert.deepEqual(report.answered, [0, 4]);
  assert.ok(report.retries >= 1);
  assert.ok(
    report.events.some((e) => e.includes(`${gone.url}: set aside`) && /ECONNREFUSED/.test(e)),
    report.events.join("\n"),
  );
  assert.equal(fleet.endpointStatus()[0].up, false);
  fleet.close();
});

test("an endpoint set aside is probed, given the current adapter (not the unloaded one) and taken back", async () => {
  const a = await started();
  const b = await started();
  const fleet = new FleetGenerator({ ...quick, endpoints: [a.url, b.url], setAsideAfter: 1 });
  await fleet.loadAdapter("step-1", "/ad/step-1");
  const port = a.port;
  await a.close(); // the server goes down
  await fleet.generate([1, 2, 3].map(prompt));
  assert.equal(fleet.endpointStatus()[0].up, false);
  // the trainer moves on while it is down
  const sync = await fleet.loadAdapter("step-2", "/ad/step-2");
  assert.deepEqual({ endpoints: sync.endpoints, pending: sync.pending }, { endpoints: 1, pending: 1 });
  await fleet.unloadAdapter("step-1");
  // it restarts on the same port, empty
  const back = await started(port);
  await eventually(() => fleet.endpointStatus()[0].up, "the endpoint is taken back");
  assert.equal(back.calls[0].path, "/health");
  const loads = back.calls.filter((c) => c.path === "/v1/load_lora_adapter").map((c) => c.body);
  assert.deepEqual(
    loads,
    [{ lora_name: "step-2", lora_path: "/ad/step-2" }],
    "only the current adapter is loaded",
  );
  assert.deepEqual([...back.adapters.keys()], ["step-2"]);
  await fleet.generate([1, 2, 3, 4].map(prompt));
  const served = generateCalls(back.calls);
  assert.ok(served.length > 0, "it takes requests again");
  for (const c of served) assert.equal(c.body.model, "step-2");
  fleet.close();
});

test("a server that lost its adapter (404 for the model) is set aside, given it again, and the request retried", async () => {
  const a = await started();
  const b = await started();
  const fleet = new FleetGenerator({ ...quick, endpoints: [a.url, b.url] });
  await fleet.loadAdapter("step-4", "/ad/step-4");
  a.adapters.clear(); // restarted between two calls, unseen
  const groups = await fleet.generate([prompt(2), prompt(3)]);
  assert.equal(groups.length, 2);
  const report = fleet.lastReport();
  assert.ok(
    report?.events.some((e) => /lost adapter step-4/.test(e)),
    report?.events.join("\n"),
  );
  await eventually(() => fleet.endpointStatus()[0].up, "the endpoint is taken back");
  assert.deepEqual([...a.adapters.keys()], ["step-4"]);
  fleet.close();
});

test("with every endpoint down the call waits allDownWaitMs, then throws naming each endpoint's failure", async () => {
  const a = await started();
  await a.close();
  const fleet = new FleetGenerator({ ...quick, endpoints: [a.url], setAsideAfter: 1, allDownWaitMs: 100 });
  await assert.rejects(fleet.generate([prompt(2)]), (e: Error) => {
    assert.match(e.message, /all 1 endpoints are down \(waited 100 ms/);
    assert.match(e.message, /ECONNREFUSED/);
    return true;
  });
  fleet.close();
});

test("when the retries are spent the call throws: never fewer groups than asked", async () => {
  const a = await started();
  a.fail = (c) => (c.path === "/v1/completions" ? 503 : null);
  const fleet = new FleetGenerator({ ...quick, endpoints: [a.url], retries: 2, setAsideAfter: 100 });
  await assert.rejects(
    fleet.generate([prompt(2), prompt(3)]),
    /prompt \d: no answer after 3 attempts; the last: .*HTTP 503: injected failure 503/,
  );
  fleet.close();
});

test("an adapter is unloaded only once the calls generating with it are done", async () => {
  const a = await started();
  const fleet = new FleetGenerator({ ...quick, endpoints: [a.url] });
  await fleet.loadAdapter("step-5", "/ad/step-5");
  a.holding = true;
  const running = fleet.generate([prompt(2)]);
  await eventually(() => a.held() === 1, "the request is held");
  const unloading = fleet.unloadAdapter("step-5");
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(a.calls.filter((c) => c.path === "/v1/unload_lora_adapter").length, 0, "not while in use");
  a.release();
  await running;
  await unloading;
  assert.equal(a.calls.at(-1)?.path, "/v1/unload_lora_adapter");
  assert.equal(fleet.model, "base");
});
