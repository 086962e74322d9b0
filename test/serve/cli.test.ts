/** `reasonrl serve` through the real command: prints its URL, answers, and stops cleanly on SIGTERM. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { tinyModelFolder } from "./helpers.ts";

const bin = fileURLToPath(new URL("../../bin/reasonrl.js", import.meta.url));
const folder = await tinyModelFolder();
after(() => folder.cleanup());

test("reasonrl serve prints its URL, serves with the API key, and exits 0 on SIGTERM", async () => {
  const child = spawn(
    process.execPath,
    [
      bin,
      "serve",
      "--model",
      folder.dir,
      "--port",
      "0",
      "--api-key",
      "k",
      "--max-batch",
      "2",
      "--threads",
      "1",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on("data", (d) => {
        stdout += d;
        const m = /(http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(stdout);
        if (m) resolve(m[1]);
      });
      child.on("exit", () => reject(new Error(`exited early: ${stdout} ${stderr}`)));
    });
    assert.match(stdout, /serving tiny at http:\/\/127\.0\.0\.1:\d+\/v1 \(context 256, max batch 2/);
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
    child.kill("SIGTERM");
  }
  assert.equal(await exited, 0, stderr);
  assert.match(stderr, /SIGTERM: stopping/);
});
