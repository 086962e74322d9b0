/**
 * Writing safetensors files, atomically (temporary file in the same folder,
 * flushed, then renamed), and the atomic file helpers the model folder uses.
 */
import { randomBytes } from "node:crypto";
import { type FileHandle, open, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { numel } from "./safetensors.ts";
import {
  assertLittleEndian,
  f32ToBf16,
  f32ToF16,
  isStDType,
  ST_DTYPE_BYTES,
  type StDType,
  type TensorData,
} from "./safetensors-dtype.ts";

/**
 * A tensor to write: its stored dtype, shape and data (see `writeSafetensors`
 * for accepted data). The data may be a function that returns it, called when
 * the tensor's turn comes: then only one tensor's data is in memory at a time
 * (e.g. read from the engine just before it is written).
 */
export interface TensorToWrite {
  dtype: StDType;
  shape: readonly number[];
  data: TensorData | (() => TensorData);
}

/**
 * The header bytes (JSON padded with spaces so that 8 + N is a multiple of 8)
 * for tensors stored in the given order. `__metadata__` comes first.
 */
export function encodeSafetensorsHeader(
  tensors: ReadonlyArray<readonly [string, { dtype: StDType; shape: readonly number[] }]>,
  metadata: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, t] of tensors) {
    const size = numel(t.shape) * ST_DTYPE_BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + size] };
    offset += size;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(padded).fill(0x20);
  out.set(json);
  return out;
}

/** Options of `writeSafetensors`. */
export interface WriteOptions {
  /** Merged over the default `{format: "pt"}` (what transformers writes and expects). */
  metadata?: Record<string, string>;
}

/**
 * Writes tensors, in the given order, to `path` atomically: into a temporary
 * file in the same folder, flushed, then renamed over `path`.
 *
 * Data accepted per stored dtype: F32 a Float32Array; F16 and BF16 a
 * Float32Array (converted, rounded to nearest even) or a Uint16Array of bit
 * patterns; I32 Int32Array; I64 BigInt64Array; U8 and BOOL Uint8Array.
 */
export async function writeSafetensors(
  path: string,
  tensors: Iterable<readonly [string, TensorToWrite]>,
  options: WriteOptions = {},
): Promise<void> {
  assertLittleEndian();
  const list = [...tensors];
  const names = new Set<string>();
  for (const [name, t] of list) {
    const where = `safetensors ${path}: tensor ${JSON.stringify(name)}`;
    if (name === "" || name === "__metadata__") throw new Error(`${where}: reserved or empty name`);
    if (names.has(name)) throw new Error(`${where}: given twice`);
    names.add(name);
    if (!isStDType(t.dtype)) throw new Error(`${where}: dtype ${t.dtype} is not supported`);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw new Error(`${where}: shape ${JSON.stringify(t.shape)} is not a list of non-negative integers`);
    if (typeof t.data !== "function") checkData(where, t.dtype, t.shape, t.data);
  }
  const header = encodeSafetensorsHeader(list, { format: "pt", ...options.metadata });
  const length = new Uint8Array(8);
  new DataView(length.buffer).setBigUint64(0, BigInt(header.length), true);
  await writeFileAtomically(path, async (fh) => {
    await writeAll(fh, length);
    await writeAll(fh, header);
    for (const [name, t] of list) {
      if (typeof t.data !== "function") {
        await writeTensorData(fh, t.dtype, t.data);
        continue;
      }
      const data = t.data(); // the only copy of this tensor's data, dropped after the write
      checkData(`safetensors ${path}: tensor ${JSON.stringify(name)}`, t.dtype, t.shape, data);
      await writeTensorData(fh, t.dtype, data);
    }
  });
}

/** Throws unless `data` can hold `dtype` values and has the shape's element count. */
function checkData(where: string, dtype: StDType, shape: readonly number[], data: TensorData): void {
  if (!acceptsData(dtype, data))
    throw new Error(`${where}: ${data.constructor.name} cannot hold ${dtype} data`);
  if (data.length !== numel(shape))
    throw new Error(`${where}: ${data.length} elements for shape ${JSON.stringify(shape)}`);
}

function acceptsData(dtype: StDType, data: TensorData): boolean {
  switch (dtype) {
    case "F32":
      return data instanceof Float32Array;
    case "F16":
    case "BF16":
      return data instanceof Float32Array || data instanceof Uint16Array;
    case "I32":
      return data instanceof Int32Array;
    case "I64":
      return data instanceof BigInt64Array;
    default:
      return data instanceof Uint8Array;
  }
}

const CONVERT_CHUNK = 1 << 20;

/** Writes one tensor's bytes; f32 -> f16/bf16 conversion goes through a reused 2 MiB buffer. */
async function writeTensorData(fh: FileHandle, dtype: StDType, d: TensorData): Promise<void> {
  if (!(d instanceof Float32Array) || dtype === "F32") {
    await writeAll(fh, new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    return;
  }
  const convert = dtype === "F16" ? f32ToF16 : f32ToBf16;
  const buf = new Uint16Array(Math.min(CONVERT_CHUNK, d.length));
  for (let i = 0; i < d.length; i += CONVERT_CHUNK) {
    const part = d.subarray(i, i + CONVERT_CHUNK);
    const out = buf.subarray(0, part.length);
    convert(part, out);
    await writeAll(fh, new Uint8Array(out.buffer, 0, out.byteLength));
  }
}

async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, Math.min(bytes.length - done, 1 << 30));
    done += bytesWritten;
  }
}

/** A temporary name next to `path` (same folder, so a rename is atomic). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
}

/**
 * Runs `write` on a temporary file next to `path`, flushes it to disk and
 * renames it to `path`; on any error the temporary file is removed, so `path`
 * is either what it was or complete. An error of the file system (disk full,
 * no permission, read-only) names `path` (see `fileWriteError`).
 */
export async function writeFileAtomically(
  path: string,
  write: (fh: FileHandle) => Promise<void>,
): Promise<void> {
  const tmp = tempPathFor(path);
  const fh = await open(tmp, "wx").catch((e) => {
    throw fileWriteError(path, e);
  });
  try {
    await write(fh);
    await fh.sync();
    await fh.close();
    await rename(tmp, path);
  } catch (e) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw fileWriteError(path, e);
  }
}

/** What the file-system errors that stop a write mean, in words. */
const WRITE_ERRNO: Record<string, string> = {
  ENOSPC: "no space left on the device",
  EDQUOT: "the disk quota is exceeded",
  EFBIG: "the file is larger than the size limit allows (ulimit -f)",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "the file system is read-only",
  ENOENT: "its folder does not exist",
  ENOTDIR: "a part of its folder's path is not a folder",
  EISDIR: "it is a folder",
  EIO: "an input/output error of the device",
};

/**
 * The error to throw when writing `path` failed with `err`: a file-system error
 * (one with an errno code and a syscall, whose own message names a temporary
 * file or no file at all) becomes "cannot write PATH: REASON (CODE)", with the
 * original as its cause; any other error is returned as it is.
 */
export function fileWriteError(path: string, err: unknown): unknown {
  const e = err as NodeJS.ErrnoException;
  if (!(e instanceof Error) || typeof e.code !== "string" || typeof e.syscall !== "string") return err;
  const reason = WRITE_ERRNO[e.code] ?? e.message.replace(/^[A-Z]+: /, "").replace(/, \w+( '.*')?$/, "");
  return new Error(`cannot write ${path}: ${reason} (${e.code})`, { cause: err });
}

/** Writes text or bytes to `path` atomically (see `writeFileAtomically`). */
export async function writeFileAtomic(path: string, content: string | Uint8Array): Promise<void> {
  const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
  await writeFileAtomically(path, (fh) => writeAll(fh, bytes));
}

/** True when `path` exists. */
export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
