/** LocalChatGenerator: conversations through the model's chat template into LocalGenerator. */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { LocalChatGenerator } from "../../src/generate/local-chat.ts";
import { createTinyQwen } from "../model/tiny-qwen.ts";

const root = await mkdtemp(join(tmpdir(), "reasonrl-local-chat-"));
after(() => rm(root, { recursive: true, force: true }));

test("chat renders each conversation with the generation prompt and returns n completions each", async () => {
  const dir = join(root, "tiny");
  const tok = await createTinyQwen(dir);
  const chat = await LocalChatGenerator.open(dir, { threads: 1 });
  assert.equal(chat.name, `local ${dir}`);
  const conversations = [
    [{ role: "user" as const, content: "What is 2+2?" }],
    [
      { role: "system" as const, content: "Be brief." },
      { role: "user" as const, content: "And 3+3?" },
    ],
  ];
  const prompt = tok.decode(Array.from(chat.promptIds(conversations[1])));
  assert.match(prompt, /Be brief\.[\s\S]*And 3\+3\?[\s\S]*<\|im_start\|>assistant\n/);
  const out = await chat.chat(conversations, { n: 2, maxTokens: 5, temperature: 0 });
  assert.equal(out.length, 2);
  for (const group of out) {
    assert.equal(group.length, 2);
    for (const c of group) {
      assert.equal(typeof c.text, "string");
      assert.ok(c.tokens >= 1 && c.tokens <= 5);
      assert.equal(c.finishReason, c.tokens === 5 ? "length" : "stop");
    }
    assert.deepEqual(group[0], group[1], "greedy samples agree");
  }
  // The same conversation alone gives the same greedy completion as in a batch.
  const [[alone]] = await chat.chat([conversations[1]], { maxTokens: 5, temperature: 0 });
  assert.deepEqual(alone, out[1][0]);
  assert.deepEqual(await chat.chat([], {}), []);
  await chat.dispose();
  await chat.dispose(); // idempotent
  await assert.rejects(chat.chat(conversations, { maxTokens: 2 }), /chat\(\) after dispose\(\)/);
});
