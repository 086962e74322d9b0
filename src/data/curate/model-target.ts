/**
 * The model a curation step calls (difficulty by pass rate, the LLM judge),
 * as a recipe names it, in one of three forms:
 *
 *   target: { model: models/DeepSeek-R1-Distill-Qwen-1.5B }            # a local folder, our engine
 *   target: { endpoint: http://127.0.0.1:8000/v1, modelName: Qwen2.5-7B-Instruct }   # any OpenAI-compatible server
 *   target: { gguf: models/qwen2.5-math-7b-instruct-q8_0.gguf }        # llama.cpp
 *
 * Each opens as a ChatGenerator through src/generate/targets.ts (shared with
 * `reasonrl eval`). `targetIdentity` is what the steps' caches are keyed by,
 * the model itself rather than where it is found, as `reasonrl eval` keys its
 * samples (src/eval/identity.ts):
 *
 * - a model folder: its fingerprint (src/model/fingerprint.ts: configs,
 *   tokenizer, weights headers and samples of the weights' data) and the
 *   dtype it runs in, so a copy of the folder elsewhere reuses the cache and
 *   retrained weights of the same shapes do not;
 * - a GGUF file: its fingerprint;
 * - an endpoint: its base URL and the model id it serves: `modelName`, else
 *   the first id the server lists at GET /v1/models (asked each time the step
 *   opens its cache), so another model served on the same port samples afresh.
 *   The API key is not part of it.
 */
import { z } from "zod";
import { normalizeBaseUrl, OpenAIChatGenerator } from "../../generate/openai-client.ts";
import type { TargetSpec } from "../../generate/targets.ts";
import { fileFingerprint, modelFolderFingerprint } from "../../model/fingerprint.ts";

/** Keys that only make sense for one kind of target. */
const ONLY_FOR: Record<string, "model" | "endpoint" | "gguf" | "model or gguf"> = {
  maxBatch: "model",
  apiKey: "endpoint",
  apiKeyEnv: "endpoint",
  modelName: "endpoint",
  timeoutMs: "endpoint",
  retries: "endpoint",
  contextSize: "gguf",
  sequences: "gguf",
  threads: "model or gguf",
};

export const ModelTarget = z
  .object({
    /** A Hugging Face model folder (config.json, safetensors, tokenizer files), run by our engine. */
    model: z.string().min(1).optional(),
    /** The base URL of an OpenAI-compatible server ("http://host:port" or ".../v1"). */
    endpoint: z.url({ protocol: /^https?$/ }).optional(),
    /** A GGUF file, run by llama.cpp (node-llama-cpp). */
    gguf: z.string().min(1).optional(),
    /** Endpoint: the API key (sent as a Bearer token). Prefer apiKeyEnv over writing it in a recipe. */
    apiKey: z.string().min(1).optional(),
    /** Endpoint: the environment variable that holds the API key, e.g. OPENAI_API_KEY. */
    apiKeyEnv: z.string().min(1).optional(),
    /** Endpoint: the model to ask for (default: the first one the server lists). */
    modelName: z.string().min(1).optional(),
    /** Endpoint: time limit of one request attempt, ms (default 600,000). */
    timeoutMs: z.number().positive().optional(),
    /** Endpoint: attempts after the first for network errors, timeouts, 429 and 5xx (default 4). */
    retries: z.number().int().min(0).optional(),
    /** Model or GGUF: compute threads (default: all cores). */
    threads: z.number().int().positive().optional(),
    /** Model: sequences decoded together (default 32). */
    maxBatch: z.number().int().positive().optional(),
    /** GGUF: KV-cache tokens per sequence, prompt plus completion (default 4096). */
    contextSize: z.number().int().positive().optional(),
    /** GGUF: sequences decoded in parallel (default 4). */
    sequences: z.number().int().positive().optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    const kinds = (["model", "endpoint", "gguf"] as const).filter((k) => t[k] !== undefined);
    if (kinds.length !== 1) {
      ctx.addIssue({
        code: "custom",
        message: `give exactly one of model (a folder), endpoint (a URL) or gguf (a file); got ${kinds.length === 0 ? "none" : kinds.join(" and ")}`,
      });
      return;
    }
    for (const [key, only] of Object.entries(ONLY_FOR)) {
      if (t[key as keyof typeof t] !== undefined && !only.split(" or ").includes(kinds[0]))
        ctx.addIssue({ code: "custom", path: [key], message: `only for a ${only} target` });
    }
  });
export type ModelTarget = z.output<typeof ModelTarget>;

/** The TargetSpec that opens `target`; `concurrency` is the number of requests in flight for an endpoint. */
export function targetSpec(target: ModelTarget, concurrency: number): TargetSpec {
  if (target.model !== undefined)
    return { kind: "local", dir: target.model, threads: target.threads, maxBatch: target.maxBatch };
  if (target.gguf !== undefined)
    return {
      kind: "gguf",
      file: target.gguf,
      threads: target.threads,
      contextSize: target.contextSize,
      sequences: target.sequences,
    };
  let apiKey = target.apiKey;
  if (target.apiKeyEnv !== undefined) {
    apiKey = process.env[target.apiKeyEnv];
    if (!apiKey)
      throw new Error(`target: the environment variable ${target.apiKeyEnv} (apiKeyEnv) is not set`);
  }
  return {
    kind: "endpoint",
    url: target.endpoint as string,
    apiKey,
    model: target.modelName,
    concurrency,
    timeoutMs: target.timeoutMs,
    retries: target.retries,
  };
}

/** The model a target runs, as the steps' caches tell models apart (see the file's comment). */
export type TargetIdentity =
  | { kind: "local"; weights: string; dtype: string }
  | { kind: "gguf"; file: string }
  | { kind: "endpoint"; url: string; model: string };

/**
 * The identity of the model `target` runs: the fingerprint of its folder or file, or the
 * endpoint's URL and served model id (asking the server when no modelName is given).
 */
export async function targetIdentity(target: ModelTarget): Promise<TargetIdentity> {
  const spec = targetSpec(target, 1);
  switch (spec.kind) {
    case "local":
      return {
        kind: "local",
        weights: await fingerprintOf("model folder", spec.dir, modelFolderFingerprint),
        dtype: spec.dtype ?? "f32",
      };
    case "gguf":
      return { kind: "gguf", file: await fingerprintOf("gguf file", spec.file, fileFingerprint) };
    case "endpoint": {
      const client = new OpenAIChatGenerator({
        baseUrl: spec.url,
        ...(spec.apiKey ? { apiKey: spec.apiKey } : {}),
        ...(spec.model ? { model: spec.model } : {}),
        ...(spec.timeoutMs ? { timeoutMs: spec.timeoutMs } : {}),
        ...(spec.retries !== undefined ? { retries: spec.retries } : {}),
      });
      return { kind: "endpoint", url: client.baseUrl, model: await client.resolveModel() };
    }
  }
}

/**
 * The readable part of a cache file's name for `identity`: the served model id, or "model-" or
 * "gguf-" and the start of the fingerprint, so that a copy of a model, wherever it is, finds
 * the same file.
 */
export function identityLabel(identity: TargetIdentity): string {
  switch (identity.kind) {
    case "endpoint":
      return identity.model;
    case "local":
      return `model-${identity.weights.slice(0, 12)}`;
    case "gguf":
      return `gguf-${identity.file.slice(0, 12)}`;
  }
}

/** `fingerprint(path)`, or an error naming the target's folder or file when it cannot be read. */
async function fingerprintOf(
  what: string,
  path: string,
  fingerprint: (path: string) => Promise<string>,
): Promise<string> {
  try {
    return await fingerprint(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "not found"
        : code === "ENOTDIR"
          ? "not a folder"
          : code === "EISDIR"
            ? "a folder, not a file"
            : String(error);
    throw new Error(`target: ${what} ${path}: ${why}`);
  }
}

/** A short description for reports: "model models/x", "endpoint http://.../v1 (name)", "gguf x.gguf". */
export function describeTarget(target: ModelTarget): string {
  if (target.model !== undefined) return `model ${target.model}`;
  if (target.gguf !== undefined) return `gguf ${target.gguf}`;
  const url = normalizeBaseUrl(target.endpoint as string);
  return `endpoint ${url}${target.modelName ? ` (${target.modelName})` : ""}`;
}
