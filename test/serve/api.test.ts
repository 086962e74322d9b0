/**
 * The OpenAI-compatible API against the real server on loopback: answers equal LocalGenerator's on
 * the same prompts, n/seed, stop strings, log-probs, and streaming that assembles to the same text.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { LocalGenerator } from "../../src/generate/local.ts";
import { applyChatTemplate } from "../../src/model/chat-template.ts";
import type { Tokenizer } from "../../src/model/tokenizer.ts";
import type { RunningServer } from "../../src/serve/server.ts";
import { CONTEXT, type Json, post, reference, serveTiny, stream, tinyModelFolder } from "./helpers.ts";

let server: RunningServer;
let ref: { generator: LocalGenerator; tokenizer: Tokenizer };
let cleanup: () => Promise<void>;

before(async () => {
  const folder = await tinyModelFolder();
  cleanup = folder.cleanup;
  ({ server } = await serveTiny(folder.dir));
  ref = await reference(folder.dir);
});
after(async () => {
  await server?.close();
  await cleanup?.();
});

/** Joins a completions stream's texts per choice index; also returns the finish reasons. */
function assemble(events: Json[], field: (choice: Json) => string | undefined) {
  const texts: string[] = [];
  const finish: string[] = [];
  for (const e of events) {
    if (e === "[DONE]") continue;
    for (const c of e.choices) {
      texts[c.index] = (texts[c.index] ?? "") + (field(c) ?? "");
      if (c.finish_reason) finish[c.index] = c.finish_reason;
    }
  }
  return { texts, finish };
}

describe("serve: OpenAI-compatible API", () => {
  test("GET /v1/models lists the served model with its context", async () => {
    const res = await fetch(`${server.url}/v1/models`);
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.object, "list");
    assert.equal(body.data.length, 1);
    assert.equal(body.data[0].id, "tiny");
    assert.equal(body.data[0].object, "model");
    assert.equal(body.data[0].max_model_len, CONTEXT);
  });

  test("completions: greedy text equals LocalGenerator's on the same prompt", async () => {
    const prompt = "Compute 3+4-2.";
    const { status, body } = await post(server, "/v1/completions", {
      prompt,
      max_tokens: 24,
      temperature: 0,
    });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.object, "text_completion");
    assert.match(body.id, /^cmpl-/);
    assert.equal(body.model, "tiny");
    const [[c]] = await ref.generator.generate([ref.tokenizer.encode(prompt)], {
      temperature: 0,
      maxTokens: 24,
    });
    assert.equal(body.choices.length, 1);
    assert.equal(body.choices[0].index, 0);
    assert.equal(body.choices[0].text, c.text);
    assert.equal(body.choices[0].finish_reason, c.finishReason);
    assert.equal(body.choices[0].logprobs, null);
    assert.deepEqual(body.usage, {
      prompt_tokens: ref.tokenizer.encode(prompt).length,
      completion_tokens: c.ids.length,
      total_tokens: ref.tokenizer.encode(prompt).length + c.ids.length,
    });
    assert.ok(new Set(c.text).size > 3, `the tiny model should vary its output: ${JSON.stringify(c.text)}`);
  });

  test("completions: token-id prompts and lists of prompts, choices in prompt order", async () => {
    const prompts = ["Compute 1+1.", "Compute 9-8+7."];
    const ids = prompts.map((p) => Array.from(ref.tokenizer.encode(p)));
    const { status, body } = await post(server, "/v1/completions", {
      prompt: ids,
      max_tokens: 10,
      temperature: 0,
    });
    assert.equal(status, 200, JSON.stringify(body));
    const expected = await ref.generator.generate(
      ids.map((p) => Int32Array.from(p)),
      { temperature: 0, maxTokens: 10 },
    );
    assert.deepEqual(
      body.choices.map((c: Json) => c.text),
      expected.map(([c]) => c.text),
    );
    const single = await post(server, "/v1/completions", { prompt: ids[1], max_tokens: 10, temperature: 0 });
    assert.equal(single.body.choices[0].text, expected[1][0].text);
  });

  test("chat: the chat template is applied, greedy reply equals LocalGenerator's", async () => {
    const messages = [
      { role: "system", content: "Solve it." },
      { role: "user", content: "Compute 5+5-1." },
    ];
    const { status, body } = await post(server, "/v1/chat/completions", {
      messages,
      max_tokens: 20,
      temperature: 0,
    });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.object, "chat.completion");
    assert.match(body.id, /^chatcmpl-/);
    const promptIds = applyChatTemplate(ref.tokenizer, messages as Json, { addGenerationPrompt: true }).ids;
    const [[c]] = await ref.generator.generate([promptIds], { temperature: 0, maxTokens: 20 });
    assert.deepEqual(body.choices[0].message, { role: "assistant", content: c.text, refusal: null });
    assert.equal(body.choices[0].finish_reason, c.finishReason);
    assert.equal(body.usage.prompt_tokens, promptIds.length);
    assert.equal(body.usage.completion_tokens, c.ids.length);
    // max_completion_tokens is the newer name of max_tokens; text content parts join as one string
    const again = await post(server, "/v1/chat/completions", {
      messages: [messages[0], { role: "user", content: [{ type: "text", text: "Compute 5+5-1." }] }],
      max_completion_tokens: 20,
      temperature: 0,
    });
    assert.equal(again.body.choices[0].message.content, c.text);
  });

  test("n > 1 with a seed: reproducible, and the samples of LocalGenerator.generate with n and seed", async () => {
    const request = { prompt: "Compute 2+2.", n: 3, seed: 42, temperature: 1, max_tokens: 12 };
    const a = await post(server, "/v1/completions", request);
    const b = await post(server, "/v1/completions", request);
    assert.equal(a.status, 200, JSON.stringify(a.body));
    const texts = a.body.choices.map((c: Json) => c.text);
    assert.deepEqual(
      b.body.choices.map((c: Json) => c.text),
      texts,
    );
    assert.deepEqual(
      a.body.choices.map((c: Json) => c.index),
      [0, 1, 2],
    );
    assert.ok(new Set(texts).size > 1, `samples should differ: ${JSON.stringify(texts)}`);
    const [samples] = await ref.generator.generate([ref.tokenizer.encode("Compute 2+2.")], {
      n: 3,
      seed: 42,
      temperature: 1,
      maxTokens: 12,
    });
    assert.deepEqual(
      samples.map((c) => c.text),
      texts,
    );
    const other = await post(server, "/v1/completions", { ...request, seed: 43 });
    assert.notDeepEqual(
      other.body.choices.map((c: Json) => c.text),
      texts,
    );
  });

  test("stop strings end the text before them, with finish_reason stop", async () => {
    // a prompt whose greedy completion is long enough to hold a stop string in its middle
    let prompt = "";
    let text = "";
    for (const p of ["Compute 7+1-3.", "Compute 2-9.", "Compute 4+4+4.", "Compute 1-1-1.", "Compute 6+3."]) {
      const full = await post(server, "/v1/completions", { prompt: p, max_tokens: 40, temperature: 0 });
      [prompt, text] = [p, full.body.choices[0].text];
      if (text.length >= 12) break;
    }
    assert.ok(text.length >= 12, `need a longer greedy text: ${JSON.stringify(text)}`);
    const stop = text.slice(6, 8);
    const cut = text.indexOf(stop);
    for (const stopField of [stop, ["zzz-never", stop]]) {
      const { body } = await post(server, "/v1/completions", {
        prompt,
        max_tokens: 40,
        temperature: 0,
        stop: stopField,
      });
      assert.equal(body.choices[0].text, text.slice(0, cut));
      assert.equal(body.choices[0].finish_reason, "stop");
    }
    const [[c]] = await ref.generator.generate([ref.tokenizer.encode(prompt)], {
      temperature: 0,
      maxTokens: 40,
      stop: [stop],
    });
    assert.equal(c.text, text.slice(0, cut));
  });

  test("logprobs: the sampled token's log-prob, top alternatives, in both endpoints", async () => {
    const prompt = "Compute 4+4.";
    const { body } = await post(server, "/v1/completions", {
      prompt,
      max_tokens: 6,
      temperature: 0,
      logprobs: 3,
    });
    const lp = body.choices[0].logprobs;
    assert.equal(lp.tokens.length, 6);
    const [[c]] = await ref.generator.generate([ref.tokenizer.encode(prompt)], {
      temperature: 0,
      maxTokens: 6,
    });
    assert.equal(lp.tokens.join(""), ref.tokenizer.decode(c.ids)); // special tokens written out
    lp.token_logprobs.forEach((x: number, i: number) => {
      assert.ok(Math.abs(x - c.logprobs[i]) < 1e-4, `logprob ${i}: ${x} vs ${c.logprobs[i]}`);
    });
    for (const [i, top] of lp.top_logprobs.entries()) {
      const values = Object.values(top) as number[];
      assert.ok(values.length >= 3 && values.length <= 4);
      // greedy: the sampled token is the most likely one
      assert.equal(Math.max(...values), lp.token_logprobs[i]);
    }
    assert.deepEqual(lp.text_offset.slice(0, 2), [0, lp.tokens[0].length]);

    const chat = await post(server, "/v1/chat/completions", {
      messages: [{ role: "user", content: prompt }],
      max_tokens: 4,
      temperature: 0,
      logprobs: true,
      top_logprobs: 2,
    });
    const content = chat.body.choices[0].logprobs.content;
    assert.equal(content.length, 4);
    for (const t of content) {
      assert.equal(typeof t.token, "string");
      assert.ok(t.logprob <= 0);
      assert.deepEqual(t.bytes, [...Buffer.from(t.token, "utf8")]);
      assert.equal(t.top_logprobs.length, 2);
      assert.equal(t.top_logprobs[0].logprob, t.logprob);
    }
  });

  test("streaming completions assemble to the non-streamed text, stop strings included", async () => {
    const prompt = "Compute 6-2+5.";
    const base = { prompt, max_tokens: 30, temperature: 0.9, seed: 7, n: 2 };
    const full = await post(server, "/v1/completions", base);
    const text: string = full.body.choices[0].text;
    const stop = text.length > 10 ? text.slice(8, 11) : "never";
    for (const request of [base, { ...base, stop }, { ...base, logprobs: 1 }]) {
      const plain = await post(server, "/v1/completions", request);
      const events = await stream(server, "/v1/completions", {
        ...request,
        stream_options: { include_usage: true },
      });
      assert.equal(events.at(-1), "[DONE]");
      const usage = events.at(-2);
      assert.deepEqual(usage.choices, []);
      assert.deepEqual(usage.usage, plain.body.usage);
      for (const e of events.slice(0, -2)) {
        assert.equal(e.object, "text_completion");
        assert.equal(e.id, events[0].id);
      }
      const { texts, finish } = assemble(events.slice(0, -2), (c) => c.text);
      assert.deepEqual(
        texts,
        plain.body.choices.map((c: Json) => c.text),
      );
      assert.deepEqual(
        finish,
        plain.body.choices.map((c: Json) => c.finish_reason),
      );
    }
  });

  test("streaming chat: a role chunk, content deltas, a finish chunk, then [DONE]", async () => {
    const request = { messages: [{ role: "user", content: "Compute 8-3." }], max_tokens: 16, temperature: 0 };
    const plain = await post(server, "/v1/chat/completions", request);
    const events = await stream(server, "/v1/chat/completions", request);
    assert.equal(events.at(-1), "[DONE]");
    const chunks = events.slice(0, -1);
    for (const e of chunks) assert.equal(e.object, "chat.completion.chunk");
    assert.deepEqual(chunks[0].choices[0].delta, { role: "assistant", content: "", refusal: null });
    const { texts, finish } = assemble(chunks, (c) => c.delta.content);
    assert.equal(texts[0], plain.body.choices[0].message.content);
    assert.equal(finish[0], plain.body.choices[0].finish_reason);
    assert.deepEqual(chunks.at(-1).choices[0].delta, {});
  });
});
