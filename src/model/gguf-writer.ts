/**
 * A GGUF v3 writer: the file format of llama.cpp and ggml.
 *
 * Layout (all integers little-endian):
 *   "GGUF" u32 version=3 | u64 tensor count | u64 key/value count
 *   key/values:   string key, u32 value type, value
 *   tensor infos: string name, u32 n_dims, u64 dims (innermost first, ggml's
 *                 ne[0..]), u32 ggml type, u64 offset into the data section
 *   zero padding to `general.alignment`, then each tensor's bytes, each padded
 *   to the alignment (offsets are the padded running sums).
 * Strings are a u64 byte length and UTF-8 bytes; arrays a u32 item type, a
 * u64 count and the items.
 *
 * Files are written atomically (temporary file, flushed, renamed), and tensor
 * data is produced one tensor at a time, so a large model need not fit in
 * memory at once.
 */
import type { FileHandle } from "node:fs/promises";
import { numel } from "./safetensors.ts";
import { assertLittleEndian, f32ToF16 } from "./safetensors-dtype.ts";
import { writeFileAtomically } from "./safetensors-write.ts";

export const GGUF_MAGIC = "GGUF";
export const GGUF_VERSION = 3;
/** The alignment this writer uses (and llama.cpp's default). */
export const GGUF_ALIGNMENT = 32;
/** ggml's GGML_MAX_NAME: tensor names must be shorter (in bytes). */
export const GGUF_MAX_NAME = 64;

/** GGUF metadata value types and their codes. */
export const GGUF_TYPE = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;
export type GgufScalarType = Exclude<keyof typeof GGUF_TYPE, "array">;

/** One metadata value: a scalar of a GGUF type, or an array of one scalar type. */
export type GgufValue =
  | { type: Exclude<GgufScalarType, "string" | "bool" | "u64" | "i64">; value: number }
  | { type: "u64" | "i64"; value: number | bigint }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  | { type: "array"; itemType: GgufScalarType; value: ArrayLike<number | bigint | boolean | string> };

/** Value constructors, e.g. `{"llama.block_count": gguf.u32(16)}`. */
export const gguf = {
  u32: (value: number): GgufValue => ({ type: "u32", value }),
  i32: (value: number): GgufValue => ({ type: "i32", value }),
  u64: (value: number | bigint): GgufValue => ({ type: "u64", value }),
  f32: (value: number): GgufValue => ({ type: "f32", value }),
  f64: (value: number): GgufValue => ({ type: "f64", value }),
  bool: (value: boolean): GgufValue => ({ type: "bool", value }),
  string: (value: string): GgufValue => ({ type: "string", value }),
  array: (itemType: GgufScalarType, value: ArrayLike<number | bigint | boolean | string>): GgufValue => ({
    type: "array",
    itemType,
    value,
  }),
};

/** ggml tensor types this writer stores. */
export const GGML_TYPE = { F32: 0, F16: 1 } as const;
export type GgmlTensorType = keyof typeof GGML_TYPE;

/** A tensor to write. Its data is asked for only when its bytes are written. */
export interface GgufTensor {
  name: string;
  /** Shape outermost first, as in PyTorch / safetensors ([out, in] for a linear weight); stored reversed. */
  shape: readonly number[];
  type: GgmlTensorType;
  /**
   * The values, row-major in `shape`: a Float32Array (converted to f16 for F16,
   * rounding to nearest even) or, for F16, a Uint16Array of f16 bit patterns.
   */
  data: () => Float32Array | Uint16Array | Promise<Float32Array | Uint16Array>;
}

/** What to write: metadata (in insertion order, `general.alignment` added) and tensors. */
export interface GgufContents {
  metadata: Readonly<Record<string, GgufValue>>;
  tensors: readonly GgufTensor[];
}

const ELEMENT_BYTES: Record<GgmlTensorType, number> = { F32: 4, F16: 2 };

/** Bytes a tensor's data takes (before padding). */
export function ggufTensorBytes(t: Pick<GgufTensor, "shape" | "type">): number {
  return numel(t.shape) * ELEMENT_BYTES[t.type];
}

function padTo(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/** A growable little-endian byte buffer. */
class ByteSink {
  #buf = new Uint8Array(1 << 16);
  #view = new DataView(this.#buf.buffer);
  length = 0;

  #reserve(n: number): void {
    if (this.length + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.length));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  scalar(type: GgufScalarType, value: number | bigint | boolean | string, where: string): void {
    const bad = () => {
      throw new Error(`gguf: ${where}: ${JSON.stringify(String(value))} is not a valid ${type}`);
    };
    if (type === "string") {
      if (typeof value !== "string") bad();
      this.string(value as string);
      return;
    }
    if (type === "bool") {
      if (typeof value !== "boolean") bad();
      this.u8(value ? 1 : 0);
      return;
    }
    if (type === "u64" || type === "i64") {
      if (typeof value !== "bigint" && !Number.isSafeInteger(value)) bad();
      const v = BigInt(value as number | bigint);
      if (type === "u64" ? v < 0n || v >= 1n << 64n : v < -(1n << 63n) || v >= 1n << 63n) bad();
      this.#reserve(8);
      if (type === "u64") this.#view.setBigUint64(this.length, v, true);
      else this.#view.setBigInt64(this.length, v, true);
      this.length += 8;
      return;
    }
    if (typeof value !== "number" || Number.isNaN(value)) bad();
    const v = value as number;
    const int = (lo: number, hi: number) => {
      if (!Number.isInteger(v) || v < lo || v > hi) bad();
    };
    const size = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, f64: 8 }[type];
    this.#reserve(size);
    const at = this.length;
    switch (type) {
      case "u8":
        int(0, 0xff);
        this.#view.setUint8(at, v);
        break;
      case "i8":
        int(-0x80, 0x7f);
        this.#view.setInt8(at, v);
        break;
      case "u16":
        int(0, 0xffff);
        this.#view.setUint16(at, v, true);
        break;
      case "i16":
        int(-0x8000, 0x7fff);
        this.#view.setInt16(at, v, true);
        break;
      case "u32":
        int(0, 0xffffffff);
        this.#view.setUint32(at, v, true);
        break;
      case "i32":
        int(-0x80000000, 0x7fffffff);
        this.#view.setInt32(at, v, true);
        break;
      case "f32":
        this.#view.setFloat32(at, v, true);
        break;
      case "f64":
        this.#view.setFloat64(at, v, true);
        break;
    }
    this.length += size;
  }

  u8(v: number): void {
    this.#reserve(1);
    this.#buf[this.length++] = v;
  }

  u32(v: number): void {
    this.scalar("u32", v, "u32");
  }

  u64(v: number): void {
    this.scalar("u64", v, "u64");
  }

  bytes(b: Uint8Array): void {
    this.#reserve(b.length);
    this.#buf.set(b, this.length);
    this.length += b.length;
  }

  string(s: string): void {
    const b = encoder.encode(s);
    this.u64(b.length);
    this.bytes(b);
  }

  value(v: GgufValue, where: string): void {
    this.u32(GGUF_TYPE[v.type]);
    if (v.type !== "array") {
      this.scalar(v.type, v.value, where);
      return;
    }
    this.u32(GGUF_TYPE[v.itemType]);
    this.u64(v.value.length);
    for (let i = 0; i < v.value.length; i++) this.scalar(v.itemType, v.value[i], `${where}[${i}]`);
  }

  padTo(alignment: number): void {
    const n = padTo(this.length, alignment) - this.length;
    this.#reserve(n);
    this.#buf.fill(0, this.length, this.length + n);
    this.length += n;
  }

  result(): Uint8Array {
    return this.#buf.subarray(0, this.length);
  }
}

const encoder = new TextEncoder();

/**
 * The header of a GGUF file: magic, counts, metadata (with `general.alignment`
 * set to GGUF_ALIGNMENT), tensor infos, padded to the alignment. The data
 * section that follows holds each tensor at its offset.
 */
export function encodeGgufHeader(contents: GgufContents): { header: Uint8Array; offsets: number[] } {
  const metadata: Record<string, GgufValue> = { ...contents.metadata };
  const given = metadata["general.alignment"];
  if (given && (given.type !== "u32" || given.value !== GGUF_ALIGNMENT))
    throw new Error(`gguf: general.alignment must be u32 ${GGUF_ALIGNMENT} (this writer's alignment)`);
  metadata["general.alignment"] = gguf.u32(GGUF_ALIGNMENT);

  const sink = new ByteSink();
  sink.bytes(encoder.encode(GGUF_MAGIC));
  sink.u32(GGUF_VERSION);
  sink.u64(contents.tensors.length);
  sink.u64(Object.keys(metadata).length);
  for (const [key, value] of Object.entries(metadata)) {
    if (key === "") throw new Error("gguf: empty metadata key");
    sink.string(key);
    sink.value(value, `metadata ${key}`);
  }
  const names = new Set<string>();
  const offsets: number[] = [];
  let offset = 0;
  for (const t of contents.tensors) {
    const where = `gguf: tensor ${JSON.stringify(t.name)}`;
    if (t.name === "" || encoder.encode(t.name).length >= GGUF_MAX_NAME)
      throw new Error(`${where}: name must have 1 to ${GGUF_MAX_NAME - 1} bytes`);
    if (names.has(t.name)) throw new Error(`${where}: given twice`);
    names.add(t.name);
    if (t.shape.length < 1 || t.shape.length > 4 || !t.shape.every((d) => Number.isSafeInteger(d) && d > 0))
      throw new Error(`${where}: shape ${JSON.stringify(t.shape)} must have 1 to 4 positive dimensions`);
    if (!(t.type in GGML_TYPE)) throw new Error(`${where}: type ${t.type} is not F32 or F16`);
    sink.string(t.name);
    sink.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) sink.u64(d);
    sink.u32(GGML_TYPE[t.type]);
    sink.u64(offset);
    offsets.push(offset);
    offset += padTo(ggufTensorBytes(t), GGUF_ALIGNMENT);
  }
  sink.padTo(GGUF_ALIGNMENT);
  return { header: sink.result(), offsets };
}

/** Writes a GGUF v3 file atomically; tensor data is fetched and written one tensor at a time. */
export async function writeGguf(path: string, contents: GgufContents): Promise<{ bytes: number }> {
  assertLittleEndian();
  const { header } = encodeGgufHeader(contents);
  let bytes = 0;
  await writeFileAtomically(path, async (fh) => {
    await writeAll(fh, header);
    bytes += header.length;
    const zeros = new Uint8Array(GGUF_ALIGNMENT);
    for (const t of contents.tensors) {
      const size = ggufTensorBytes(t);
      await writeTensorData(fh, t, await t.data());
      const pad = padTo(size, GGUF_ALIGNMENT) - size;
      await writeAll(fh, zeros.subarray(0, pad));
      bytes += size + pad;
    }
  });
  return { bytes };
}

const CONVERT_CHUNK = 1 << 20;

async function writeTensorData(fh: FileHandle, t: GgufTensor, data: Float32Array | Uint16Array) {
  const where = `gguf: tensor ${JSON.stringify(t.name)}`;
  if (data.length !== numel(t.shape))
    throw new Error(`${where}: ${data.length} values for shape ${JSON.stringify(t.shape)}`);
  if (t.type === "F32") {
    if (!(data instanceof Float32Array)) throw new Error(`${where}: F32 data must be a Float32Array`);
    return writeAll(fh, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  if (data instanceof Uint16Array)
    return writeAll(fh, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  const buf = new Uint16Array(Math.min(CONVERT_CHUNK, data.length));
  for (let i = 0; i < data.length; i += CONVERT_CHUNK) {
    const part = data.subarray(i, i + CONVERT_CHUNK);
    const out = f32ToF16(part, buf.subarray(0, part.length));
    await writeAll(fh, new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
  }
}

async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, Math.min(bytes.length - done, 1 << 30));
    done += bytesWritten;
  }
}
