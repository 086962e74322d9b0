/**
 * OpenAIChatGenerator against a real HTTP server on loopback (node:http), which answers with
 * canned OpenAI-shaped responses chosen per test and records every request it gets.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, beforeEach, describe, test } from "node:test";
import { normalizeBaseUrl, OpenAIChatGenerator } from "../../src/generate/openai-client.ts";

/** A request as the server saw it. */
interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  body: Record<string, unknown>;
}

/** How the server answers a request (the n-th it got, counting from 0). */
type Handler = (req: Seen, res: ServerResponse, n: number) => void;

let server: Server;
let base = "";
let seen: Seen[] = [];
let handler: Handler;
let inFlight = 0;
let maxInFlight = 0;

before(async () => {
  server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.on("close", () => inFlight--);
    let raw = "";
    for await (const chunk of req) raw += chunk;
    const request: Seen = {
      method: req.method ?? "",
      url: req.url ?? "",
      authorization: req.headers.authorization,
      body: raw ? JSON.parse(raw) : {},
    };
    seen.push(request);
    handler(request, res, seen.length - 1);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

beforeEach(() => {
  seen = [];
  inFlight = 0;
  maxInFlight = 0;
  handler = (req, res) => reply(res, 200, completion(req, Number(req.body.n ?? 1)));
});

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

/** A chat completion with `choices` choices: "<last user message> #<index>", 5 tokens each. */
function completion(req: Seen, choices: number, finish = "stop") {
  const messages = req.body.messages as Array<{ content: string }>;
  const last = messages.at(-1)?.content ?? "";
  return {
    id: "chatcmpl-1",
    object: "chat.completion",
    model: req.body.model,
    choices: Array.from({ length: choices }, (_, index) => ({
      index,
      message: { role: "assistant", content: `${last} #${index}` },
      finish_reason: finish,
    })),
    usage: { prompt_tokens: 3, completion_tokens: 5 * choices, total_tokens: 3 + 5 * choices },
  };
}

const hello = [{ role: "user" as const, content: "hello" }];

describe("OpenAIChatGenerator", () => {
  test("sends the sampling fields, the model and the API key; maps the answer", async () => {
    handler = (req, res) => reply(res, 200, completion(req, 1, "length"));
    const gen = new OpenAIChatGenerator({ baseUrl: base, apiKey: "sk-test", model: "tiny" });
    const conversations = [
      [
        { role: "system" as const, content: "Be brief." },
        { role: "user" as const, content: "What is 2+2?" },
      ],
      hello,
    ];
    const out = await gen.chat(conversations, {
      temperature: 0.6,
      topP: 0.95,
      maxTokens: 64,
      seed: 7,
      stop: ["</answer>"],
    });
    assert.equal(gen.name, `endpoint ${base} (tiny)`);
    assert.equal(seen.length, 2);
    const request = seen.find((r) => (r.body.messages as unknown[]).length === 2);
    assert.ok(request);
    assert.equal(request.method, "POST");
    assert.equal(request.url, "/v1/chat/completions");
    assert.equal(request.authorization, "Bearer sk-test");
    assert.deepEqual(request.body, {
      model: "tiny",
      messages: conversations[0],
      n: 1,
      temperature: 0.6,
      top_p: 0.95,
      max_tokens: 64,
      stop: ["</answer>"],
      seed: 7,
    });
    assert.deepEqual(out, [
      [{ text: "What is 2+2? #0", tokens: 5, finishReason: "length" }],
      [{ text: "hello #0", tokens: 5, finishReason: "length" }],
    ]);
  });

  test("leaves out seed, stop, top_k and min_p unless set", async () => {
    const gen = new OpenAIChatGenerator({ baseUrl: base, model: "tiny" });
    await gen.chat([hello], { temperature: 0 });
    assert.deepEqual(Object.keys(seen[0].body).sort(), [
      "max_tokens",
      "messages",
      "model",
      "n",
      "temperature",
      "top_p",
    ]);
    assert.equal(seen[0].authorization, undefined);
    await gen.chat([hello], { topK: 20, minP: 0.05 });
    assert.equal(seen[1].body.top_k, 20);
    assert.equal(seen[1].body.min_p, 0.05);
  });

  test("discovers the model at GET /v1/models, once; the base URL may lack /v1", async () => {
    handler = (req, res) => {
      if (req.url === "/v1/models") reply(res, 200, { object: "list", data: [{ id: "served-model" }] });
      else reply(res, 200, completion(req, 1));
    };
    const gen = new OpenAIChatGenerator({ baseUrl: `${base.slice(0, -"/v1".length)}/` });
    assert.equal(gen.baseUrl, base);
    await gen.chat([hello]);
    await gen.chat([hello]);
    assert.deepEqual(
      seen.map((r) => `${r.method} ${r.url}`),
      ["GET /v1/models", "POST /v1/chat/completions", "POST /v1/chat/completions"],
    );
    assert.equal(seen[1].body.model, "served-model");
    assert.equal(gen.name, `endpoint ${base} (served-model)`);
  });

  test("n > 1 on a server that answers one choice: the missing samples are asked for alone", async () => {
    handler = (req, res) => reply(res, 200, completion(req, 1));
    const gen = new OpenAIChatGenerator({ baseUrl: base, model: "tiny" });
    const [samples] = await gen.chat([hello], { n: 3, seed: 5, temperature: 1 });
    assert.equal(samples.length, 3);
    assert.deepEqual(
      seen.map((r) => [r.body.n, r.body.seed]),
      [
        [3, 5],
        [1, 6],
        [1, 7],
      ],
    );
    // Learned: the next conversation sends its three single-sample requests at once.
    seen = [];
    const [again] = await gen.chat([hello], { n: 3, seed: 5, temperature: 1 });
    assert.equal(again.length, 3);
    assert.deepEqual(seen.map((r) => [r.body.n, r.body.seed]).sort(), [
      [1, 5],
      [1, 6],
      [1, 7],
    ]);
  });

  test("n > 1 honoured: one request with logprobs; each choice counted from its own logprobs or token ids", async () => {
    const entries = (k: number) =>
      Array.from({ length: k }, () => ({ token: "x", logprob: -1, top_logprobs: [] }));
    handler = (_req, res) =>
      reply(res, 200, {
        choices: [
          {
            index: 1,
            message: { content: "abcdefg" },
            finish_reason: "length",
            logprobs: { content: entries(9) },
          },
          { index: 0, message: { content: "abc" }, finish_reason: "stop", token_ids: [1, 2, 3, 4] },
          { index: 2, message: { content: "ab" } },
        ],
        usage: { completion_tokens: 20 },
      });
    const gen = new OpenAIChatGenerator({ baseUrl: base, model: "tiny" });
    const [samples] = await gen.sample([hello], { n: 3 });
    assert.equal(seen.length, 1);
    assert.equal(seen[0].body.logprobs, true);
    assert.equal(seen[0].body.top_logprobs, 1);
    assert.deepEqual(samples, [
      { text: "abc", tokens: 4, finishReason: "stop" },
      { text: "abcdefg", tokens: 9, finishReason: "length" },
      { text: "ab", tokens: null, finishReason: null },
    ]);
    // chat() cannot hand out an unknown count.
    await assert.rejects(gen.chat([hello], { n: 3 }), /returned no token count per completion/);
  });

  test("usage that counts one choice of several (llama.cpp's server) is never divided among them", async () => {
    // llama-server: usage.completion_tokens is the first choice's count, no logprobs unless asked.
    handler = (_req, res) =>
      reply(res, 200, {
        choices: [
          { index: 0, message: { content: "one two three" }, finish_reason: "stop" },
          { index: 1, message: { content: "four" }, finish_reason: "length" },
        ],
        usage: { completion_tokens: 3 },
      });
    const unknown = new OpenAIChatGenerator({ baseUrl: base, model: "tiny" });
    const [samples] = await unknown.sample([hello], { n: 2 });
    assert.deepEqual(
      samples.map((s) => (s.error === undefined ? [s.tokens, s.finishReason] : s.error)),
      [
        [null, "stop"],
        [null, "length"],
      ],
    );
    const words = (text: string) => text.split(" ").length;
    const counted = new OpenAIChatGenerator({ baseUrl: base, model: "tiny", countTokens: words });
    const [again] = await counted.chat([hello], { n: 2 });
    assert.deepEqual(
      again.map((s) => s.tokens),
      [3, 1],
    );
  });

  test("429 with Retry-After: waits that long, then succeeds", async () => {
    handler = (req, res, n) => {
      if (n === 0) reply(res, 429, { error: { message: "slow down" } }, { "retry-after": "1" });
      else reply(res, 200, completion(req, 1));
    };
    const gen = new OpenAIChatGenerator({ baseUrl: base, model: "tiny", backoffMs: 1 });
    const start = Date.now();
    const [[sample]] = await gen.chat([hello]);
    const waited = Date.now() - start;
    assert.equal(sample.text, "hello #0");
    assert.equal(seen.length, 2);
    assert.ok(waited >= 950, `waited ${waited} ms, Retry-After said 1 s`);
  });

  test("502, 503 and 504 are retried with backoff; when the retries are spent the server is unavailable", async () => {
    handler = (req, res, n) => {
      if (n < 3) reply(res, [502, 503, 504][n], { error: { message: "engine hiccup" } });
      else reply(res, 200, completion(req, 1));
    };
    const gen = new OpenAIChatGenerator({ baseUrl: base, model: "tiny", backoffMs: 5, retries: 3 });
    const [[sample]] = await gen.chat([hello]);
    assert.equal(sample.text, "hello #0");
    assert.equal(seen.length, 4);

    seen = [];
    handler = (_req, res) => reply(res, 503, { object: "error", message: "overloaded" });
    const patient = new OpenAIChatGenerator({ baseUrl: base, model: "tiny", backoffMs: 5, retries: 2 });
    await assert.rejects(
      patient.sample([hello]),
      (e: Error) =>
        e.message.includes(`POST ${base}/chat/completions failed after 3 attempts`) &&
        e.message.includes("HTTP 503: overloaded"),
    );
    assert.equal(seen.length, 3);
  });

  test("a 500 or a 400 fails only its own samples, at once, with the server's message", async () => {
    // llama-server answers 500 when a weak model's output ends inside a UTF-8 character.
    handler = (req, res) => {
      const last = (req.body.messages as Array<{ content: string }>).at(-1)?.content;
      if (last === "bad")
        reply(res, 500, { error: { code: 500, message: "Invalid UTF-8", type: "server_error" } });
      else if (last === "long") reply(res, 400, { error: { message: "max_tokens is too large: 99999" } });
      else reply(res, 200, completion(req, 1));
    };
    const gen = new OpenAIChatGenerator({ baseUrl: base, model: "tiny", backoffMs: 1 });
    const talk = (content: string) => [{ role: "user" as const, content }];
    const out = await gen.sample([talk("bad"), hello, talk("long")], { n: 1 });
    assert.deepEqual(out, [
      [{ error: `POST ${base}/chat/completions: HTTP 500: Invalid UTF-8` }],
      [{ text: "hello #0", tokens: 5, finishReason: "stop" }],
      [{ error: `POST ${base}/chat/completions: HTTP 400: max_tokens is too large: 99999` }],
    ]);
    assert.equal(seen.length, 3, "nothing retried");
    // chat() has no failed samples: it throws the first.
    await assert.rejects(gen.chat([talk("bad")]), {
      message: `POST ${base}/chat/completions: HTTP 500: Invalid UTF-8`,
    });
  });

  test("a 400 to n > 1 (llama.cpp's server above its slots): one request per sample from then on", async () => {
    handler = (req, res) => {
      if (Number(req.body.n) > 2)
        reply(res, 400, {
          error: {
            code: 400,
            message: "Field 'n': Value must be between 1 <= value <= 2, but got 3",
            type: "invalid_request_error",
          },
        });
      else reply(res, 200, completion(req, Number(req.body.n)));
    };
    const learned: string[] = [];
    const gen = new OpenAIChatGenerator({ baseUrl: base, model: "tiny", log: (m) => learned.push(m) });
    const [samples] = await gen.sample([hello], { n: 3, seed: 5, temperature: 1 });
    assert.deepEqual(
      samples.map((s) => (s.error === undefined ? [s.text, s.tokens] : s.error)),
      [
        ["hello #0", 5],
        ["hello #0", 5],
        ["hello #0", 5],
      ],
    );
    assert.deepEqual(
      seen.map((r) => [r.body.n, r.body.seed]),
      [
        [3, 5],
        [1, 5],
        [1, 6],
        [1, 7],
      ],
    );
    assert.equal(learned.length, 1);
    assert.match(learned[0], /rejects n = 3 \(.*HTTP 400: Field 'n': Value must be between/);
    seen = [];
    await gen.sample([hello], { n: 3, seed: 5, temperature: 1 });
    assert.deepEqual(
      seen.map((r) => r.body.n),
      [1, 1, 1],
      "learned: no request for 3 again",
    );

    // A 400 that is not about n fails the single request too: every sample fails with it.
    seen = [];
    handler = (_req, res) => reply(res, 400, { error: { message: "prompt too long" } });
    const other = new OpenAIChatGenerator({ baseUrl: base, model: "tiny" });
    const [failed] = await other.sample([hello], { n: 3 });
    assert.deepEqual(
      failed,
      Array(3).fill({ error: `POST ${base}/chat/completions: HTTP 400: prompt too long` }),
    );
    assert.deepEqual(
      seen.map((r) => r.body.n),
      [3, 1],
    );
  });

  test("an aborted signal cuts the requests in flight", async () => {
    handler = () => {}; // never answers
    const gen = new OpenAIChatGenerator({ baseUrl: base, model: "tiny" });
    const stop = new AbortController();
    const pending = gen.sample([hello, hello], {}, stop.signal);
    setTimeout(() => stop.abort(new Error("stopped by the user")), 50);
    await assert.rejects(pending, /stopped by the user/);
  });

  test("a request past the timeout is aborted, and retried", async () => {
    handler = (req, res, n) => {
      if (n > 0) reply(res, 200, completion(req, 1)); // the first request is never answered
    };
    const gen = new OpenAIChatGenerator({
      baseUrl: base,
      model: "tiny",
      timeoutMs: 150,
      retries: 1,
      backoffMs: 1,
    });
    const [[sample]] = await gen.chat([hello]);
    assert.equal(sample.text, "hello #0");
    assert.equal(seen.length, 2);

    handler = () => {}; // never answers
    const patient = new OpenAIChatGenerator({ baseUrl: base, model: "tiny", timeoutMs: 150, retries: 0 });
    await assert.rejects(patient.chat([hello]), /chat\/completions failed: timed out after 150 ms/);
  });

  test("network errors are retried and reported", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const gen = new OpenAIChatGenerator({
      baseUrl: `http://127.0.0.1:${port}`,
      model: "m",
      retries: 1,
      backoffMs: 1,
    });
    await assert.rejects(gen.chat([hello]), /failed after 2 attempts: network error: .*ECONNREFUSED/);
  });

  test("at most `concurrency` requests are in flight", async () => {
    handler = (req, res) => setTimeout(() => reply(res, 200, completion(req, 1)), 40);
    const gen = new OpenAIChatGenerator({ baseUrl: base, model: "tiny", concurrency: 3 });
    const conversations = Array.from({ length: 12 }, (_, i) => [{ role: "user" as const, content: `q${i}` }]);
    const out = await gen.chat(conversations);
    assert.deepEqual(
      out.map(([s]) => s.text),
      conversations.map(([m]) => `${m.content} #0`),
    );
    assert.equal(seen.length, 12);
    assert.equal(maxInFlight, 3);
  });

  test("base URL rule and option checks", () => {
    assert.equal(normalizeBaseUrl("http://h:8000"), "http://h:8000/v1");
    assert.equal(normalizeBaseUrl("http://h:8000/v1/"), "http://h:8000/v1");
    assert.equal(normalizeBaseUrl("https://h/api/v1"), "https://h/api/v1");
    assert.throws(() => new OpenAIChatGenerator({ baseUrl: "localhost:8000" }), /baseUrl/);
    assert.throws(() => new OpenAIChatGenerator({ baseUrl: base, concurrency: 0 }), /concurrency/);
  });
});
