/** `reasonrl serve` through the real command: prints its URL, answers, and stops cleanly on SIGTERM. */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { spawnServe, tinyModelFolder } from "./helpers.ts";

const folder = await tinyModelFolder();
after(() => folder.cleanup());

test("reasonrl serve prints its URL, serves with the API key, and exits 0 on SIGTERM", async () => {
  const serve = await spawnServe(
    ["--model", folder.dir, "--port", "0", "--api-key", "k", "--max-batch", "2", "--threads", "1"],
    (stdout) => /(http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(stdout)?.[1],
  );
  const url = serve.value;
  try {
    assert.match(
      serve.output.stdout,
      /serving tiny at http:\/\/127\.0\.0\.1:\d+\/v1 \(context 256, max batch 2/,
    );
    const ask = (key?: string) =>
      fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
        body: JSON.stringify({ messages: [{ role: "user", content: "Compute 1+1." }], max_tokens: 4 }),
      });
    assert.equal((await ask()).status, 401);
    const res = await ask("k");
    assert.equal(res.status, 200);
    assert.equal((await res.json()).usage.completion_tokens > 0, true);
  } finally {
    serve.child.kill("SIGTERM");
  }
  assert.equal(await serve.exited, 0, serve.output.stderr);
  assert.match(serve.output.stderr, /SIGTERM: stopping/);
});
