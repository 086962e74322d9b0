/**
 * Datasets from the Hugging Face hub, downloaded once with @huggingface/hub
 * into a local cache and read from there afterwards (also offline). Curation
 * sources (sources.ts, `reasonrl data download`) and the evaluation benchmarks
 * (src/eval/benchmarks.ts) share it, and so share one cache:
 *
 *   <cache>/<owner>/<name>/<revision>/<path in the repository>
 *   <cache>/<owner>/<name>/<revision>/.reasonrl-split-<split>.json   (the split's files; written last)
 *
 * The cache is $REASONRL_DATASETS, else ~/.cache/reasonrl/datasets. A split's
 * files are found by listing the repository: the data files (Parquet first,
 * else JSON Lines, else JSON) whose path names the split between separators
 * (`data/train-00000-of-00001.parquet`, `train.jsonl`, `train/0.parquet`,
 * `aime_test.json`); a repository whose files name no split serves them all as
 * "train". Each file is downloaded to a temporary name and renamed, and the
 * split's manifest is written only after all of them, so an interrupted
 * download is redone, never half read. Only a listing from the hub writes a
 * manifest: files named in the request (`files`) are looked for in the cache
 * by name, and a partial set found offline is listed again next time.
 *
 * When the hub cannot be reached, files put into the cache folder by hand
 * (same layout) are used instead; without them the error names the dataset,
 * the hub and the folder to fill.
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
 * (Parquet, JSON Lines, JSON), sorted. A file belongs to a split when its path, without the
 * extension, holds the split's name between separators (start or end, "/", "_", ".", "-"),
 * so "contest.parquet" is not "test". With no file naming any usual split, "train" gets them all.
 */
export function splitFiles(paths: readonly string[], split: string): string[] {
  for (const ext of DATA_EXTENSIONS) {
    const data = paths.filter((p) => p.endsWith(ext)).sort();
    const naming = (s: string) => data.filter((p) => namesSplit(p.slice(0, -ext.length), s));
    const found = naming(split);
    if (found.length > 0) return found;
    const anySplit = USUAL_SPLITS.some((s) => naming(s).length > 0);
    if (split === "train" && data.length > 0 && !anySplit) return data;
  }
  return [];
}

/** The split names that, when some file carries one, stop "train" from taking every file. */
const USUAL_SPLITS = ["train", "test", "validation", "dev"];

/** True when `path` (without its extension) holds `split` between separators. */
function namesSplit(path: string, split: string): boolean {
  const escaped = split.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`(^|[/_.-])${escaped}([/_.-]|$)`).test(path);
}

/** What a split's manifest records: its files, with their sizes to tell a complete file. */
interface Manifest {
  files: { path: string; size: number }[];
}

/**
 * The local files of a dataset split (or of `ref.files`), downloaded into the cache unless
 * already there; files found there answer without a request. Throws naming the dataset, the
 * hub and the cache folder to fill when the hub cannot be reached or has no such dataset.
 */
export async function hubDatasetFiles(ref: HubDatasetRef, options: HubOptions = {}): Promise<HubFile[]> {
  if (!/^[\w.-]+\/[\w.-]+$/.test(ref.repo)) throw new Error(`hub dataset "${ref.repo}": expected owner/name`);
  const revision = ref.revision ?? "main";
  const root = join(options.cacheDir ?? defaultDatasetCache(), ...ref.repo.split("/"), revision);
  const safe = (s: string) => s.replace(/[^\w.-]/g, "_");
  const manifestPath = join(
    root,
    `.reasonrl-split-${safe(ref.split)}${ref.under ? `-${safe(ref.under)}` : ""}.json`,
  );
  const named = ref.files && ref.files.length > 0 ? [...ref.files] : null;
  const hubName = (path: string) => `hf://datasets/${ref.repo}@${revision}/${path}`;
  const result = (paths: readonly string[]): HubFile[] =>
    paths.map((path) => ({ path: join(root, path), hubName: hubName(path) }));

  // In the cache already: the named files, or the split's files as the manifest lists them.
  if (named?.every((path) => existsSync(join(root, path)))) return result(named);
  const cached = named ? null : await readManifest(manifestPath);
  if (cached?.files.every((f) => sizeOf(join(root, f.path)) === f.size))
    return result(cached.files.map((f) => f.path));

  const hubUrl = options.hubUrl ?? process.env.HF_ENDPOINT ?? "https://huggingface.co";
  const call: HubCall = {
    repo: { type: "dataset", name: ref.repo },
    revision,
    hubUrl,
    accessToken: options.accessToken ?? process.env.HF_TOKEN ?? undefined,
    fetch: options.fetch,
  };
  const details = [`split ${ref.split}`];
  if (revision !== "main") details.push(`revision ${revision}`);
  if (ref.under) details.push(`folder ${ref.under}`);
  const dataset = `the dataset ${ref.repo} (${details.join(", ")})`;
  const cannotDownload = (err: unknown) =>
    new Error(
      `cannot download ${dataset} from ${hubUrl}: ${(err as Error).message}; ` +
        `if offline, put the files in ${root}`,
    );

  let wanted = named;
  let listed = false;
  if (!wanted) {
    const paths: string[] = [];
    try {
      for await (const entry of listFiles({ ...call, recursive: true, path: ref.under }))
        if (entry.type === "file") paths.push(entry.path);
      listed = true;
    } catch (err) {
      // Offline: files put into the cache folder by hand serve as the repository.
      const local = splitFiles(await localFiles(root, ref.under), ref.split);
      if (local.length === 0) throw cannotDownload(err);
      options.log?.(`hub unreachable (${(err as Error).message}); using the files in ${root}`);
      paths.push(...local);
    }
    wanted = splitFiles(paths, ref.split);
    if (wanted.length === 0) {
      const shown = paths.length > 20 ? `${paths.slice(0, 20).join(", ")}, ...` : paths.join(", ");
      throw new Error(
        `${dataset} on ${hubUrl}: no ${DATA_EXTENSIONS.join(", ")} file for the split (files: ${shown || "none"})`,
      );
    }
  }

  const manifest: Manifest = { files: [] };
  for (const path of wanted) {
    const local = join(root, path);
    if (!existsSync(local)) {
      options.log?.(`downloading ${hubName(path)}`);
      try {
        await downloadTo(local, path, call);
      } catch (err) {
        throw cannotDownload(err);
      }
    }
    manifest.files.push({ path, size: sizeOf(local) });
  }
  // Only a listing from the hub is complete; files named by hand or found offline are not.
  if (listed) await writeFileAtomic(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  return result(wanted);
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
