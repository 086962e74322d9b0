import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeTinyModel, startServe } from "../test/data/model-fixture.ts";
import { OpenAIChatGenerator } from "../src/generate/openai-client.ts";
import { LocalChatGenerator } from "../src/generate/local-chat.ts";
import { VerifierPool } from "../src/verify/pool.ts";
const root = await mkdtemp(join(tmpdir(), "x-"));
const dir = await makeTinyModel(root);
const serve = await startServe(dir);
const gen = new OpenAIChatGenerator({ baseUrl: serve.url });
const problems = Array.from({ length: 60 }, (_, i) => `What is ${i + 3} times ${i + 7}?`);
const convs = problems.map((p) => [{ role: "user" as const, content: `${p}\nPlease reason step by step, and put your final answer within \\boxed{}.` }]);
let t = performance.now();
const res = await gen.chat(convs, { n: 1, temperature: 0, maxTokens: 40 });
console.log("chat", performance.now() - t);
const local = await LocalChatGenerator.open(dir, { threads: 1 });
t = performance.now();
const res2 = await local.chat(convs, { n: 3, temperature: 0, maxTokens: 40 });
console.log("local", performance.now() - t);
const pool = new VerifierPool();
let hits = 0, same = 0;
for (let i = 0; i < res.length; i++) {
  const r = res[i];
  if (res2[i].every((c) => c.text === r[0].text)) same++;
  const v = await pool.verify("987654321", r[0].text, { gold: "gold", pred: "lighteval", precision: 5 });
  if (v.pred.parsed.length || v.pred.text) { hits++; console.log(i, JSON.stringify(r[0].text), v.pred.parsed, v.pred.text); }
}
console.log({ hits, same });
await pool.close();
await serve.stop();
local.close();
