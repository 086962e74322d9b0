/**
 * Sets of safetensors files: one `model.safetensors`, or shards
 * `model-00001-of-0000N.safetensors` listed by `model.safetensors.index.json`
 * (`{"metadata": {"total_size": bytes}, "weight_map": {tensor: shard file}}`),
 * read through one `SafetensorsReader` and written by `writeSafetensorsSharded`.
 */
import { readFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { numel, SafetensorsFile, type TensorEntry } from "./safetensors.ts";
import { ST_DTYPE_BYTES, type TensorData } from "./safetensors-dtype.ts";
import { exists, type TensorToWrite, writeFileAtomic, writeSafetensors } from "./safetensors-write.ts";

/** File name of a single-file model. */
export const SINGLE_FILE = "model.safetensors";
/** File name of the shard index. */
export const INDEX_FILE = "model.safetensors.index.json";

/** The contents of an index file. */
export interface SafetensorsIndex {
  metadata: Record<string, unknown>;
  /** Tensor name -> shard file name (in the index's folder). */
  weight_map: Record<string, string>;
}

/** Reads and checks an index file: a weight_map of names to plain file names in the same folder. */
export async function readSafetensorsIndex(path: string): Promise<SafetensorsIndex> {
  const fail = (msg: string): never => {
    throw new Error(`safetensors index ${path}: ${msg}`);
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, "utf8"));
  } catch (e) {
    return fail(`not valid JSON: ${(e as Error).message}`);
  }
  const obj = parsed as Record<string, unknown>;
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) fail("not a JSON object");
  const map = obj.weight_map;
  if (typeof map !== "object" || map === null || Array.isArray(map))
    fail("field weight_map is not an object");
  for (const [name, file] of Object.entries(map as object)) {
    if (typeof file !== "string" || file === "" || file !== basename(file) || file === "..")
      fail(
        `weight_map[${JSON.stringify(name)}] = ${JSON.stringify(file)} is not a file name in the same folder`,
      );
  }
  const metadata = obj.metadata ?? {};
  if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata))
    fail("field metadata is not an object");
  return { metadata: metadata as Record<string, unknown>, weight_map: map as Record<string, string> };
}

/** Tensors of one or more safetensors files, by name. Call `close()`. */
export class SafetensorsReader {
  private constructor(
    /** The files, in shard order. */
    readonly files: readonly SafetensorsFile[],
    private readonly byName: ReadonlyMap<string, SafetensorsFile>,
  ) {}

  /**
   * Opens a `.safetensors` file, an index `.json` file, or a folder (its index
   * when present, else its `model.safetensors`). A sharded set is checked
   * against its index: every listed tensor is in the shard named for it, and
   * every tensor of a shard is listed there.
   */
  static async open(path: string): Promise<SafetensorsReader> {
    if (!path.endsWith(".safetensors") && !path.endsWith(".json")) {
      const index = join(path, INDEX_FILE);
      const single = join(path, SINGLE_FILE);
      if (await exists(index)) path = index;
      else if (await exists(single)) path = single;
      else throw new Error(`safetensors: ${path} has neither ${INDEX_FILE} nor ${SINGLE_FILE}`);
    }
    if (path.endsWith(".safetensors")) {
      const f = await SafetensorsFile.open(path);
      return new SafetensorsReader([f], new Map([...f.tensors.keys()].map((n) => [n, f])));
    }
    const index = await readSafetensorsIndex(path);
    const shardNames = [...new Set(Object.values(index.weight_map))].sort();
    const files: SafetensorsFile[] = [];
    try {
      for (const s of shardNames) files.push(await SafetensorsFile.open(join(dirname(path), s)));
      const byName = new Map<string, SafetensorsFile>();
      for (const f of files) {
        for (const name of f.tensors.keys()) {
          const listed = index.weight_map[name];
          if (listed === undefined)
            throw new Error(
              `safetensors index ${path}: tensor ${JSON.stringify(name)} of ${f.path} is not listed`,
            );
          if (listed !== basename(f.path))
            throw new Error(
              `safetensors index ${path}: tensor ${JSON.stringify(name)} is listed in ${listed} but found in ${f.path}`,
            );
          byName.set(name, f);
        }
      }
      for (const [name, file] of Object.entries(index.weight_map))
        if (!byName.has(name))
          throw new Error(`safetensors index ${path}: tensor ${JSON.stringify(name)} is not in ${file}`);
      return new SafetensorsReader(files, byName);
    } catch (e) {
      await Promise.all(files.map((f) => f.close()));
      throw e;
    }
  }

  /** Tensor names, file by file in data order. */
  names(): string[] {
    return this.files.flatMap((f) => [...f.tensors.keys()]);
  }

  /** All tensor entries, file by file in data order. */
  entries(): TensorEntry[] {
    return this.files.flatMap((f) => [...f.tensors.values()]);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The entry of `name`; throws naming the files when absent. */
  entry(name: string): TensorEntry {
    return this.fileOf(name).entry(name);
  }

  /** The raw little-endian bytes of a tensor. */
  readBytes(name: string): Promise<Uint8Array> {
    return this.fileOf(name).readBytes(name);
  }

  /** A tensor in its own dtype (see `SafetensorsFile.read`). */
  read(name: string): Promise<TensorData> {
    return this.fileOf(name).read(name);
  }

  /** A float tensor as f32 values. */
  readFloat32(name: string): Promise<Float32Array> {
    return this.fileOf(name).readFloat32(name);
  }

  async close(): Promise<void> {
    await Promise.all(this.files.map((f) => f.close()));
  }

  private fileOf(name: string): SafetensorsFile {
    const f = this.byName.get(name);
    if (!f)
      throw new Error(
        `safetensors ${this.files.map((x) => x.path).join(", ")}: no tensor ${JSON.stringify(name)}`,
      );
    return f;
  }
}

/** Options of `writeSafetensorsSharded`. */
export interface ShardOptions {
  /** Largest shard in bytes of tensor data (default: no limit, one file). A larger tensor gets a shard alone. */
  maxShardBytes?: number;
  /** Extra `__metadata__` of every file. */
  metadata?: Record<string, string>;
}

/**
 * Writes tensors into folder `dir` as transformers does: `model.safetensors`
 * when they fit in one shard, else `model-0000k-of-0000n.safetensors` (filled
 * greedily in the given order) and `model.safetensors.index.json`. Each file is
 * written atomically and the index last, so a reader never finds an index whose
 * shards are missing; for a whole folder that appears at once use `saveModelDir`.
 * Returns the file names written.
 */
export async function writeSafetensorsSharded(
  dir: string,
  tensors: Iterable<readonly [string, TensorToWrite]>,
  options: ShardOptions = {},
): Promise<string[]> {
  const max = options.maxShardBytes ?? Number.POSITIVE_INFINITY;
  if (!(max > 0)) throw new Error(`safetensors: maxShardBytes ${max} must be positive`);
  const shards: Array<Array<readonly [string, TensorToWrite]>> = [[]];
  let size = 0;
  let total = 0;
  for (const entry of tensors) {
    const bytes = numel(entry[1].shape) * ST_DTYPE_BYTES[entry[1].dtype];
    let shard = shards[shards.length - 1];
    if (shard.length > 0 && size + bytes > max) {
      shard = [];
      shards.push(shard);
      size = 0;
    }
    shard.push(entry);
    size += bytes;
    total += bytes;
  }
  if (shards.length === 1) {
    await writeSafetensors(join(dir, SINGLE_FILE), shards[0], { metadata: options.metadata });
    return [SINGLE_FILE];
  }
  const n = shards.length;
  const pad = (k: number) => String(k).padStart(5, "0");
  const names = shards.map((_, i) => `model-${pad(i + 1)}-of-${pad(n)}.safetensors`);
  const weightMap: Record<string, string> = {};
  for (let i = 0; i < n; i++) {
    await writeSafetensors(join(dir, names[i]), shards[i], { metadata: options.metadata });
    for (const [name] of shards[i]) weightMap[name] = names[i];
  }
  const sorted = Object.fromEntries(
    Object.entries(weightMap).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  const index: SafetensorsIndex = { metadata: { total_size: total }, weight_map: sorted };
  await writeFileAtomic(join(dir, INDEX_FILE), `${JSON.stringify(index, null, 2)}\n`);
  return [...names, INDEX_FILE];
}
