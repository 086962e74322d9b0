import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { arithmeticProblems, sftTraces } from "../../src/data/synthetic/arithmetic.ts";
import {
  arithmeticTokenizerOptions,
  writeArithmeticTokenizer,
} from "../../src/data/synthetic/arithmetic-tokenizer.ts";
import { applyChatTemplate } from "../../src/model/chat-template.ts";
import { Tokenizer } from "../../src/model/tokenizer.ts";
import {
  buildCharTokenizer,
  missingCharacters,
  THINKING_CHAT_TEMPLATE,
  writeCharTokenizer,
} from "../../src/model/tokenizer-builder.ts";

const tmp = mkdtempSync(join(tmpdir(), "reasonrl-tokenizer-builder-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const SPECIALS = ["<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"];

let tok: Tokenizer;
before(async () => {
  await writeArithmeticTokenizer(join(tmp, "arith"));
  tok = Tokenizer.fromDir(join(tmp, "arith"));
});

/** The expected tokens of a text: each special token whole, every other character on its own. */
function expectedTokens(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; ) {
    const special = SPECIALS.find((s) => text.startsWith(s, i));
    const token = special ?? String.fromCodePoint(text.codePointAt(i) ?? 0);
    out.push(token);
    i += token.length;
  }
  return out;
}

describe("writeCharTokenizer: the arithmetic task's tokenizer", () => {
  it("writes exactly the two files, and the loader reads its special tokens", () => {
    assert.deepEqual(readdirSync(join(tmp, "arith")).sort(), ["tokenizer.json", "tokenizer_config.json"]);
    assert.ok(tok.vocabSize >= 30 && tok.vocabSize <= 60, `vocabulary of ${tok.vocabSize}`);
    for (const [id, s] of SPECIALS.entries()) assert.equal(tok.tokenToId(s), id, s);
    assert.equal(tok.unkId, 0);
    assert.equal(tok.eosToken, "<|im_end|>");
    assert.equal(tok.eosId, 3);
    assert.equal(tok.padToken, "<|endoftext|>");
    assert.equal(tok.padId, 1);
    assert.equal(tok.bosId, undefined);
    assert.equal(tok.thinkStartId, 4);
    assert.equal(tok.thinkEndId, 5);
    assert.deepEqual([...tok.specialIds].sort(), [0, 1, 2, 3]);
    const json = JSON.parse(readFileSync(join(tmp, "arith", "tokenizer.json"), "utf8"));
    assert.equal(json.model.type, "BPE");
    assert.deepEqual(json.model.merges, []);
    assert.equal(Object.keys(json.model.vocab).length, tok.vocabSize);
  });

  it("round-trips every problem and trace exactly, one token per character, specials as single ids", () => {
    const problems = [
      ...arithmeticProblems({ count: 1500, seed: 1 }),
      ...arithmeticProblems({ split: "heldout", count: 500, seed: 2 }),
      ...arithmeticProblems({ count: 500, seed: 3, ops: ["+", "-", "*"], allowNegative: true }),
    ];
    const texts = [
      ...problems.flatMap((p) => [p.problem, p.solution]),
      ...sftTraces(problems.slice(0, 500), { slipRate: 1 }).map((t) => t.completion),
    ];
    for (const text of texts) {
      const ids = tok.encode(text);
      const tokens = Array.from(ids, (id) => tok.idToToken(id));
      assert.deepEqual(tokens, expectedTokens(text), text);
      assert.ok(!ids.includes(0), `unknown character in ${JSON.stringify(text)}`);
      assert.equal(tok.decode(ids), text);
    }
    const trace = "<think>\n37+48=85\n</think>\n\\boxed{85}";
    assert.equal(tok.encode(trace).length, Array.from(trace).length - "<think></think>".length + 2);
  });

  it("renders the chat template exactly, with the generation prompt opening <think>", () => {
    const user = { role: "user" as const, content: "Compute 37+48-15." };
    const prompt = applyChatTemplate(tok, [user], { addGenerationPrompt: true });
    assert.equal(
      prompt.text,
      "<|im_start|>user\nCompute 37+48-15.<|im_end|>\n<|im_start|>assistant\n<think>\n",
    );
    assert.deepEqual(
      Array.from(prompt.ids, (id) => tok.idToToken(id)),
      expectedTokens(prompt.text),
    );
    assert.equal(
      applyChatTemplate(tok, [{ role: "system", content: "Be brief." }, user]).text,
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nCompute 37+48-15.<|im_end|>\n",
    );
    // A whole turn renders as the prompt, then the completion, then <|im_end|>.
    const completion = "37+48=85\n85-15=70\n</think>\n\\boxed{70}";
    const full = applyChatTemplate(tok, [user, { role: "assistant", content: `<think>\n${completion}` }]);
    assert.equal(full.text, `${prompt.text}${completion}<|im_end|>\n`);
    assert.ok(!full.ids.includes(0));
  });

  it("skipping special tokens keeps the think tags (rewards look for </think>)", () => {
    const ids = tok.encode("<|im_start|>assistant\n<think>\n1+2=3\n</think>\n\\boxed{3}<|im_end|>");
    assert.equal(
      tok.decode(ids, { skipSpecialTokens: true }),
      "assistant\n<think>\n1+2=3\n</think>\n\\boxed{3}",
    );
  });

  it("encodes each unknown character as the unk token, never dropping it", () => {
    const ids = tok.encode("3%4é🤗");
    assert.deepEqual(Array.from(ids), [tok.tokenToId("3"), 0, tok.tokenToId("4"), 0, 0]);
    assert.equal(tok.decode(ids), "3<unk>4<unk><unk>");
    const alphabet = arithmeticTokenizerOptions().characters;
    assert.deepEqual(missingCharacters(["3%4é🤗", "<think>\n</think>"], alphabet), ["%", "é", "🤗"]);
    assert.deepEqual(missingCharacters(["Compute 1+2.", "<|im_start|>system\n"], alphabet), []);
  });

  it("takes extra text's characters into the vocabulary", () => {
    const t = Tokenizer.fromObjects(
      buildCharTokenizer(arithmeticTokenizerOptions("Solve: x!")).tokenizerJson,
    );
    assert.equal(t.decode(t.encode("Solve: x!")), "Solve: x!");
    assert.ok(!t.encode("Solve: x!").includes(0));
  });
});

describe("writeCharTokenizer: general alphabets", () => {
  it("builds from a list of characters, including non-ASCII code points, and rewrites in place", async () => {
    const dir = join(tmp, "general");
    const options = {
      characters: ["a", "b", "é", "🤗", " ", "a"],
      specialTokens: ["<|im_end|>", "<|endoftext|>"],
    };
    const written = await writeCharTokenizer(dir, options);
    assert.equal(written.vocabSize, 3 + 5);
    await writeCharTokenizer(dir, options);
    assert.deepEqual(readdirSync(dir).sort(), ["tokenizer.json", "tokenizer_config.json"]);
    const t = Tokenizer.fromDir(dir);
    assert.equal(t.tokenToId("<unk>"), 0, "the unk token comes first when not listed");
    assert.deepEqual(
      Array.from(t.encode("ab é🤗<|im_end|>"), (id) => t.idToToken(id)),
      ["a", "b", " ", "é", "🤗", "<|im_end|>"],
    );
    assert.equal(t.decode(t.encode("ba 🤗é")), "ba 🤗é");
    assert.equal(t.chatTemplates.default.text, THINKING_CHAT_TEMPLATE);
  });

  it("rejects inconsistent options", () => {
    assert.throws(() => buildCharTokenizer({ characters: "" }), /empty/);
    assert.throws(() => buildCharTokenizer({ characters: ["ab"] }), /not a single character/);
    assert.throws(
      () => buildCharTokenizer({ characters: "ab", specialTokens: ["<|endoftext|>"] }),
      /eosToken/,
    );
    assert.throws(
      () => buildCharTokenizer({ characters: "a|", specialTokens: ["|", "<|im_end|>", "<|endoftext|>"] }),
      /both a character and a special token/,
    );
    assert.throws(
      () =>
        buildCharTokenizer({ characters: "a", specialTokens: ["<|im_end|>", "<|im_end|>", "<|endoftext|>"] }),
      /given twice/,
    );
  });

  it("writes no chat template when given null", () => {
    const { tokenizerConfig } = buildCharTokenizer({ characters: "ab", chatTemplate: null });
    assert.equal(tokenizerConfig.chat_template, undefined);
  });
});
