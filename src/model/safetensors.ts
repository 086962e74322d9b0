/**
 * safetensors files: one file's header, its tensors read on demand, and writing.
 *
 * The format (https://huggingface.co/docs/safetensors): 8 bytes, a little-endian
 * u64 N; N bytes of UTF-8 JSON (may end in spaces, which pad the data to 8-byte
 * alignment); then the data section. The JSON maps each tensor name to
 * `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the data
 * section) and may hold `__metadata__`, a string-to-string map.
 *
 * Reading keeps the file open and reads each tensor's bytes when asked, with
 * positional reads (`FileHandle.read` at an offset) into a fresh buffer: Node has
 * no mmap, and this needs no native dependency. Only the header is read up front.
 *
 * Validation follows the reference implementation: header inside the file,
 * each tensor's byte size equal to dtype size times the shape's product, tensors
 * neither overlapping nor leaving gaps, and the data section ending at the end of
 * the file; names unique. Errors name the file and the tensor or field.
 * Writing is in safetensors-write.ts.
 */
import { type FileHandle, open } from "node:fs/promises";
import {
  assertLittleEndian,
  bf16ToF32,
  f16ToF32,
  isStDType,
  ST_DTYPE_BYTES,
  type StDType,
  type TensorData,
} from "./safetensors-dtype.ts";

/** Largest header accepted, as the reference implementation (100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

/** One tensor of a safetensors file. */
export interface TensorEntry {
  name: string;
  dtype: StDType;
  /** Outermost first, as in PyTorch; [] is a scalar. */
  shape: number[];
  /** The file holding it. */
  file: string;
  /** Absolute byte offset of its first byte in the file. */
  offset: number;
  byteLength: number;
}

/** What a header says: metadata and the tensors, in data order. */
export interface SafetensorsHeader {
  metadata: Record<string, string>;
  tensors: TensorEntry[];
  /** Byte offset of the data section (8 + N). */
  dataStart: number;
}

/** Number of elements of a shape (1 for a scalar). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Parses and validates a header. `json` is the N header bytes; `fileSize` the
 * whole file's size; `file` names the file in errors. Long by nature: one check after another,
 * each with its own error message.
 */
export function parseSafetensorsHeader(json: Uint8Array, fileSize: number, file: string): SafetensorsHeader {
  const fail = (msg: string): never => {
    throw new Error(`safetensors ${file}: ${msg}`);
  };
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(json);
  } catch {
    return fail("header is not valid UTF-8");
  }
  if (!text.startsWith("{"))
    fail(`header does not start with "{" (starts with ${JSON.stringify(text.slice(0, 20))})`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return fail(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    fail("header is not a JSON object");
  const dup = duplicateTopLevelKey(text);
  if (dup !== null) fail(`tensor name ${JSON.stringify(dup)} appears twice in the header`);

  const dataStart = 8 + json.length;
  const dataSize = fileSize - dataStart;
  let metadata: Record<string, string> = {};
  const tensors: TensorEntry[] = [];
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === "__metadata__") {
      metadata = parseMetadata(value, fail);
      continue;
    }
    const where = `tensor ${JSON.stringify(name)}`;
    if (typeof value !== "object" || value === null || Array.isArray(value))
      fail(`${where}: entry is not an object`);
    const v = value as Record<string, unknown>;
    if (typeof v.dtype !== "string") fail(`${where}: field dtype is missing or not a string`);
    const dtype = v.dtype as string;
    if (!isStDType(dtype))
      fail(
        `${where}: dtype ${dtype} is not supported (reasonrl reads ${Object.keys(ST_DTYPE_BYTES).join(", ")})`,
      );
    const shape = v.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      fail(`${where}: field shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    const offsets = v.data_offsets;
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    )
      fail(
        `${where}: field data_offsets ${JSON.stringify(offsets)} is not [begin, end] with 0 <= begin <= end`,
      );
    const [begin, end] = offsets as [number, number];
    const needed = numel(shape as number[]) * ST_DTYPE_BYTES[dtype as StDType];
    if (!Number.isSafeInteger(needed)) fail(`${where}: shape ${JSON.stringify(shape)} is too large`);
    if (end - begin !== needed)
      fail(
        `${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes but dtype ${dtype} with shape ` +
          `${JSON.stringify(shape)} needs ${needed}`,
      );
    if (end > dataSize)
      fail(
        `${where}: data_offsets [${begin}, ${end}] run past the end of the data section (${dataSize} bytes)`,
      );
    tensors.push({
      name,
      dtype: dtype as StDType,
      shape: shape as number[],
      file,
      offset: dataStart + begin,
      byteLength: needed,
    });
  }
  tensors.sort((a, b) => a.offset - b.offset || a.byteLength - b.byteLength);
  let pos = dataStart;
  let prev: TensorEntry | null = null;
  for (const t of tensors) {
    if (t.offset < pos)
      fail(`tensors ${JSON.stringify(prev?.name)} and ${JSON.stringify(t.name)} overlap in data_offsets`);
    if (t.offset > pos)
      fail(`${t.offset - pos} bytes before tensor ${JSON.stringify(t.name)} belong to no tensor (a gap)`);
    pos = t.offset + t.byteLength;
    prev = t;
  }
  if (pos !== fileSize) fail(`${fileSize - pos} bytes after the last tensor belong to no tensor`);
  return { metadata, tensors, dataStart };
}

function parseMetadata(value: unknown, fail: (msg: string) => never): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    fail("field __metadata__ is not an object");
  for (const [k, v] of Object.entries(value as object))
    if (typeof v !== "string") fail(`field __metadata__.${k} is not a string`);
  return { ...(value as Record<string, string>) };
}

/**
 * The first key that appears twice at the top level of a JSON object text
 * (JSON.parse keeps the last silently), or null. `text` must be valid JSON.
 */
function duplicateTopLevelKey(text: string): string | null {
  const seen = new Set<string>();
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
    else if (c === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) if (text[i] === "\\") i++;
      if (depth !== 1) continue;
      let j = i + 1;
      while (text[j] === " " || text[j] === "\n" || text[j] === "\r" || text[j] === "\t") j++;
      if (text[j] !== ":") continue;
      const key = JSON.parse(text.slice(start, i + 1)) as string;
      if (seen.has(key)) return key;
      seen.add(key);
    }
  }
  return null;
}

/** An open safetensors file: header parsed, tensor bytes read on demand. Call `close()`. */
export class SafetensorsFile {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    readonly metadata: Record<string, string>,
    /** Tensors by name, in data order. */
    readonly tensors: ReadonlyMap<string, TensorEntry>,
  ) {}

  /** Opens `path`, reads and validates its header. */
  static async open(path: string): Promise<SafetensorsFile> {
    const handle = await open(path, "r");
    try {
      const size = (await handle.stat()).size;
      if (size < 8)
        throw new Error(`safetensors ${path}: truncated: ${size} bytes, less than the 8-byte length`);
      const lenBytes = await readAt(handle, 0, 8, path);
      const n = new DataView(lenBytes.buffer).getBigUint64(0, true);
      if (n > BigInt(MAX_HEADER_BYTES))
        throw new Error(`safetensors ${path}: header length ${n} is over the ${MAX_HEADER_BYTES}-byte limit`);
      if (8 + Number(n) > size)
        throw new Error(
          `safetensors ${path}: truncated: header of ${n} bytes runs past the end (${size} bytes)`,
        );
      const header = parseSafetensorsHeader(await readAt(handle, 8, Number(n), path), size, path);
      const tensors = new Map(header.tensors.map((t) => [t.name, t]));
      return new SafetensorsFile(path, handle, header.metadata, tensors);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  /** The entry of tensor `name`; throws naming the file when absent. */
  entry(name: string): TensorEntry {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`safetensors ${this.path}: no tensor ${JSON.stringify(name)}`);
    return t;
  }

  /** The raw little-endian bytes of a tensor, in a fresh 8-byte-aligned buffer. */
  async readBytes(name: string): Promise<Uint8Array> {
    const t = this.entry(name);
    return readAt(this.handle, t.offset, t.byteLength, this.path);
  }

  /**
   * A tensor in its own dtype: Float32Array (F32), Uint16Array of bit patterns
   * (F16, BF16), Int32Array (I32), BigInt64Array (I64), Uint8Array (U8, BOOL).
   */
  async read(name: string): Promise<TensorData> {
    const t = this.entry(name);
    return viewAs(t.dtype, await this.readBytes(name));
  }

  /** A float tensor (F32, F16 or BF16) as f32 values; throws for other dtypes. */
  async readFloat32(name: string): Promise<Float32Array> {
    const t = this.entry(name);
    if (t.dtype !== "F32" && t.dtype !== "F16" && t.dtype !== "BF16")
      throw new Error(`safetensors ${this.path}: tensor ${JSON.stringify(name)} is ${t.dtype}, not a float`);
    const data = await this.read(name);
    if (t.dtype === "F32") return data as Float32Array;
    return t.dtype === "F16" ? f16ToF32(data as Uint16Array) : bf16ToF32(data as Uint16Array);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/** Typed view of little-endian bytes (buffer aligned at 0) as `dtype`. */
function viewAs(dtype: StDType, bytes: Uint8Array): TensorData {
  assertLittleEndian();
  const n = bytes.byteLength / ST_DTYPE_BYTES[dtype];
  switch (dtype) {
    case "F32":
      return new Float32Array(bytes.buffer, bytes.byteOffset, n);
    case "F16":
    case "BF16":
      return new Uint16Array(bytes.buffer, bytes.byteOffset, n);
    case "I32":
      return new Int32Array(bytes.buffer, bytes.byteOffset, n);
    case "I64":
      return new BigInt64Array(bytes.buffer, bytes.byteOffset, n);
    default:
      return bytes;
  }
}

/** Reads exactly `length` bytes at `position` into a fresh buffer (in chunks of at most 1 GiB). */
async function readAt(
  handle: FileHandle,
  position: number,
  length: number,
  path: string,
): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const chunk = Math.min(length - done, 1 << 30);
    const { bytesRead } = await handle.read(out, done, chunk, position + done);
    if (bytesRead === 0)
      throw new Error(`safetensors ${path}: unexpected end of file at byte ${position + done}`);
    done += bytesRead;
  }
  return out;
}
