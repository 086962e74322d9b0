/**
 * A model's fingerprint: what tells one model's weights from another's, cheap
 * to compute and blind to where the files are (a copied folder has the same
 * fingerprint). The evaluation's and the curation steps' caches are keyed by
 * it (src/eval/identity.ts, src/data/curate/model-target.ts), so retrained
 * weights are never taken for the old ones.
 *
 * - a model folder: a SHA-256 over its files in name order (not recursive):
 *   JSON and text files (config, tokenizer, chat template) whole; each
 *   .safetensors file's header (tensor names, shapes, offsets), its size and
 *   16 evenly spaced 64 KiB samples of its data, so retrained weights of the
 *   same shapes differ; other files by size;
 * - a GGUF (or any large) file: its size, its first 4 MiB (header, metadata,
 *   vocabulary) and 16 samples as above.
 */
import { createHash, type Hash } from "node:crypto";
import { open, readdir, stat } from "node:fs/promises";
import { extname, join } from "node:path";

/** Samples of a weights file's data in its fingerprint, and the size of each. */
const SAMPLES = 16;
const SAMPLE_BYTES = 64 * 1024;
/** Leading bytes of a GGUF file hashed whole. */
const GGUF_HEAD_BYTES = 4 * 1024 * 1024;
/** Files hashed whole (small: configs, tokenizers, chat templates). */
const WHOLE = new Set([".json", ".jinja", ".txt", ".model", ".yaml"]);

/** A model folder's fingerprint (hex SHA-256; see the file's comment). */
export async function modelFolderFingerprint(dir: string): Promise<string> {
  const hash = createHash("sha256");
  const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile());
  for (const name of entries.map((e) => e.name).sort()) {
    const path = join(dir, name);
    hash.update(`${name}\u0000`);
    const ext = extname(name).toLowerCase();
    if (ext === ".safetensors") await hashSafetensors(hash, path);
    else if (WHOLE.has(ext)) await hashRange(hash, path, 0, Number.POSITIVE_INFINITY);
    else hash.update(`${(await stat(path)).size}\u0000`);
  }
  return hash.digest("hex");
}

/** A GGUF (or any large) file's fingerprint (hex SHA-256; see the file's comment). */
export async function fileFingerprint(path: string): Promise<string> {
  const hash = createHash("sha256");
  const { size } = await stat(path);
  hash.update(`${size}\u0000`);
  await hashRange(hash, path, 0, GGUF_HEAD_BYTES);
  await hashSamples(hash, path, Math.min(size, GGUF_HEAD_BYTES), size);
  return hash.digest("hex");
}

/** A safetensors file: its size, header (8-byte length, then JSON) and samples of its data. */
async function hashSafetensors(hash: Hash, path: string): Promise<void> {
  const { size } = await stat(path);
  hash.update(`${size}\u0000`);
  const file = await open(path, "r");
  let headerEnd = size;
  try {
    const prefix = Buffer.alloc(8);
    const { bytesRead } = await file.read(prefix, 0, 8, 0);
    if (bytesRead === 8) headerEnd = Math.min(size, 8 + Number(prefix.readBigUInt64LE(0)));
  } finally {
    await file.close();
  }
  await hashRange(hash, path, 0, headerEnd);
  await hashSamples(hash, path, headerEnd, size);
}

/** SAMPLES evenly spaced SAMPLE_BYTES pieces of [start, end) (all of it when smaller). */
async function hashSamples(hash: Hash, path: string, start: number, end: number): Promise<void> {
  const length = end - start;
  if (length <= SAMPLES * SAMPLE_BYTES) return hashRange(hash, path, start, end);
  // The first sample starts at `start`, the last ends at `end`.
  for (let i = 0; i < SAMPLES; i++) {
    const at = start + Math.round((i * (length - SAMPLE_BYTES)) / (SAMPLES - 1));
    await hashRange(hash, path, at, at + SAMPLE_BYTES);
  }
}

/** The bytes [start, end) of a file (end clipped to its size). */
async function hashRange(hash: Hash, path: string, start: number, end: number): Promise<void> {
  const file = await open(path, "r");
  try {
    const { size } = await file.stat();
    const stop = Math.min(end, size);
    const buffer = Buffer.alloc(Math.min(1 << 20, Math.max(0, stop - start)));
    for (let at = start; at < stop; ) {
      const { bytesRead } = await file.read(buffer, 0, Math.min(buffer.length, stop - at), at);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      at += bytesRead;
    }
  } finally {
    await file.close();
  }
}
