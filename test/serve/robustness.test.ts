/**
 * Bad requests get 4xx with OpenAI's error body and leave the server answering; API keys; an engine
 * failure fails its requests with 500, not the process.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { ServedModel } from "../../src/serve/served-model.ts";
import type { RunningServer } from "../../src/serve/server.ts";
import { CONTEXT, type Json, post, serveTiny, tinyModelFolder } from "./helpers.ts";

let dir: string;
let cleanup: () => Promise<void>;
let server: RunningServer;
let model: ServedModel;

before(async () => {
  ({ dir, cleanup } = await tinyModelFolder());
  ({ server, model } = await serveTiny(dir, { maxBodyBytes: 64 * 1024, logError: () => {} }));
});
after(async () => {
  await server?.close();
  await cleanup?.();
});

/** Checks OpenAI's error shape and returns the error object. */
function openAiError(body: Json): {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
} {
  assert.equal(typeof body, "object", `not a JSON body: ${body}`);
  const e = body.error;
  assert.equal(typeof e?.message, "string", JSON.stringify(body));
  assert.ok(e.message.length > 0);
  assert.equal(typeof e.type, "string");
  assert.ok("param" in e && "code" in e, JSON.stringify(body));
  return e;
}

async function stillAnswers(): Promise<void> {
  const { status, body } = await post(server, "/v1/completions", { prompt: "Compute 1+2.", max_tokens: 3 });
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.usage.completion_tokens > 0, true);
}

describe("serve: bad requests", () => {
  const longPrompt = "1+".repeat(CONTEXT);
  const cases: Array<[string, string, unknown, number, string | null]> = [
    ["malformed JSON", "/v1/completions", '{"prompt": "x",', 400, null],
    ["a JSON array body", "/v1/completions", "[1, 2]", 400, null],
    ["no prompt", "/v1/completions", { max_tokens: 3 }, 400, "prompt"],
    ["a prompt of the wrong type", "/v1/completions", { prompt: { text: "x" } }, 400, "prompt"],
    ["an empty prompt list", "/v1/completions", { prompt: [] }, 400, "prompt"],
    ["max_tokens as a string", "/v1/completions", { prompt: "x", max_tokens: "5" }, 400, "max_tokens"],
    ["max_tokens 0", "/v1/completions", { prompt: "x", max_tokens: 0 }, 400, "max_tokens"],
    ["n = 1000", "/v1/completions", { prompt: "x", n: 1000 }, 400, "n"],
    ["n = 2.5", "/v1/completions", { prompt: "x", n: 2.5 }, 400, "n"],
    ["temperature -1", "/v1/completions", { prompt: "x", temperature: -1 }, 400, "temperature"],
    ["temperature 50", "/v1/completions", { prompt: "x", temperature: 50 }, 400, "temperature"],
    ["top_p 0", "/v1/completions", { prompt: "x", top_p: 0 }, 400, "top_p"],
    ["logprobs 100", "/v1/completions", { prompt: "x", logprobs: 100 }, 400, "logprobs"],
    ["stop of numbers", "/v1/completions", { prompt: "x", stop: [1, 2] }, 400, "stop"],
    ["stream as a string", "/v1/completions", { prompt: "x", stream: "yes" }, 400, "stream"],
    ["a token id outside the vocabulary", "/v1/completions", { prompt: [1, 2, 10 ** 9] }, 400, "prompt"],
    [
      "max_tokens beyond the context",
      "/v1/completions",
      { prompt: "x", max_tokens: CONTEXT * 10 },
      400,
      "max_tokens",
    ],
    [
      "a prompt longer than the context",
      "/v1/completions",
      { prompt: longPrompt, max_tokens: 1 },
      400,
      "prompt",
    ],
    [
      "max_completion_tokens beyond the context",
      "/v1/chat/completions",
      { messages: [{ role: "user", content: "x" }], max_completion_tokens: CONTEXT * 10 },
      400,
      "max_completion_tokens",
    ],
    [
      "max_tokens beyond the context in chat",
      "/v1/chat/completions",
      { messages: [{ role: "user", content: "x" }], max_tokens: CONTEXT * 10 },
      400,
      "max_tokens",
    ],
    [
      "a conversation longer than the context",
      "/v1/chat/completions",
      { messages: [{ role: "user", content: longPrompt }] },
      400,
      "messages",
    ],
    ["penalties", "/v1/completions", { prompt: "x", presence_penalty: 1 }, 400, "presence_penalty"],
    ["no messages", "/v1/chat/completions", { messages: [] }, 400, "messages"],
    [
      "a message without role",
      "/v1/chat/completions",
      { messages: [{ content: "hi" }] },
      400,
      "messages.0.role",
    ],
    [
      "a tool message",
      "/v1/chat/completions",
      { messages: [{ role: "tool", content: "x" }] },
      400,
      "messages.0.role",
    ],
    [
      "logprobs as a number in chat",
      "/v1/chat/completions",
      { messages: [{ role: "user", content: "x" }], logprobs: 2 },
      400,
      "logprobs",
    ],
    [
      "top_logprobs without logprobs",
      "/v1/chat/completions",
      { messages: [{ role: "user", content: "x" }], top_logprobs: 2 },
      400,
      "top_logprobs",
    ],
  ];
  for (const [name, path, body, status, param] of cases) {
    test(`${name}: ${status}${param ? ` naming ${param}` : ""}`, async () => {
      const res = await post(server, path, body);
      assert.equal(res.status, status, JSON.stringify(res.body));
      const e = openAiError(res.body);
      assert.equal(e.type, "invalid_request_error");
      if (param) assert.equal(e.param, param, e.message);
    });
  }

  test("a prompt too long for the context says so in OpenAI's words", async () => {
    const res = await post(server, "/v1/completions", { prompt: "1+".repeat(CONTEXT) });
    const e = openAiError(res.body);
    assert.equal(e.code, "context_length_exceeded");
    assert.match(e.message, new RegExp(`maximum context length is ${CONTEXT} tokens`));
  });

  test("a body over the size limit: 413 naming the limit", async () => {
    const res = await post(server, "/v1/completions", { prompt: "x".repeat(100 * 1024) });
    assert.equal(res.status, 413);
    assert.match(openAiError(res.body).message, /larger than this server's limit of 64 KiB/);
  });

  test("unknown routes: 404 with an error body; unknown fields are ignored", async () => {
    const res = await post(server, "/v1/embeddings", { input: "x" });
    assert.equal(res.status, 404);
    openAiError(res.body);
    const ok = await post(server, "/v1/completions", {
      prompt: "x",
      max_tokens: 2,
      user: "me",
      metadata: { a: 1 },
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
  });

  test("after all of these, the server still answers, and nothing is left queued", async () => {
    await stillAnswers();
    assert.deepEqual(
      { waiting: model.generator.stats().waiting, running: model.generator.stats().running },
      { waiting: 0, running: 0 },
    );
  });
});

describe("serve: API key", () => {
  test("without the bearer key: 401; with it: 200; /health stays open", async () => {
    const { server: locked } = await serveTiny(dir, { apiKey: "sekrit", maxBatch: 4 });
    try {
      const body = { prompt: "Compute 1+1.", max_tokens: 2 };
      const wrong: Array<[Record<string, string>, string]> = [
        [{}, "missing_api_key"],
        [{ authorization: "Bearer wrong" }, "invalid_api_key"],
        [{ authorization: "sekrit" }, "invalid_api_key"],
      ];
      for (const [headers, code] of wrong) {
        const res = await post(locked, "/v1/completions", body, headers);
        assert.equal(res.status, 401, JSON.stringify(headers));
        assert.equal(openAiError(res.body).code, code);
      }
      assert.equal((await fetch(`${locked.url}/v1/models`)).status, 401);
      const ok = await post(locked, "/v1/completions", body, { authorization: "Bearer sekrit" });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      const models = await fetch(`${locked.url}/v1/models`, { headers: { authorization: "Bearer sekrit" } });
      assert.equal(models.status, 200);
      assert.equal((await fetch(`${locked.url}/health`)).status, 200);
    } finally {
      await locked.close();
    }
  });

  test("the server listens on loopback by default", () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  });
});

describe("serve: engine failures", () => {
  test("requests whose graphs fail get 500s; the process lives and later batches work", async () => {
    const request = { prompt: "Compute 3+3.", max_tokens: 8, temperature: 0 };
    const before = await post(server, "/v1/completions", request);
    const engine = model.engine;
    const graph = engine.graph.bind(engine);
    engine.graph = () => {
      throw new Error("injected engine failure");
    };
    try {
      const [a, b] = await Promise.all([
        post(server, "/v1/completions", request),
        post(server, "/v1/chat/completions", { messages: [{ role: "user", content: "x" }], max_tokens: 4 }),
      ]);
      for (const res of [a, b]) {
        assert.equal(res.status, 500, JSON.stringify(res.body));
        const e = openAiError(res.body);
        assert.equal(e.type, "server_error");
        assert.match(e.message, /injected engine failure/);
      }
    } finally {
      engine.graph = graph;
    }
    const after = await post(server, "/v1/completions", request);
    assert.equal(after.status, 200);
    assert.equal(after.body.choices[0].text, before.body.choices[0].text);
    assert.equal(model.generator.stats().running, 0);
  });
});
