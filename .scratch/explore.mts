import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeTinyModel, startServe } from "../test/data/model-fixture.ts";
import { OpenAIChatGenerator } from "../src/generate/openai-client.ts";
import { VerifierPool } from "../src/verify/pool.ts";
const root = await mkdtemp(join(tmpdir(), "x-"));
const dir = await makeTinyModel(root);
let t = performance.now();
const serve = await startServe(dir);
console.log("serve up", performance.now() - t, serve.url);
const gen = new OpenAIChatGenerator({ baseUrl: serve.url });
const problems = Array.from({ length: 12 }, (_, i) => `Compute ${i + 3}*${i + 7}-${i}.`);
t = performance.now();
const res = await gen.chat(problems.map((p) => [{ role: "user" as const, content: `${p}\nPlease reason step by step, and put your final answer within \\boxed{}.` }]), { n: 3, temperature: 0, maxTokens: 24 });
console.log("chat", performance.now() - t);
const pool = new VerifierPool();
for (const r of res) {
  const v = await pool.verify("987654321", r[0].text, { gold: "gold", pred: "lighteval", precision: 5 });
  console.log(JSON.stringify(r.map((c) => c.text)), v.pred.parsed, v.pred.text);
}
await pool.close();
await serve.stop();
