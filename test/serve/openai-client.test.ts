/**
 * The server through the official `openai` client: the details of OpenAI's API reference that
 * clients rely on (GET /v1/models/{id}, usage on stream chunks with include_usage, refusal: null,
 * the field named on context overflow, 405 for a wrong method, a missing API key said so), each
 * read back the way the client reads it.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import type { ServedModel } from "../../src/serve/served-model.ts";
import type { RunningServer } from "../../src/serve/server.ts";
import { CONTEXT, serveTiny, tinyModelFolder } from "./helpers.ts";

const KEY = "sekrit";
let server: RunningServer;
let model: ServedModel;
let client: OpenAI;
let cleanup: () => Promise<void>;

before(async () => {
  const folder = await tinyModelFolder();
  cleanup = folder.cleanup;
  ({ server, model } = await serveTiny(folder.dir, { apiKey: KEY, maxBatch: 4 }));
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: KEY, maxRetries: 0 });
});
after(async () => {
  await server?.close();
  await model?.dispose();
  await cleanup?.();
});

/** The APIError a call rejects with (fails the test when it resolves or throws something else). */
async function apiError(call: () => Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await call();
  } catch (err) {
    assert.ok(err instanceof OpenAI.APIError, `expected an APIError, got ${err}`);
    return err;
  }
  assert.fail("the call succeeded");
}

const ask = [{ role: "user" as const, content: "Compute 2+3." }];

describe("serve through the openai client", () => {
  test("models.retrieve: the served model; another id is a 404 naming the model field", async () => {
    const m = await client.models.retrieve("tiny");
    assert.deepEqual(
      { id: m.id, object: m.object, owned_by: m.owned_by, created: m.created },
      { id: "tiny", object: "model", owned_by: "reasonrl", created: model.created },
    );
    assert.deepEqual(
      (await client.models.list()).data.map((d) => d.id),
      ["tiny"],
    );
    const e = await apiError(() => client.models.retrieve("gpt-4o"));
    assert.ok(e instanceof OpenAI.NotFoundError);
    assert.deepEqual(
      { type: e.type, param: e.param, code: e.code },
      { type: "invalid_request_error", param: "model", code: "model_not_found" },
    );
    assert.match(e.message, /The model 'gpt-4o' does not exist on this server; it serves 'tiny'/);
  });

  test("chat: the message carries refusal: null", async () => {
    const r = await client.chat.completions.create({ model: "tiny", messages: ask, max_tokens: 4 });
    const message = r.choices[0].message;
    assert.ok("refusal" in message, JSON.stringify(message));
    assert.equal(message.refusal, null);
    assert.equal(message.role, "assistant");
  });

  test("chat stream with include_usage: usage null on every chunk, then a usage-only chunk", async () => {
    const chunks = [];
    const s = await client.chat.completions.create({
      model: "tiny",
      messages: ask,
      max_tokens: 8,
      n: 2,
      stream: true,
      stream_options: { include_usage: true },
    });
    for await (const chunk of s) chunks.push(chunk);
    const last = chunks.at(-1);
    assert.ok(last);
    assert.deepEqual(last.choices, []);
    assert.ok(last.usage && last.usage.completion_tokens > 0 && last.usage.prompt_tokens > 0);
    assert.equal(last.usage.total_tokens, last.usage.prompt_tokens + last.usage.completion_tokens);
    assert.ok(chunks.length > 3);
    for (const c of chunks.slice(0, -1)) {
      assert.ok("usage" in c && c.usage === null, JSON.stringify(c));
      assert.equal(c.choices.length, 1);
    }
    assert.equal(chunks[0].choices[0].delta.refusal, null);
    const finishes = chunks.flatMap((c) => c.choices.filter((x) => x.finish_reason).map((x) => x.index));
    assert.deepEqual(finishes.sort(), [0, 1]);
  });

  test("chat stream without include_usage: no usage field, no usage chunk", async () => {
    const s = await client.chat.completions.create({
      model: "tiny",
      messages: ask,
      max_tokens: 4,
      stream: true,
    });
    for await (const c of s) {
      assert.ok(!("usage" in c), JSON.stringify(c));
      assert.equal(c.choices.length, 1);
    }
  });

  test("completions stream with include_usage: the same", async () => {
    const chunks = [];
    const s = await client.completions.create({
      model: "tiny",
      prompt: "Compute 2+3.",
      max_tokens: 6,
      stream: true,
      stream_options: { include_usage: true },
    });
    for await (const chunk of s) chunks.push(chunk);
    const last = chunks.at(-1);
    assert.ok(last?.usage && last.usage.completion_tokens > 0);
    assert.deepEqual(last.choices, []);
    for (const c of chunks.slice(0, -1)) assert.ok("usage" in c && c.usage === null, JSON.stringify(c));
  });

  test("context overflow names the field to change: the messages, or the completion limit", async () => {
    const long = [{ role: "user" as const, content: "1+".repeat(CONTEXT) }];
    const cases: Array<[string, () => Promise<unknown>, string]> = [
      [
        "messages too long",
        () => client.chat.completions.create({ model: "tiny", messages: long }),
        "messages",
      ],
      [
        "max_tokens too large",
        () => client.chat.completions.create({ model: "tiny", messages: ask, max_tokens: CONTEXT }),
        "max_tokens",
      ],
      [
        "max_completion_tokens too large",
        () =>
          client.chat.completions.create({ model: "tiny", messages: ask, max_completion_tokens: CONTEXT }),
        "max_completion_tokens",
      ],
      [
        "prompt too long",
        () => client.completions.create({ model: "tiny", prompt: "1+".repeat(CONTEXT), max_tokens: 1 }),
        "prompt",
      ],
    ];
    for (const [name, call, param] of cases) {
      const e = await apiError(call);
      assert.ok(e instanceof OpenAI.BadRequestError, name);
      assert.equal(e.param, param, `${name}: ${e.message}`);
      assert.equal(e.code, "context_length_exceeded", name);
      assert.match(e.message, new RegExp(`maximum context length is ${CONTEXT} tokens`), name);
    }
  });

  test("a wrong method on a known path: 405 with an error object", async () => {
    for (const [method, path, allowed] of [
      ["get", "/chat/completions", "POST"],
      ["get", "/completions", "POST"],
      ["post", "/models", "GET"],
      ["delete", "/models/tiny", "GET"],
    ] as const) {
      const e = await apiError(() => client[method](path));
      assert.equal(e.status, 405, `${method} ${path}`);
      assert.equal(e.type, "invalid_request_error");
      assert.equal(e.code, "method_not_allowed");
      assert.match(
        e.message,
        new RegExp(`${method.toUpperCase()} is not allowed on /v1${path}; use ${allowed}`),
      );
    }
    const e = await apiError(() => client.get("/no-such-path"));
    assert.equal(e.status, 404);
  });

  test("no API key: a 401 that says the key is missing; a wrong one: invalid_api_key", async () => {
    const keyless = new OpenAI({
      baseURL: `${server.url}/v1`,
      apiKey: "unused",
      maxRetries: 0,
      defaultHeaders: { authorization: null },
    });
    const missing = await apiError(() => keyless.models.list());
    assert.ok(missing instanceof OpenAI.AuthenticationError);
    assert.equal(missing.code, "missing_api_key");
    assert.match(missing.message, /No API key was sent, and this server requires one/);
    const wrongKey = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "nope", maxRetries: 0 });
    const wrong = await apiError(() => wrongKey.models.list());
    assert.ok(wrong instanceof OpenAI.AuthenticationError);
    assert.equal(wrong.code, "invalid_api_key");
  });
});
