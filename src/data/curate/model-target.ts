/**
 * The model a curation step calls (difficulty by pass rate, the LLM judge),
 * as a recipe names it, in one of three forms:
 *
 *   target: { model: models/DeepSeek-R1-Distill-Qwen-1.5B }            # a local folder, our engine
 *   target: { endpoint: http://127.0.0.1:8000/v1, modelName: Qwen2.5-7B-Instruct }   # any OpenAI-compatible server
 *   target: { gguf: models/qwen2.5-math-7b-instruct-q8_0.gguf }        # llama.cpp
 *
 * Each opens as a ChatGenerator through src/generate/targets.ts (shared with
 * `reasonrl eval`). `targetIdentity` is what the steps' caches are keyed by:
 * the folder's or file's absolute path, or the endpoint's base URL and the
 * model name given (not the API key). A model replaced in the same folder, or
 * a server that changed models behind the same URL and name, is not noticed:
 * give the step another `cacheTag` to sample afresh.
 */
import { resolve } from "node:path";
import { z } from "zod";
import { normalizeBaseUrl } from "../../generate/openai-client.ts";
import type { TargetSpec } from "../../generate/targets.ts";

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

/** What identifies the target's model for caches: "model:/abs/dir", "gguf:/abs/file", "endpoint:<url>|<name>". */
export function targetIdentity(target: ModelTarget): string {
  if (target.model !== undefined) return `model:${resolve(target.model)}`;
  if (target.gguf !== undefined) return `gguf:${resolve(target.gguf)}`;
  return `endpoint:${normalizeBaseUrl(target.endpoint as string)}|${target.modelName ?? "(first listed)"}`;
}

/** A short description for reports: "model models/x", "endpoint http://.../v1 (name)", "gguf x.gguf". */
export function describeTarget(target: ModelTarget): string {
  if (target.model !== undefined) return `model ${target.model}`;
  if (target.gguf !== undefined) return `gguf ${target.gguf}`;
  const url = normalizeBaseUrl(target.endpoint as string);
  return `endpoint ${url}${target.modelName ? ` (${target.modelName})` : ""}`;
}
