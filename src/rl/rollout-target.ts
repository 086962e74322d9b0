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
 *       endpoint: the recipe is refused when it is read (rolloutProblems).
 *   Before the first step (new or resumed run) the weights the run starts from
 *   are pushed the same way, as "step-<start>".
 *
 * The push is policy-sync.ts. The step's sync timings (`sync_write_s`,
 * `sync_load_s`, `sync_s`) and the fleet's numbers (`fleet_*`, src/generate/fleet.ts
 * fleetMetrics) join its metrics through the trainer's afterUpdate hook.
 */
import { join } from "node:path";
import { z } from "zod";
import { FleetGenerator, type FleetReport, fleetMetrics } from "../generate/fleet.ts";
import { FleetProtocolName } from "../generate/fleet-protocols.ts";
import type { Completion, Generator } from "../generate/types.ts";
import type { Tokenizer } from "../model/tokenizer.ts";
import type { RunFolder } from "../train/run-folder.ts";
import { PolicySync, type PolicyWeights } from "./policy-sync.ts";

/** The servers' APIs a fleet can speak (src/generate/fleet-protocols.ts). */
const ROLLOUT_PROTOCOLS = FleetProtocolName.options;

/** The protocols that can reload full weights from disk (fleet-protocols.ts reloadWeights); the others take LoRA adapters only. */
const RELOADS_WEIGHTS: ReadonlySet<FleetProtocolName> = new Set(["sglang"]);

/** A recipe's `rollout:` section: where rollouts are generated. Left out: on the trainer's own engine. */
export const RolloutSection = z
  .object({
    /**
     * Base URLs of the inference servers ("http://gpu1:8000"); the step's prompts are spread over
     * them. Left out: rollouts run locally, on the trainer's engine.
     */
    endpoints: z.array(z.url()).min(1).optional(),
    /** The servers' API: "vllm", "sglang" or "reasonrl" (`reasonrl serve`). Needed with endpoints. */
    protocol: FleetProtocolName.optional(),
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
    /** Seconds between two probes (GET /health) of an endpoint set aside after failures; when it answers it gets the policy, then requests. */
    probeInterval: z.number().positive().default(3),
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

/** The trainer hooks of a rollout target (src/rl/trainer.ts GrpoHooks). */
export interface SyncHooks {
  /** Pushes the weights the run starts from (step `start`), before the first rollout. */
  beforeFirstStep(start: number): Promise<void>;
  /** Pushes the weights after step `step`'s update; gives the push's and the fleet's numbers for the step's record. */
  afterUpdate(step: number): Promise<Record<string, number>>;
}

/** Where a run's rollouts are generated (openRolloutTarget). */
export interface RolloutTarget {
  /** What samples the rollouts: the trainer's local generator, or the fleet. */
  readonly generator: Generator;
  /** True for a fleet: it samples from its own copy of the weights, while the trainer's engine trains. */
  readonly remote: boolean;
  /** "local", or "3 vllm servers (http://...)", for the log. */
  readonly description: string;
  /** The trainer hooks; locally they do nothing. */
  readonly hooks: SyncHooks;
  /** Unloads the served adapter and stops probing the fleet. The local generator is the caller's. */
  close(): Promise<void>;
}

/** What openRolloutTarget needs besides the recipe's section. */
export interface RolloutTargetContext {
  /** The local generator (the rollouts' without endpoints). */
  local: Generator;
  /** The policy as it is pushed to the fleet. */
  policy: PolicyWeights;
  /** The run folder: adapterDir defaults to its `adapters/`. */
  folder: RunFolder;
  /** Decodes the fleet's completions (the trainer's own tokenizer, as local rollouts decode them). */
  tokenizer: Tokenizer;
  log?: (message: string) => void;
}

/**
 * The rollout target of a recipe's `rollout:` section (checked by rolloutProblems): the local
 * generator when it names no endpoints, else a FleetGenerator with the weight sync of PolicySync.
 */
export async function openRolloutTarget(
  section: RolloutSection | undefined,
  ctx: RolloutTargetContext,
): Promise<RolloutTarget> {
  const endpoints = section?.endpoints;
  if (!section || !endpoints || !section.protocol) {
    return {
      generator: ctx.local,
      remote: false,
      description: "local",
      hooks: { beforeFirstStep: async () => {}, afterUpdate: async () => ({}) },
      close: async () => {},
    };
  }
  const model = section.servedModel ?? (await servedModelOf(endpoints[0], rolloutApiKey(section)));
  const fleet = new FleetGenerator({
    endpoints,
    protocol: section.protocol,
    model,
    apiKey: rolloutApiKey(section),
    timeoutMs: section.timeout * 1000,
    retries: section.retries,
    probeIntervalMs: section.probeInterval * 1000,
    tokenizer: ctx.tokenizer,
    log: ctx.log,
  });
  const sync = new PolicySync(fleet, ctx.policy, {
    dir: section.adapterDir ?? join(ctx.folder.dir, "adapters"),
    folder: ctx.folder,
    keepFolders: section.keepAdapters,
  });
  const reports = new FleetReports(fleet);
  return {
    generator: reports,
    remote: true,
    description: `${endpoints.length} ${section.protocol} server${endpoints.length > 1 ? "s" : ""} (${endpoints.join(", ")})`,
    hooks: {
      beforeFirstStep: async (start) => {
        await sync.push(start);
      },
      afterUpdate: async (step) => ({ ...(await sync.push(step)), ...reports.take() }),
    },
    close: async () => {
      await sync.release();
      fleet.close();
    },
  };
}

/**
 * The fleet as the rollouts' generator, keeping each call's report: take() gives the step metrics
 * (fleetMetrics) of the calls that ended since the last take(), summed, with fleet_endpoints_down as
 * the last call left it. A step makes several calls with dynamic sampling; one step off policy, a
 * step's record holds the numbers of the next step's rollouts (sampled while it trained).
 */
class FleetReports implements Generator {
  #reports: FleetReport[] = [];

  constructor(readonly fleet: FleetGenerator) {}

  async generate(
    prompts: Int32Array[],
    options?: Parameters<Generator["generate"]>[1],
  ): Promise<Completion[][]> {
    try {
      return await this.fleet.generate(prompts, options);
    } finally {
      const report = this.fleet.lastReport();
      if (report) this.#reports.push(report);
    }
  }

  take(): Record<string, number> {
    const metrics = this.#reports.map(fleetMetrics);
    this.#reports = [];
    const sum: Record<string, number> = {};
    for (const m of metrics) for (const [k, v] of Object.entries(m)) sum[k] = (sum[k] ?? 0) + v;
    const last = metrics.at(-1);
    if (last) sum.fleet_endpoints_down = last.fleet_endpoints_down;
    return sum;
  }
}

/** The first model id at GET /v1/models of `endpoint` (the base model's served name). */
async function servedModelOf(endpoint: string, apiKey: string | undefined): Promise<string> {
  const url = `${endpoint.replace(/\/+$/, "").replace(/\/v1$/, "")}/v1/models`;
  const fail = (why: string) =>
    new Error(
      `rollout.servedModel: not given, and GET ${url} did not name a model (${why}): set it in the recipe`,
    );
  let body: unknown;
  try {
    const res = await fetch(url, {
      headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
      signal: AbortSignal.timeout(30_000),
    });
    if (!res.ok) throw fail(`HTTP ${res.status}`);
    body = await res.json();
  } catch (err) {
    throw err instanceof Error && err.message.startsWith("rollout.") ? err : fail((err as Error).message);
  }
  const id = (body as { data?: Array<{ id?: unknown }> })?.data?.[0]?.id;
  if (typeof id !== "string") throw fail("no data[0].id in the answer");
  return id;
}
