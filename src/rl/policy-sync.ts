/**
 * The weight sync of rollouts on a fleet (rollout-target.ts): after each update
 * the policy is written to `adapterDir/step-N` through a temporary folder, then
 * every server is made to generate with it.
 *
 * - LoRA: the adapters in PEFT's layout (adapter_config.json +
 *   adapter_model.safetensors), loaded on every endpoint as "step-N"; the
 *   rollouts switch to that name and the previous adapter is unloaded.
 * - Full fine-tuning: a whole model folder (config, safetensors, tokenizer),
 *   which every endpoint reloads from disk (SGLang's /update_weights_from_disk).
 *
 * Only the newest `keepFolders` step-N folders stay on disk.
 */
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Generator } from "../generate/types.ts";
import type { ModelConfig } from "../model/hf-config.ts";
import type { LlamaWeights } from "../model/llama.ts";
import { saveModel } from "../model/load.ts";
import { type LoraConfig, saveLora } from "../model/lora.ts";
import type { RunFolder } from "../train/run-folder.ts";

/** A fleet as the weight sync drives it (src/generate/fleet.ts FleetGenerator). */
export interface PolicyFleet extends Generator {
  /** Loads the PEFT adapter folder `path` on every endpoint under `name`. */
  loadAdapter(name: string, path: string): Promise<unknown>;
  /** Unloads adapter `name` from every endpoint. */
  unloadAdapter(name: string): Promise<unknown>;
  /** Reloads the base weights of every endpoint from the model folder `path`. */
  reloadWeights(path: string): Promise<unknown>;
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

  /**
   * Writes the policy as it is after `step` updates, and makes every endpoint generate with it. Each
   * push names a later step than the one before (the trainer pushes after every step, skipped or not).
   */
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
    try {
      await this.fleet.loadAdapter(name, path);
    } catch (err) {
      if (previous !== null) throw err;
      throw new Error(
        `${(err as Error).message} (if a server still holds ${name} from a run that crashed, restart it ` +
          `or unload ${name} there: POST /v1/unload_lora_adapter)`,
      );
    }
    this.fleet.setModel(name);
    if (previous !== null) await this.fleet.unloadAdapter(previous);
  }

  /**
   * Unloads the adapter being served (the run ends or stops), so that a rerun that resumes can load
   * the same step's name again. A server that cannot be reached is left as it is.
   */
  async release(): Promise<void> {
    const current = this.#current;
    this.#current = null;
    if (this.policy.lora && current !== null) await this.fleet.unloadAdapter(current).catch(() => {});
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
