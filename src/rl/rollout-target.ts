/**
 * Where a GRPO run's rollouts are generated, and how each update of the policy
 * gets there (a recipe's `rollout:` section).
 *
 * - Local (no `rollout.endpoints`, as before): the trainer's own engine samples
 *   from the policy tensors it trains, so every update is seen at once.
 * - A fleet of inference servers (vLLM, SGLang, `reasonrl serve`) through
 *   src/generate/fleet.ts. After each update the policy is pushed to it:
 *     LoRA: the adapters are written in PEFT's layout to `adapterDir/step-N`
 *       (a temporary folder, then renamed), loaded on every endpoint under the
 *       name "step-N", the rollouts switch to that name, the previous adapter
 *       is unloaded, and only the last `keepAdapters` folders are kept;
 *     full fine-tuning: the weights are written as a model folder to
 *       `adapterDir/step-N` and each endpoint reloads them from disk (SGLang's
 *       /update_weights_from_disk). vLLM's and reasonrl's servers have no such
 *       endpoint: the recipe is refused when it is read (checkRolloutRecipe).
 *   Before the first step (new or resumed run) the weights the run starts from
 *   are pushed the same way, as "step-<start>".
 *
 * The step's sync timings (`sync_write_s`, `sync_load_s`, `sync_s`) join its
 * metrics through the trainer's afterUpdate hook.
 */
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import type { Generator } from "../generate/types.ts";
import type { ModelConfig } from "../model/hf-config.ts";
import type { LlamaWeights } from "../model/llama.ts";
import { saveModel } from "../model/load.ts";
import { type LoraConfig, saveLora } from "../model/lora.ts";
import type { RunFolder } from "../train/run-folder.ts";

/** The servers' APIs a fleet can speak (src/generate/fleet-protocols.ts). */
export const ROLLOUT_PROTOCOLS = ["vllm", "sglang", "reasonrl"] as const;
export type RolloutProtocol = (typeof ROLLOUT_PROTOCOLS)[number];

/** The protocols that can reload full weights from disk (the others take LoRA adapters only). */
const RELOADS_WEIGHTS: ReadonlySet<RolloutProtocol> = new Set(["sglang"]);

/** A recipe's `rollout:` section: where rollouts are generated. Left out: on the trainer's own engine. */
export const RolloutSection = z
  .object({
    /**
     * Base URLs of the inference servers ("http://gpu1:8000"); the step's prompts are spread over
     * them. Left out: rollouts run locally, on the trainer's engine.
     */
    endpoints: z.array(z.url()).min(1).optional(),
    /** The servers' API: "vllm", "sglang" or "reasonrl" (`reasonrl serve`). Needed with endpoints. */
    protocol: z.enum(ROLLOUT_PROTOCOLS).optional(),
    /**
     * The name the servers serve the base model under (the `model` of requests before the first
     * adapter is loaded, and of every request of a full fine-tune). Default: the first id at GET /v1/models.
     */
    servedModel: z.string().min(1).optional(),
    /**
     * Where the policy is written after each step for the servers to read (`step-N` folders): a
     * path the servers can read too. Default: `<run folder>/adapters`.
     */
    adapterDir: z.string().min(1).optional(),
    /** The servers' API key, sent as `Authorization: Bearer ...`. Prefer apiKeyEnv: a recipe is copied into config.yaml. */
    apiKey: z.string().min(1).optional(),
    /** The environment variable that holds the servers' API key (e.g. "VLLM_API_KEY"). */
    apiKeyEnv: z.string().min(1).optional(),
    /** Seconds one request (a prompt's G completions, or an adapter load) may take before it is tried again. */
    timeout: z.number().positive().default(600),
    /** Tries of a failed request after the first, each on the least busy other endpoint, with backoff. */
    retries: z.number().int().nonnegative().default(3),
    /** Adapter (or weights) folders kept in adapterDir, the newest ones (at least the one being served). */
    keepAdapters: z.number().int().positive().default(2),
    /**
     * 1: one-step-off-policy (TRL's async GRPO, verl, PipelineRL): step t+1's rollouts are generated
     * while step t trains, from the weights before step t's update. 0: on-policy, as the paper.
     * It saves time only with a fleet: locally generation and training share one engine.
     */
    offPolicy: z.union([z.literal(0), z.literal(1)]).default(0),
  })
  .strict();
export type RolloutSection = z.output<typeof RolloutSection>;

/**
 * What the rest of the recipe must agree with, checked when the recipe is read; each problem names
 * its field. `lora`: whether the recipe trains LoRA adapters (else all weights).
 */
export function rolloutProblems(r: RolloutSection, lora: boolean): string[] {
  const problems: string[] = [];
  const fleet = r.endpoints !== undefined;
  if (fleet && !r.protocol)
    problems.push(`rollout.protocol: needed with rollout.endpoints (one of ${ROLLOUT_PROTOCOLS.join(", ")})`);
  if (!fleet) {
    for (const f of ["protocol", "servedModel", "adapterDir", "apiKey", "apiKeyEnv"] as const) {
      if (r[f] !== undefined) problems.push(`rollout.${f}: only used with rollout.endpoints`);
    }
  }
  if (r.apiKey !== undefined && r.apiKeyEnv !== undefined)
    problems.push("rollout.apiKey: give apiKey or apiKeyEnv, not both");
  if (fleet && r.protocol && !lora && !RELOADS_WEIGHTS.has(r.protocol)) {
    problems.push(
      `rollout.protocol: ${r.protocol} servers cannot reload full weights from disk during a run ` +
        "(only LoRA adapters, through /v1/load_lora_adapter): train with model.lora, or use sglang " +
        "(/update_weights_from_disk)",
    );
  }
  return problems;
}

/** The API key of the servers: the recipe's, or the environment variable it names. */
export function rolloutApiKey(r: RolloutSection, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (r.apiKey !== undefined) return r.apiKey;
  if (r.apiKeyEnv === undefined) return undefined;
  const key = env[r.apiKeyEnv];
  if (!key) throw new Error(`rollout.apiKeyEnv: the environment variable ${r.apiKeyEnv} is not set`);
  return key;
}

/** A fleet as the weight sync drives it (src/generate/fleet.ts FleetGenerator). */
export interface PolicyFleet extends Generator {
  /** Loads the PEFT adapter folder `path` on every endpoint under `name`. */
  loadAdapter(name: string, path: string): Promise<void>;
  /** Unloads adapter `name` from every endpoint. */
  unloadAdapter(name: string): Promise<void>;
  /** Reloads the base weights of every endpoint from the model folder `path`. */
  reloadWeights(path: string): Promise<void>;
  /** The model (base or adapter name) later generate calls ask for. */
  setModel(name: string): void;
}

/** The policy as written to disk after each step. */
export interface PolicyWeights {
  /** The policy's tensors (read at each push). */
  weights: LlamaWeights;
  /** The LoRA settings when only adapters train (written in PEFT's layout); null: all weights train. */
  lora: LoraConfig | null;
  /** The base model folder: named in adapter_config.json, its tokenizer copied next to full weights. */
  modelPath: string;
  /** The base model's config (to write full weights). */
  hf: ModelConfig;
}

/** How long the last push took: writing the folder, and loading it (plus unloading the previous one). */
export interface SyncTimes {
  sync_write_s: number;
  sync_load_s: number;
  sync_s: number;
}

/**
 * Pushes the policy to a fleet after each step (see the top of the file): `push(n)` writes
 * `dir/step-n`, makes every endpoint serve it, and drops what is no longer needed.
 */
export class PolicySync {
  /** The name the fleet serves the current policy under ("step-N"), null before the first push. */
  #current: string | null = null;

  constructor(
    readonly fleet: PolicyFleet,
    readonly policy: PolicyWeights,
    readonly o: {
      /** adapterDir: where the step-N folders go. */
      dir: string;
      /** Writes a folder through a temporary one (RunFolder.replaceFolder). */
      folder: RunFolder;
      /** step-N folders kept on disk. */
      keepFolders: number;
    },
  ) {}

  /** The name the fleet serves the current policy under, null before the first push. */
  get current(): string | null {
    return this.#current;
  }

  /** Writes the policy as it is after `step` updates, and makes every endpoint generate with it. */
  async push(step: number): Promise<SyncTimes> {
    const name = `step-${step}`;
    const path = join(this.o.dir, name);
    const t0 = performance.now();
    await this.o.folder.replaceFolder(path, (tmp) => this.#write(tmp));
    const t1 = performance.now();
    if (this.policy.lora) await this.#swapAdapter(name, path);
    else await this.fleet.reloadWeights(path);
    this.#current = name;
    const t2 = performance.now();
    await this.#prune();
    return { sync_write_s: (t1 - t0) / 1000, sync_load_s: (t2 - t1) / 1000, sync_s: (t2 - t0) / 1000 };
  }

  /**
   * Loads adapter `name` from `path` everywhere, generates with it, unloads the previous one. No
   * rollout uses the previous one any more: the trainer calls its afterUpdate hook only once the
   * rollouts sampled from the weights before the update are done (also one step off policy).
   */
  async #swapAdapter(name: string, path: string): Promise<void> {
    const previous = this.#current;
    // A server refuses a name it holds: the same step pushed again, or, at the first push, a name
    // left loaded by the same run before it crashed and was resumed.
    if (previous === name) await this.fleet.unloadAdapter(name);
    else if (previous === null) await this.fleet.unloadAdapter(name).catch(() => {});
    await this.fleet.loadAdapter(name, path);
    this.fleet.setModel(name);
    if (previous !== null && previous !== name) await this.fleet.unloadAdapter(previous);
  }

  /** The adapters (PEFT layout) or the whole model folder, into the empty folder `tmp`. */
  async #write(tmp: string): Promise<void> {
    const { weights, lora, modelPath, hf } = this.policy;
    if (lora) await saveLora(tmp, weights, lora, modelPath);
    else await saveModel(tmp, hf, weights, { tokenizerDir: modelPath });
  }

  /** Removes the step-N folders beyond the newest keepFolders (never the one being served). */
  async #prune(): Promise<void> {
    const steps = (await readdir(this.o.dir))
      .map((f) => /^step-(\d+)$/.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => b - a);
    for (const n of steps.slice(this.o.keepFolders)) {
      if (`step-${n}` === this.#current) continue;
      await rm(join(this.o.dir, `step-${n}`), { recursive: true, force: true });
    }
  }
}
