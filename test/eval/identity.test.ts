/**
 * Which model made an evaluation's samples (identity.ts): the fingerprint of a model folder or
 * GGUF file (src/model/fingerprint.ts, which identity.ts passes on), which must change when the
 * weights do and stay when the files only move, and the labels that name a model in tables and
 * folders.
 */
import assert from "node:assert/strict";
import { cp, mkdir, mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  fileFingerprint,
  modelFolderFingerprint,
  pathLabel,
  servedModelLabel,
} from "../../src/eval/identity.ts";

const root = await mkdtemp(join(tmpdir(), "reasonrl-eval-identity-"));
after(() => rm(root, { recursive: true, force: true }));

/** A model folder: config.json, tokenizer_config.json and a safetensors file of `bytes` data bytes. */
async function modelFolder(dir: string, bytes: number, fill = 1): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "config.json"), JSON.stringify({ model_type: "qwen2", hidden_size: 8 }));
  await writeFile(join(dir, "tokenizer_config.json"), JSON.stringify({ chat_template: "{{ messages }}" }));
  const header = Buffer.from(
    JSON.stringify({ w: { dtype: "F32", shape: [bytes / 4], data_offsets: [0, bytes] } }),
  );
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  await writeFile(join(dir, "model.safetensors"), Buffer.concat([length, header, Buffer.alloc(bytes, fill)]));
  return dir;
}

/** Overwrites one byte of a file. */
async function poke(path: string, at: number, value: number): Promise<void> {
  const file = await open(path, "r+");
  await file.write(Buffer.from([value]), 0, 1, at);
  await file.close();
}

test("a model folder's fingerprint follows its weights and configs, not its place", async () => {
  const big = 4 * 1024 * 1024; // past the 16 samples of 64 KiB: the data is sampled, not read whole
  const a = await modelFolder(join(root, "a"), big);
  const base = await modelFolderFingerprint(a);
  assert.match(base, /^[0-9a-f]{64}$/);

  const moved = join(root, "elsewhere", "a");
  await cp(a, moved, { recursive: true });
  assert.equal(await modelFolderFingerprint(moved), base, "a copy is the same model");

  const retrained = await modelFolder(join(root, "retrained"), big, 2);
  assert.notEqual(await modelFolderFingerprint(retrained), base, "same shapes, other weights");

  await poke(join(moved, "model.safetensors"), 8 + 60, 7); // inside the header
  assert.notEqual(await modelFolderFingerprint(moved), base);

  const template = await modelFolder(join(root, "template"), big);
  await writeFile(join(template, "tokenizer_config.json"), JSON.stringify({ chat_template: "other" }));
  assert.notEqual(await modelFolderFingerprint(template), base, "another chat template");

  // A small file is hashed whole: any byte counts.
  const small = await modelFolder(join(root, "small"), 4096);
  const smallBase = await modelFolderFingerprint(small);
  await poke(join(small, "model.safetensors"), 3000, 9);
  assert.notEqual(await modelFolderFingerprint(small), smallBase);
});

test("a GGUF file's fingerprint: its head whole, samples of the rest", async () => {
  const path = join(root, "m.gguf");
  await writeFile(path, Buffer.alloc(6 * 1024 * 1024, 3));
  const base = await fileFingerprint(path);
  await poke(path, 1000, 4); // in the first 4 MiB (header, metadata)
  const head = await fileFingerprint(path);
  assert.notEqual(head, base);
  await poke(path, 6 * 1024 * 1024 - 1, 5); // the last byte: in the last sample
  assert.notEqual(await fileFingerprint(path), head);
});

test("labels: a folder's or file's name, a run's name for its final model, run-checkpoint for a checkpoint", () => {
  assert.equal(pathLabel("models/qwen2.5-1.5b"), "qwen2.5-1.5b");
  assert.equal(pathLabel("runs/open-rs1/final"), "open-rs1");
  assert.equal(pathLabel("runs/open-rs1/final/"), "open-rs1");
  assert.equal(pathLabel("runs/open-rs1/checkpoints/best"), "open-rs1-best");
  assert.equal(pathLabel("runs/open-rs1/checkpoints/grpo/step-40"), "open-rs1-grpo-step-40");
  assert.equal(pathLabel("/models/Qwen2.5-Math-1.5B-f16.gguf"), "Qwen2.5-Math-1.5B-f16");
  assert.equal(servedModelLabel("Qwen/Qwen2.5-Math-7B-Instruct"), "Qwen/Qwen2.5-Math-7B-Instruct");
  assert.equal(servedModelLabel("/srv/runs/open-rs2/final"), "open-rs2");
  assert.equal(servedModelLabel("./models/tiny.gguf"), "tiny");
  assert.equal(servedModelLabel("tiny.gguf"), "tiny");
});
