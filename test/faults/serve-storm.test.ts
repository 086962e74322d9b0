/**
 * The serve load storm: `reasonrl serve` on a tiny model, 256 concurrent
 * clients on loopback for a bounded time (REASONRL_STORM_SECONDS, default 15),
 * a seeded mix of streaming and plain requests, clients that disconnect, send
 * slowly or read slowly, and malformed, oversized and wrong-method requests.
 *
 * It prints the figures (requests served, p50/p99 latency, outcomes by class,
 * the server's RSS before and after) and checks that every request ended the
 * way its kind should (no 500, no dropped connection, every 200 stream ended
 * with [DONE]), that memory did not grow, and that the server still answers
 * and shuts down cleanly afterwards.
 */
import assert from "node:assert/strict";
import http from "node:http";
import { after, test } from "node:test";
import { spawnServe, tinyModelFolder } from "../serve/helpers.ts";
import { type Call, quantile, type Result, rssMiB, seededRandom, send } from "./helpers-serve.ts";

const CLIENTS = 256;
const SEED = 1;
const STORM_SECONDS = Number(process.env.REASONRL_STORM_SECONDS ?? 15);
const WARMUP_SECONDS = 3;
/** Largest body the server takes (its default, 16 MiB), and a size beyond it. */
const OVERSIZED = 17 * 1024 * 1024;

const folder = await tinyModelFolder();
after(() => folder.cleanup());

/** A short arithmetic prompt. */
function prompt(random: () => number): string {
  const n = () => Math.floor(random() * 100);
  return `Compute ${n()}+${n()}-${n()}.`;
}

/** A request of the storm, drawn with the weights below. */
function drawCall(random: () => number): Call {
  const tokens = 1 + Math.floor(random() * 24);
  const chat = (extra: object = {}) =>
    JSON.stringify({
      messages: [{ role: "user", content: prompt(random) }],
      max_tokens: tokens,
      temperature: random(),
      ...extra,
    });
  const completion = (extra: object = {}) =>
    JSON.stringify({ prompt: prompt(random), max_tokens: tokens, n: 1 + Math.floor(random() * 3), ...extra });
  const served = ["served"];
  const kinds: Array<[number, () => Call]> = [
    [
      22,
      () => ({
        kind: "chat_stream",
        method: "POST",
        path: "/v1/chat/completions",
        stream: true,
        expected: served,
        body: chat({ stream: true, stream_options: { include_usage: random() < 0.5 } }),
      }),
    ],
    [
      22,
      () => ({
        kind: "completion",
        method: "POST",
        path: "/v1/completions",
        expected: served,
        body: completion(),
      }),
    ],
    [
      8,
      () => ({
        kind: "completion_stream",
        method: "POST",
        path: "/v1/completions",
        stream: true,
        expected: served,
        body: completion({ stream: true }),
      }),
    ],
    [
      12,
      () => ({
        kind: "disconnect_mid_stream",
        method: "POST",
        path: "/v1/chat/completions",
        stream: true,
        expected: ["client_disconnect", "served"],
        abortAfterMs: random() * 200,
        body: chat({ stream: true, max_tokens: 64 }),
      }),
    ],
    [
      5,
      () => ({
        kind: "disconnect_waiting",
        method: "POST",
        path: "/v1/completions",
        expected: ["client_disconnect", "served"],
        abortAfterMs: random() * 200,
        body: completion({ max_tokens: 64 }),
      }),
    ],
    [
      6,
      () => ({
        kind: "slow_sender",
        method: "POST",
        path: "/v1/completions",
        expected: served,
        body: completion(),
        pieces: 4,
        pauseMs: 50 + random() * 250,
      }),
    ],
    [
      6,
      () => ({
        kind: "slow_reader",
        method: "POST",
        path: "/v1/chat/completions",
        stream: true,
        expected: served,
        readPauseMs: 20 + random() * 80,
        body: chat({ stream: true }),
      }),
    ],
    [
      5,
      () => ({
        kind: "malformed_json",
        method: "POST",
        path: "/v1/completions",
        expected: ["http_400"],
        body: `{"prompt": "${prompt(random)}",`,
      }),
    ],
    [
      4,
      () => ({
        kind: "wrong_types",
        method: "POST",
        path: "/v1/chat/completions",
        expected: ["http_400"],
        body: JSON.stringify({ messages: "hi", max_tokens: "x" }),
      }),
    ],
    [
      2,
      () => ({
        kind: "context_overflow",
        method: "POST",
        path: "/v1/completions",
        expected: ["http_400"],
        body: completion({ max_tokens: 100_000 }),
      }),
    ],
    [
      2,
      () => ({
        kind: "unknown_path",
        method: "POST",
        path: "/v1/embeddings",
        expected: ["http_404"],
        body: "{}",
      }),
    ],
    [
      2,
      () => ({
        kind: "wrong_method",
        method: "PUT",
        path: "/v1/chat/completions",
        expected: ["http_405"],
        body: chat(),
      }),
    ],
    [
      3,
      () => ({
        kind: "oversized_announced",
        method: "POST",
        path: "/v1/completions",
        expected: ["http_413"],
        declaredLength: OVERSIZED,
        body: completion(),
      }),
    ],
    [
      1,
      () => ({
        kind: "oversized_sent",
        method: "POST",
        path: "/v1/completions",
        expected: ["http_413"],
        chunkedBytes: OVERSIZED,
      }),
    ],
  ];
  const total = kinds.reduce((s, [w]) => s + w, 0);
  let r = random() * total;
  for (const [w, make] of kinds) {
    r -= w;
    if (r < 0) return make();
  }
  return kinds[0][1]();
}

/** CLIENTS clients, each sending one request after another until `seconds` pass; every result. */
async function storm(base: string, seconds: number, seed: number): Promise<Result[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS * 2 });
  const end = performance.now() + seconds * 1000;
  const results: Result[] = [];
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, i) => {
      const random = seededRandom(seed * 100_003 + i);
      while (performance.now() < end) results.push(await send(base, agent, drawCall(random)));
    }),
  );
  agent.destroy();
  return results;
}

/** Counts by key, largest first, as "key n, key n". */
function counts(items: readonly string[]): string {
  const map = new Map<string, number>();
  for (const k of items) map.set(k, (map.get(k) ?? 0) + 1);
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(", ");
}

test(`serve under a storm of ${CLIENTS} clients: every request ends as it should, memory holds, the server still answers`, async () => {
  const serve = await spawnServe(
    ["--model", folder.dir, "--port", "0", "--max-batch", "16", "--threads", "1", "--grace", "5"],
    (stdout) => /(http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(stdout)?.[1],
  );
  const base = serve.value;
  const pid = serve.child.pid ?? 0;
  let stopped = false;
  try {
    const rssStart = await rssMiB(pid);
    await storm(base, WARMUP_SECONDS, SEED + 1000);
    const rssWarm = await rssMiB(pid);
    const t0 = performance.now();
    const results = await storm(base, STORM_SECONDS, SEED);
    const wall = (performance.now() - t0) / 1000;
    const rssAfter = await rssMiB(pid);

    const t1 = performance.now();
    const check = await fetch(`${base}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "Compute 1+2.", max_tokens: 4 }),
    });
    const checkMs = performance.now() - t1;
    const checkBody = await check.json();

    const served = results.filter((r) => r.outcome === "served");
    const latency = served.map((r) => r.ms).sort((a, b) => a - b);
    const unexpected = results.filter((r) => !r.expected);
    const growth = rssAfter - rssWarm;
    console.log(
      [
        `serve storm: ${CLIENTS} clients for ${STORM_SECONDS} s (seed ${SEED}, tiny model, --max-batch 16 --threads 1)`,
        `  requests: ${results.length} in ${wall.toFixed(1)} s, served ${served.length} (${(served.length / wall).toFixed(1)}/s)`,
        `  latency of served requests: p50 ${quantile(latency, 0.5).toFixed(0)} ms, p99 ${quantile(latency, 0.99).toFixed(0)} ms`,
        `  outcomes: ${counts(results.map((r) => r.outcome))}`,
        `  kinds: ${counts(results.map((r) => r.kind))}`,
        `  sent again after a kept-alive connection was found closed: ${results.filter((r) => r.resent).length}`,
        `  unexpected: ${unexpected.length}${unexpected.length ? ` (${counts(unexpected.map((r) => `${r.kind}->${r.outcome}`))})` : ""}`,
        `  server RSS: ${rssStart.toFixed(0)} MiB at start, ${rssWarm.toFixed(0)} MiB after a ${WARMUP_SECONDS} s warm-up, ` +
          `${rssAfter.toFixed(0)} MiB after the storm (${growth >= 0 ? "+" : ""}${growth.toFixed(0)} MiB)`,
        `  after the storm: a completion answered ${check.status} in ${checkMs.toFixed(0)} ms`,
      ].join("\n"),
    );

    assert.deepEqual(
      unexpected.slice(0, 10).map((r) => `${r.kind}->${r.outcome}`),
      [],
      `${unexpected.length} requests ended unexpectedly`,
    );
    assert.ok(served.length >= CLIENTS, `only ${served.length} requests served`);
    for (const kind of ["chat_stream", "completion", "slow_sender", "slow_reader", "oversized_announced"])
      assert.ok(
        results.some((r) => r.kind === kind),
        `the storm sent no ${kind}`,
      );
    assert.equal(check.status, 200, JSON.stringify(checkBody));
    assert.ok(checkBody.usage.completion_tokens > 0);
    assert.equal((await fetch(`${base}/health`)).status, 200);
    assert.ok(
      rssAfter <= rssWarm * 1.25 + 32,
      `the server's memory grew from ${rssWarm.toFixed(0)} to ${rssAfter.toFixed(0)} MiB`,
    );

    stopped = serve.child.kill("SIGTERM");
    assert.equal(await serve.exited, 0, serve.output.stderr);
  } finally {
    if (!stopped) serve.child.kill("SIGKILL");
  }
});
