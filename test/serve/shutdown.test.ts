/**
 * Shutting the server down drains it: new requests get 503, requests in flight finish within the
 * grace period, and those that cannot end cleanly (a stream: a final chunk with finish_reason and
 * [DONE]; a plain request: a 503 error object). Through `reasonrl serve`: SIGTERM drains and exits
 * 0, a second signal exits at once with 130.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import {
  CONTEXT,
  type Json,
  openStream,
  post,
  serveTiny,
  spawnServe,
  tinyModelFolder,
  waitFor,
} from "./helpers.ts";

const folder = await tinyModelFolder();
after(() => folder.cleanup());

/** Sixteen long samples: on four slots they take many steps, so they are in flight when the test stops the server. */
const LONG = { prompt: "Compute 1+2.", n: 16, max_tokens: CONTEXT - 20, seed: 5 };

/** The finish reason of each choice of a completions stream (undefined for a choice that never finished). */
function finishReasons(events: Json[], choices: number): Array<string | undefined> {
  const reasons: Array<string | undefined> = Array.from({ length: choices }, () => undefined);
  for (const e of events) {
    if (e === "[DONE]") continue;
    for (const c of e.choices) if (c.finish_reason) reasons[c.index] = c.finish_reason;
  }
  return reasons;
}

describe("serve: close drains", () => {
  test("grace 0: a stream in flight ends with finish chunks and [DONE], a plain request gets 503", async () => {
    const { server, model } = await serveTiny(folder.dir, { maxBatch: 4 });
    try {
      const s = openStream(server.url, "/v1/completions", {
        ...LONG,
        stream_options: { include_usage: true },
      });
      const plain = post(server, "/v1/completions", LONG);
      await s.started;
      assert.ok(await waitFor(() => server.inFlight === 2), `in flight: ${server.inFlight}`);
      const report = await server.close(0);
      assert.deepEqual(report, { inFlight: 2, cut: 2 });

      const events = await s.ended;
      assert.equal(events.at(-1), "[DONE]");
      const reasons = finishReasons(events, LONG.n);
      assert.ok(
        reasons.every((r) => r === "stop" || r === "length"),
        `every choice ends with a finish reason: ${reasons}`,
      );
      assert.ok(reasons.includes("length"), "some choices were cut short");
      const usage = events.at(-2);
      assert.deepEqual(usage.choices, []);
      assert.ok(usage.usage.completion_tokens > 0);

      const { status, body } = await plain;
      assert.equal(status, 503, JSON.stringify(body));
      assert.equal(body.error.code, "server_shutting_down");
      assert.match(body.error.message, /shut down before this request finished/);
    } finally {
      await model.dispose();
    }
  });

  test("with a grace period: requests in flight finish on their own, new ones get 503", async () => {
    const { server, model } = await serveTiny(folder.dir, { maxBatch: 4 });
    try {
      const s = openStream(server.url, "/v1/completions", LONG);
      await s.started;
      const closing = server.close(60_000);
      const refused = await post(server, "/v1/completions", { prompt: "Compute 1+1.", max_tokens: 2 });
      assert.equal(refused.status, 503, JSON.stringify(refused.body));
      assert.equal(refused.body.error.type, "server_error");
      assert.equal(refused.body.error.code, "server_shutting_down");
      assert.match(refused.body.error.message, /shutting down and accepts no new requests/);
      assert.equal((await fetch(`${server.url}/health`)).status, 503);

      assert.deepEqual(await closing, { inFlight: 1, cut: 0 });
      const events = await s.ended;
      assert.equal(events.at(-1), "[DONE]");
      // Finished on their own: the same samples as an uninterrupted run of the same request.
      const { server: again, model: model2 } = await serveTiny(folder.dir, { maxBatch: 4 });
      try {
        const { body } = await post(again, "/v1/completions", LONG);
        assert.deepEqual(
          finishReasons(events, LONG.n),
          body.choices.map((c: Json) => c.finish_reason),
        );
      } finally {
        await again.close();
        await model2.dispose();
      }
    } finally {
      await model.dispose();
    }
  });
});

describe("reasonrl serve: signals", () => {
  const start = (grace: string) =>
    spawnServe(
      ["--model", folder.dir, "--port", "0", "--max-batch", "4", "--threads", "1", "--grace", grace],
      (stdout) => /(http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(stdout)?.[1],
    );

  test("SIGTERM with --grace 0: the stream in flight ends with [DONE], then exit 0", async () => {
    const serve = await start("0");
    let signalled = false;
    try {
      const s = openStream(serve.value, "/v1/completions", LONG);
      await s.started;
      signalled = serve.child.kill("SIGTERM");
      const events = await s.ended;
      assert.equal(events.at(-1), "[DONE]");
      assert.ok(finishReasons(events, LONG.n).includes("length"));
    } finally {
      if (!signalled) serve.child.kill("SIGTERM");
    }
    assert.equal(await serve.exited, 0, serve.output.stderr);
    assert.match(serve.output.stderr, /SIGTERM: stopping; new requests get 503, 1 in flight have 0 s/);
    assert.match(serve.output.stderr, /0 of 1 requests in flight finished, 1 cut short/);
  });

  test("a second signal while draining exits at once with 130", async () => {
    const serve = await start("600");
    try {
      const s = openStream(serve.value, "/v1/completions", { ...LONG, n: 64 });
      s.ended.catch(() => {}); // the connection is cut by the exit
      await s.started;
      serve.child.kill("SIGTERM");
      assert.ok(await waitFor(() => serve.output.stderr.includes("stopping")), serve.output.stderr);
      serve.child.kill("SIGINT");
      assert.equal(await serve.exited, 130, serve.output.stderr);
      assert.match(serve.output.stderr, /SIGINT again: exiting now/);
    } finally {
      serve.child.kill("SIGKILL");
    }
  });
});
