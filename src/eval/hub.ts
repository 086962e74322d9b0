/**
 * Benchmark data from the Hugging Face hub, with @huggingface/hub, kept in a
 * local cache so a dataset is downloaded once:
 *
 *   <cacheDir>/<owner>/<name>/<revision>/<path in the repo>
 *   <cacheDir>/<owner>/<name>/<revision>/.split-<split>.json   (the split's files, written last)
 *
 * The split's files are found by listing the repository: the data files
 * (.parquet, else .jsonl, else .json) whose path names the split (as
 * `data/train-00000-of-00001.parquet`, `test.jsonl`, `train/x.parquet`). Each
 * file is written to a temporary name and renamed, and the split's manifest
 * only after all of them, so an interrupted download is redone, never half
 * read.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { downloadFile, listFiles } from "@huggingface/hub";

/** Where and how the hub is reached. */
export interface HubOptions {
  /** Cache folder (default: $REASONRL_DATASETS, else ~/.cache/reasonrl/datasets). */
  cacheDir?: string;
  /** The hub's address (default: $HF_ENDPOINT, else https://huggingface.co). */
  hubUrl?: string;
  /** An access token (default: $HF_TOKEN), for gated or private datasets. */
  accessToken?: string;
  /** Git revision of the dataset (default "main"). */
  revision?: string;
  /** The fetch to use (tests, proxies). */
  fetch?: typeof fetch;
}

/** The default dataset cache folder. */
export function defaultCacheDir(): string {
  return process.env.REASONRL_DATASETS || join(homedir(), ".cache", "reasonrl", "datasets");
}

const FORMATS = [".parquet", ".jsonl", ".json"];

/** The data files of `split` among a repository's files, in the preferred format, sorted. */
export function splitFiles(paths: readonly string[], split: string): string[] {
  const escaped = split.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const names = new RegExp(`(^|[/_.-])${escaped}([/_.-]|$)`);
  for (const ext of FORMATS) {
    const found = paths.filter((p) => p.endsWith(ext) && names.test(p.slice(0, -ext.length))).sort();
    if (found.length > 0) return found;
  }
  return [];
}

/**
 * Local paths of the files of `split` of the dataset `repo` ("owner/name"), downloaded into the
 * cache unless already there. Throws with the hub's error and a hint when the hub cannot be
 * reached.
 */
export async function hubDatasetFiles(
  repo: string,
  split: string,
  options: HubOptions = {},
): Promise<string[]> {
  const revision = options.revision ?? "main";
  const root = join(options.cacheDir ?? defaultCacheDir(), ...repo.split("/"), revision);
  const manifest = join(root, `.split-${split}.json`);
  if (existsSync(manifest)) {
    const files = (JSON.parse(await readFile(manifest, "utf8")) as string[]).map((p) => join(root, p));
    if (files.every((f) => existsSync(f))) return files;
  }
  const common = {
    repo: { type: "dataset" as const, name: repo },
    revision,
    hubUrl: options.hubUrl ?? process.env.HF_ENDPOINT ?? undefined,
    fetch: options.fetch,
    ...(accessToken(options) ? { accessToken: accessToken(options) as string } : {}),
  };
  const where = `${common.hubUrl ?? "https://huggingface.co"}/datasets/${repo}`;
  try {
    const paths: string[] = [];
    for await (const entry of listFiles({ ...common, recursive: true })) {
      if (entry.type === "file") paths.push(entry.path);
    }
    const chosen = splitFiles(paths, split);
    if (chosen.length === 0)
      throw new Error(
        `no ${FORMATS.join("/")} file for split "${split}" among ${paths.join(", ") || "no files"}`,
      );
    for (const path of chosen) {
      const blob = await downloadFile({ ...common, path });
      if (!blob) throw new Error(`${path} is listed but cannot be downloaded`);
      const target = join(root, path);
      await mkdir(dirname(target), { recursive: true });
      const temp = `${target}.part-${process.pid}`;
      await writeFile(temp, new Uint8Array(await blob.arrayBuffer()));
      await rename(temp, target);
    }
    await writeFile(manifest, JSON.stringify(chosen));
    return chosen.map((p) => join(root, p));
  } catch (err) {
    throw new Error(
      `cannot download the dataset ${repo} (split ${split}) from ${where}: ${(err as Error).message}. ` +
        "Without network access, put the benchmark's <name>.jsonl or <name>.parquet in a folder and pass --data-dir",
    );
  }
}

function accessToken(options: HubOptions): string | undefined {
  return options.accessToken ?? process.env.HF_TOKEN ?? undefined;
}
