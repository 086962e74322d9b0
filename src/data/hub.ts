/**
 * Datasets from the Hugging Face hub, downloaded once with @huggingface/hub
 * into a local cache and read from there afterwards (also offline):
 *
 *   <cache>/<owner>/<name>/<revision>/<path in the repository>
 *   <cache>/<owner>/<name>/<revision>/.reasonrl-split-<split>.json   (the split's files; written last)
 *
 * The cache is $REASONRL_DATASETS, else ~/.cache/reasonrl/datasets. A split's
 * files are found by listing the repository: the data files (Parquet first,
 * else JSON Lines, else JSON) with a path segment named after the split
 * (`data/train-00000-of-00001.parquet`, `train.jsonl`, `train/0.parquet`); a
 * repository whose files name no split serves them all as "train". Each file
 * is downloaded to a temporary name and renamed, and the split's manifest is
 * written only after all of them, so an interrupted download is redone, never
 * half read. When the hub cannot be reached, files put into the cache folder
 * by hand (same layout) are used instead.
 */
import { createWriteStream, existsSync, statSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join, relative, sep } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { downloadFile, listFiles } from "@huggingface/hub";
import { tempPathFor, writeFileAtomic } from "../model/safetensors-write.ts";

/** Where and how the hub is reached. */
export interface HubOptions {
  /** Cache folder (default: `defaultDatasetCache()`). */
  cacheDir?: string;
  /** The hub's address (default: $HF_ENDPOINT, else https://huggingface.co). */
  hubUrl?: string;
  /** An access token for gated or private datasets (default: $HF_TOKEN). */
  accessToken?: string;
  /** The fetch to use (proxies, tests). */
  fetch?: typeof fetch;
  /** Progress messages ("downloading ..."). */
  log?: (message: string) => void;
}

/** Which files of which dataset. */
export interface HubDatasetRef {
  /** "owner/name" of the dataset repository. */
  repo: string;
  /** The split, e.g. "train". */
  split: string;
  /** Git revision: a branch, tag or commit (default "main"). */
  revision?: string;
  /** Only files under this folder of the repository (a dataset's configuration, e.g. "default"). */
  under?: string;
  /** These repository paths instead of the split's files found by listing. */
  files?: readonly string[];
}

/** A downloaded file: its local path and its name on the hub (`hf://datasets/owner/name@rev/path`). */
export interface HubFile {
  path: string;
  hubName: string;
}

/** The default dataset cache: $REASONRL_DATASETS, else ~/.cache/reasonrl/datasets. */
export function defaultDatasetCache(): string {
  return process.env.REASONRL_DATASETS || join(homedir(), ".cache", "reasonrl", "datasets");
}

const DATA_EXTENSIONS = [".parquet", ".jsonl", ".json"] as const;

/**
 * The data files of `split` among a repository's paths, in the first format present
 * (Parquet, JSON Lines, JSON), sorted. With no file naming any split, "train" gets them all.
 */
export function splitFiles(paths: readonly string[], split: string): string[] {
  const namesSplit = (path: string, s: string) =>
    path
      .split("/")
      .map((segment) => segment.replace(/\.[^.]*$/, ""))
      .some((segment) => segment === s || new RegExp(`^${escapeRegExp(s)}[-_.]`).test(segment));
  for (const ext of DATA_EXTENSIONS) {
    const data = paths.filter((p) => p.endsWith(ext)).sort();
    const found = data.filter((p) => namesSplit(p, split));
    if (found.length > 0) return found;
    const anySplit = data.some((p) => ["train", "test", "validation", "dev"].some((s) => namesSplit(p, s)));
    if (split === "train" && data.length > 0 && !anySplit) return data;
  }
  return [];
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

interface Manifest {
  files: { path: string; size: number }[];
}

/**
 * The local files of a dataset split, downloaded into the cache unless already there.
 * Throws with the hub's error and what to do when the hub cannot be reached.
 */
export async function hubDatasetFiles(ref: HubDatasetRef, options: HubOptions = {}): Promise<HubFile[]> {
  if (!/^[\w.-]+\/[\w.-]+$/.test(ref.repo)) throw new Error(`hub dataset "${ref.repo}": expected owner/name`);
  const revision = ref.revision ?? "main";
  const root = join(options.cacheDir ?? defaultDatasetCache(), ...ref.repo.split("/"), revision);
  const manifestName = `.reasonrl-split-${ref.split.replace(/[^\w.-]/g, "_")}${ref.under ? `-${ref.under.replace(/[^\w.-]/g, "_")}` : ""}.json`;
  const manifestPath = join(root, manifestName);
  const hubName = (path: string) => `hf://datasets/${ref.repo}@${revision}/${path}`;

  const cached = await readManifest(manifestPath);
  if (cached?.files.every((f) => sizeOf(join(root, f.path)) === f.size))
    return cached.files.map((f) => ({ path: join(root, f.path), hubName: hubName(f.path) }));

  const hubUrl = options.hubUrl ?? process.env.HF_ENDPOINT ?? "https://huggingface.co";
  const call: HubCall = {
    repo: { type: "dataset", name: ref.repo },
    revision,
    hubUrl,
    accessToken: options.accessToken ?? process.env.HF_TOKEN ?? undefined,
    fetch: options.fetch,
  };
  const unreachable = (err: unknown) =>
    new Error(
      `hub dataset ${ref.repo}@${revision}: ${(err as Error).message} (hub ${hubUrl}; ` +
        `if offline, put the files in ${root} or read them with a path source)`,
    );

  let wanted: string[];
  if (ref.files && ref.files.length > 0) wanted = [...ref.files];
  else {
    const paths: string[] = [];
    try {
      for await (const entry of listFiles({ ...call, recursive: true, path: ref.under }))
        if (entry.type === "file") paths.push(entry.path);
    } catch (err) {
      // Offline: files put into the cache folder by hand serve as the repository.
      const local = splitFiles(await localFiles(root, ref.under), ref.split);
      if (local.length === 0) throw unreachable(err);
      options.log?.(`hub unreachable (${(err as Error).message}); using the files in ${root}`);
      paths.push(...local);
    }
    wanted = splitFiles(paths, ref.split);
    if (wanted.length === 0)
      throw new Error(`hub dataset ${ref.repo}@${revision}: no data file for split "${ref.split}"`);
  }

  const manifest: Manifest = { files: [] };
  for (const path of wanted) {
    const local = join(root, path);
    if (!existsSync(local)) {
      options.log?.(`downloading ${hubName(path)}`);
      try {
        await downloadTo(local, path, call);
      } catch (err) {
        throw unreachable(err);
      }
    }
    manifest.files.push({ path, size: sizeOf(local) });
  }
  await writeFileAtomic(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest.files.map((f) => ({ path: join(root, f.path), hubName: hubName(f.path) }));
}

/** The repository, revision and access of every hub call. */
interface HubCall {
  repo: { type: "dataset"; name: string };
  revision: string;
  hubUrl: string;
  accessToken?: string;
  fetch?: typeof fetch;
}

async function downloadTo(local: string, path: string, call: HubCall): Promise<void> {
  const blob = await downloadFile({ ...call, path });
  if (!blob) throw new Error(`${path}: not found in the repository`);
  await mkdir(dirname(local), { recursive: true });
  const tmp = tempPathFor(local);
  try {
    await pipeline(Readable.fromWeb(blob.stream() as WebReadableStream<Uint8Array>), createWriteStream(tmp));
    await rename(tmp, local);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Repository paths of the files under `root` (or its folder `under`), for offline use. */
async function localFiles(root: string, under?: string): Promise<string[]> {
  try {
    const entries = await readdir(join(root, under ?? ""), { recursive: true, withFileTypes: true });
    return entries
      .filter((e) => e.isFile() && !e.name.startsWith("."))
      .map((e) => relative(root, join(e.parentPath, e.name)).split(sep).join("/"));
  } catch {
    return [];
  }
}

async function readManifest(path: string): Promise<Manifest | null> {
  try {
    const m = JSON.parse(await readFile(path, "utf8")) as Manifest;
    return Array.isArray(m.files) ? m : null;
  } catch {
    return null;
  }
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return -1;
  }
}
