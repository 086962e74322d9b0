/**
 * Concurrent clients share the engine and each gets the answer it would get alone; clients that
 * disconnect (mid-stream or while waiting) free their slots without disturbing the others.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { ServedModel } from "../../src/serve/served-model.ts";
import type { RunningServer } from "../../src/serve/server.ts";
import { type Json, parseEvents, post, serveTiny, stream, tinyModelFolder, waitFor } from "./helpers.ts";

const MAX_BATCH = 4;
let server: RunningServer;
let model: ServedModel;
let cleanup: () => Promise<void>;

before(async () => {
  const folder = await tinyModelFolder();
  cleanup = folder.cleanup;
  ({ server, model } = await serveTiny(folder.dir, { maxBatch: MAX_BATCH }));
});
after(async () => {
  await server?.close();
  await cleanup?.();
});

/** A request and how to read its answer (texts of its choices), streamed or not. */
interface Call {
  path: string;
  body: Record<string, unknown>;
}

async function answer(call: Call): Promise<string[]> {
  if (call.body.stream) {
    const events = await stream(server, call.path, call.body);
    const texts: string[] = [];
    for (const e of events.slice(0, -1)) {
      for (const c of e.choices) texts[c.index] = (texts[c.index] ?? "") + (c.text ?? c.delta?.content ?? "");
    }
    return texts;
  }
  const { status, body } = await post(server, call.path, call.body);
  assert.equal(status, 200, JSON.stringify(body));
  return body.choices.map((c: Json) => c.text ?? c.message.content);
}

const chat = (content: string, extra: object = {}): Call => ({
  path: "/v1/chat/completions",
  body: { messages: [{ role: "user", content }], max_tokens: 20, temperature: 0, ...extra },
});
const complete = (prompt: string, extra: object = {}): Call => ({
  path: "/v1/completions",
  body: { prompt, max_tokens: 20, temperature: 0, ...extra },
});

describe("serve: concurrent clients", () => {
  test("12 mixed requests at once (max batch 4) each get their one-at-a-time answer", async () => {
    const calls: Call[] = [
      complete("Compute 1+2."),
      complete("Compute 9-4+1.", { max_tokens: 35 }),
      complete("Compute 3+3.", { temperature: 0.8, seed: 1, n: 3 }),
      complete("Compute 5-5.", { temperature: 1, top_p: 0.9, seed: 2, stream: true }),
      complete("Compute 8+1.", { stop: ["1", "+"] }),
      complete("Compute 2+7-3.", { temperature: 0.6, top_k: 5, seed: 3, max_tokens: 8 }),
      chat("Compute 4-1."),
      chat("Compute 6+6.", { stream: true, max_tokens: 30 }),
      chat("Compute 7-2.", { temperature: 0.7, seed: 4, n: 2 }),
      chat("Compute 1+1+1.", { min_p: 0.1, temperature: 1, seed: 5, logprobs: true }),
      chat("Compute 3-1.", { max_tokens: 3 }),
      complete("Compute 9+9.", { logprobs: 2, max_tokens: 12 }),
    ];
    const alone: string[][] = [];
    for (const call of calls) alone.push(await answer(call));

    let mostRunning = 0;
    const stepsBefore = model.generator.stats().steps;
    const watch = setInterval(() => {
      mostRunning = Math.max(mostRunning, model.generator.stats().running);
    }, 1);
    try {
      const together = await Promise.all(calls.map(answer));
      assert.deepEqual(together, alone);
    } finally {
      clearInterval(watch);
    }
    assert.ok(mostRunning <= MAX_BATCH, `running ${mostRunning} > max batch ${MAX_BATCH}`);
    assert.ok(mostRunning > 1, "requests should have been decoded together");
    // decoded together: far fewer steps than the tokens generated
    const tokens = alone.flat().length; // at least one token per choice; the real check is below
    assert.ok(tokens > 0);
    const steps = model.generator.stats().steps - stepsBefore;
    const sequentialSteps = 20 + 35 + 20 + 20 + 20 + 8 + 20 + 30 + 20 + 20 + 3 + 12;
    assert.ok(steps < sequentialSteps, `${steps} decode steps for work that takes ${sequentialSteps} alone`);
  });
});

describe("serve: disconnects", () => {
  test("a client leaving mid-stream stops its sequence and frees its slot; the others are unaffected", async () => {
    const others = [
      chat("Compute 5+4.", { max_tokens: 25 }),
      complete("Compute 2-1.", { stream: true, max_tokens: 25 }),
    ];
    const expected = [];
    for (const call of others) expected.push(await answer(call));

    const maxTokens = 220;
    const before = model.generator.stats();
    const leaving = new AbortController();
    const res = await fetch(`${server.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "Compute 1.", max_tokens: maxTokens, temperature: 0, stream: true }),
      signal: leaving.signal,
    });
    const othersDone = Promise.all(others.map(answer));
    // read the first event, then hang up
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    assert.equal(parseEvents(new TextDecoder().decode(first.value)).length >= 1, true);
    leaving.abort();
    await reader.cancel().catch(() => {});

    assert.deepEqual(await othersDone, expected);
    assert.ok(
      await waitFor(() => model.generator.stats().running === 0 && model.generator.stats().waiting === 0),
      `slots still held: ${JSON.stringify(model.generator.stats())}`,
    );
    const othersTokens = 25 + 25;
    const generated = model.generator.stats().tokens - before.tokens;
    assert.ok(
      generated < othersTokens + maxTokens,
      `the abandoned stream ran to its end: ${generated} tokens generated`,
    );
    const stepsAfterLeave = model.generator.stats().steps;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(model.generator.stats().steps, stepsAfterLeave, "nothing should decode once everyone left");
    // and the server goes on answering
    assert.deepEqual(await answer(others[0]), expected[0]);
  });

  test("a client leaving a non-streamed request frees its slots too", async () => {
    const before = model.generator.stats();
    const leaving = new AbortController();
    const pending = fetch(`${server.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "Compute 1.", n: 3, max_tokens: 220, temperature: 0 }),
      signal: leaving.signal,
    }).catch((err: Error) => err);
    assert.ok(await waitFor(() => model.generator.stats().tokens > before.tokens));
    leaving.abort();
    assert.ok((await pending) instanceof Error);
    assert.ok(await waitFor(() => model.generator.stats().running === 0));
    assert.ok(model.generator.stats().tokens - before.tokens < 3 * 220, "the sequences should stop early");
    const { status } = await post(server, "/v1/completions", { prompt: "Compute 1.", max_tokens: 2 });
    assert.equal(status, 200);
  });
});
