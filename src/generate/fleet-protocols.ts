/**
 * What a rollout fleet's servers are sent and what their answers mean, per protocol: vLLM's
 * OpenAI-compatible server, SGLang's native API, and `reasonrl serve` (vLLM's wire format with
 * reasonrl's seeding). Pure mapping, no I/O: each call is a method, a path and a JSON body, each
 * answer is read into token ids, the sampler's log-probs and a finish reason. The fleet
 * (fleet.ts) sends them and decides what a failure means.
 *
 * The endpoints, and the release that has each in its code (checked in their docs and sources):
 *
 * | protocol | call | endpoint and body | since |
 * | --- | --- | --- | --- |
 * | vllm | generate | POST /v1/completions {model, prompt: [ids], n, seed, temperature, top_p, [top_k, min_p, stop], max_tokens, logprobs: 0, return_token_ids: true, return_tokens_as_token_ids: true} | token-id prompts: OpenAI's API; `return_token_ids` (choices[].token_ids): v0.10.2 (PR #22587); `return_tokens_as_token_ids` ("token_id:123" in logprobs.tokens): a server flag since v0.5, a request field in later releases. Both are sent: vLLM ignores fields it does not know |
 * | vllm | load adapter | POST /v1/load_lora_adapter {lora_name, lora_path} | v0.6.1 (PR #6566), server started with --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True |
 * | vllm | unload adapter | POST /v1/unload_lora_adapter {lora_name} | v0.6.1 |
 * | vllm | reload full weights | none in the OpenAI server (see reloadWeights) | |
 * | sglang | generate | POST /generate {input_ids, sampling_params: {n, temperature, top_p, [top_k, min_p, stop], max_new_tokens}, return_logprob: true, [lora_path: adapter name]} -> meta_info.output_token_logprobs [[logprob, id, text], ...]; with seeds (sendSeed), a batch of n copies of the prompt, sample j with sampling_params.sampling_seed promptSeed(prompt seed, j) | native API (io_struct.py GenerateReqInput); `sampling_seed` is honoured with --enable-deterministic-inference (v0.5) |
 * | sglang | load / unload adapter | POST /load_lora_adapter {lora_name, lora_path}, POST /unload_lora_adapter {lora_name} | PR #7446 (June 2025, the 0.4.8 line); the server started with LoRA enabled (--enable-lora, or --lora-paths; --max-lora-rank and --lora-target-modules when it starts without adapters) |
 * | sglang | reload full weights | POST /update_weights_from_disk {model_path} | v0.4 (earlier /update_weights) |
 * | reasonrl | all | as vllm | this repository (src/serve) |
 * | all | probe | GET /health | |
 *
 * Log-probs: vLLM returns the model's log-probs before temperature, top-k and top-p ("raw", its
 * default `--logprobs-mode raw_logprobs`, v0.10.0) unless started with `--logprobs-mode
 * processed_logprobs` (temperature applied from v0.10.2). SGLang's output_token_logprobs are
 * those of the temperature-scaled distribution ("processed"). reasonrl serve gives what
 * LocalGenerator gives: the temperature-scaled distribution before top-k/top-p filtering
 * ("processed"). The fleet reports which, so the trainer compares like with like.
 */
import { z } from "zod";
import { promptSeed } from "./sampling.ts";
import type { FinishReason } from "./types.ts";

/** The protocols a fleet can speak. */
export const FleetProtocolName = z.enum(["vllm", "sglang", "reasonrl"]);
export type FleetProtocolName = z.output<typeof FleetProtocolName>;

/**
 * What a server's log-probs are: "raw", the model's distribution at temperature 1 (vLLM's
 * default); "processed", the temperature-scaled distribution the sampler drew from.
 */
export const LogprobKind = z.enum(["raw", "processed"]);
export type LogprobKind = z.output<typeof LogprobKind>;

/** One HTTP call: what is sent. `path` starts with "/" and goes after the endpoint's URL. */
export interface HttpCall {
  method: "GET" | "POST";
  path: string;
  body?: unknown;
}

/** One request of a rollout: n samples of one prompt. */
export interface GenerateSpec {
  prompt: Int32Array;
  /** The base model's served name, or an adapter's name. */
  model: string;
  /** Whether `model` is an adapter (SGLang selects adapters with its own field). */
  adapter: boolean;
  n: number;
  /** The prompt's seed (promptSeed(call seed, prompt index)); null: none sent. */
  seed: number | null;
  temperature: number;
  topP: number;
  topK: number;
  minP: number;
  maxTokens: number;
  stop: readonly string[];
}

/** One completion as the server gave it. */
export interface ServerSample {
  ids: Int32Array;
  logprobs: Float32Array;
  finishReason: FinishReason;
  /** The server's text of it, when it gave one. */
  text: string | null;
}

/** An answer that does not hold what the protocol promises (asking again would not help). */
export class ProtocolError extends Error {}

/** An answer that says the server gave up on the request (shutting down): asking again may help. */
export class AbortedAnswerError extends Error {}

export interface FleetProtocol {
  readonly name: FleetProtocolName;
  /** What this server's log-probs are unless the fleet's options say otherwise. */
  readonly logprobs: LogprobKind;
  /**
   * Whether requests carry seeds unless the fleet's options say otherwise: vLLM and reasonrl
   * yes; SGLang no (it honours sampling_seed only with --enable-deterministic-inference, and
   * releases before it refuse the field).
   */
  readonly seeds: boolean;
  /** How a server must be started to take adapters at runtime (told when a load finds no endpoint: HTTP 404). */
  readonly adapterSetup: string;
  /** Asked every few seconds of an endpoint set aside: a 2xx takes it back. */
  readonly probe: HttpCall;
  generate(spec: GenerateSpec): HttpCall;
  /** The n samples of a generate answer, in order; throws ProtocolError or AbortedAnswerError. */
  parseGenerate(body: unknown, n: number): ServerSample[];
  loadAdapter(name: string, path: string): HttpCall;
  unloadAdapter(name: string): HttpCall;
  /** Loads full weights from a model folder; throws (saying what exists) where the protocol cannot. */
  reloadWeights(path: string): HttpCall;
  /** An error in a 2xx answer of a load, unload or reload (SGLang's {success: false}); null when it succeeded. */
  failureOf(body: unknown): string | null;
}

/** The protocol called `name`. */
export function fleetProtocol(name: FleetProtocolName): FleetProtocol {
  switch (name) {
    case "vllm":
      return openAiProtocol("vllm", "raw");
    case "reasonrl":
      return openAiProtocol("reasonrl", "processed");
    case "sglang":
      return sglangProtocol;
  }
}

/** The parts of a /v1/completions answer that are read. */
const CompletionAnswer = z.object({
  choices: z.array(
    z.object({
      index: z.number().int().min(0),
      text: z.string().nullish(),
      finish_reason: z.string().nullish(),
      token_ids: z.array(z.number().int().min(0)).nullish(),
      logprobs: z
        .object({ tokens: z.array(z.string()).nullish(), token_logprobs: z.array(z.number().nullable()) })
        .nullish(),
    }),
  ),
});

/** vLLM's wire format (also `reasonrl serve`'s). */
function openAiProtocol(name: "vllm" | "reasonrl", logprobs: LogprobKind): FleetProtocol {
  return {
    name,
    logprobs,
    seeds: true,
    adapterSetup:
      name === "vllm"
        ? "vLLM serves /v1/load_lora_adapter only when started with --enable-lora (and --max-lora-rank at least the adapter's rank) and the environment variable VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"
        : "reasonrl serve takes adapters at /v1/load_lora_adapter: is the server older than this client?",
    probe: { method: "GET", path: "/health" },
    generate: (s) => ({
      method: "POST",
      path: "/v1/completions",
      body: {
        model: s.model,
        prompt: Array.from(s.prompt),
        n: s.n,
        ...(s.seed === null ? {} : { seed: s.seed }),
        temperature: s.temperature,
        top_p: s.topP,
        ...(s.topK > 0 ? { top_k: s.topK } : {}),
        ...(s.minP > 0 ? { min_p: s.minP } : {}),
        ...(s.stop.length > 0 ? { stop: [...s.stop] } : {}),
        max_tokens: s.maxTokens,
        logprobs: 0,
        return_token_ids: true,
        return_tokens_as_token_ids: true,
      },
    }),
    parseGenerate(body, n) {
      const answer = CompletionAnswer.safeParse(body);
      if (!answer.success) throw new ProtocolError(`not a completion: ${firstIssue(answer.error)}`);
      const choices = [...answer.data.choices].sort((a, b) => a.index - b.index);
      if (choices.length !== n) throw new ProtocolError(`${choices.length} choices for n = ${n}`);
      return choices.map((c, i) => {
        const lps = c.logprobs?.token_logprobs;
        if (!lps)
          throw new ProtocolError(
            `choice ${i} has no logprobs.token_logprobs (the request asks logprobs: 0)`,
          );
        const ids = c.token_ids ?? idsFromTokens(c.logprobs?.tokens, i, name);
        return sample(ids, lps, finishOf(c.finish_reason, i), c.text ?? null, i);
      });
    },
    loadAdapter: (lora_name, lora_path) => ({
      method: "POST",
      path: "/v1/load_lora_adapter",
      body: { lora_name, lora_path },
    }),
    unloadAdapter: (lora_name) => ({ method: "POST", path: "/v1/unload_lora_adapter", body: { lora_name } }),
    reloadWeights() {
      throw new Error(
        name === "vllm"
          ? "vLLM cannot reload full weights from disk through its OpenAI-compatible server: its runtime " +
              "endpoints load LoRA adapters (POST /v1/load_lora_adapter, v0.6.1+, with --enable-lora and " +
              "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True). Train with LoRA (the recipe's lora: section), use SGLang " +
              "(POST /update_weights_from_disk), or restart vLLM on the new weights. (Its development-mode " +
              "/collective_rpc, VLLM_SERVER_DEV_MODE=1, runs worker methods; reasonrl does not use it.)"
          : "reasonrl serve cannot reload full weights: it loads LoRA adapters (POST /v1/load_lora_adapter). " +
              "Train with LoRA (the recipe's lora: section), or restart the servers on the new weights.",
      );
    },
    failureOf: () => null,
  };
}

/** The parts of one SGLang /generate result that are read. */
const SglangResult = z.object({
  text: z.string().nullish(),
  output_ids: z.array(z.number().int().min(0)).nullish(),
  meta_info: z.object({
    finish_reason: z.looseObject({ type: z.string() }).nullish(),
    output_token_logprobs: z.array(
      z.tuple([z.number().nullable(), z.number().int().min(0)]).rest(z.unknown()),
    ),
  }),
});

/** SGLang's native API. */
const sglangProtocol: FleetProtocol = {
  name: "sglang",
  logprobs: "processed",
  seeds: false,
  adapterSetup:
    "SGLang serves /load_lora_adapter from PR #7446 (June 2025) when started with LoRA enabled (--enable-lora, or --lora-paths; --max-lora-rank and --lora-target-modules without initial adapters)",
  probe: { method: "GET", path: "/health" },
  generate(s) {
    const params = {
      temperature: s.temperature,
      top_p: s.topP,
      ...(s.topK > 0 ? { top_k: s.topK } : {}),
      ...(s.minP > 0 ? { min_p: s.minP } : {}),
      ...(s.stop.length > 0 ? { stop: [...s.stop] } : {}),
      max_new_tokens: s.maxTokens,
    };
    const lora = s.adapter ? s.model : undefined;
    if (s.seed === null) {
      const body = {
        input_ids: Array.from(s.prompt),
        sampling_params: { n: s.n, ...params },
        return_logprob: true,
      };
      return {
        method: "POST",
        path: "/generate",
        body: lora === undefined ? body : { ...body, lora_path: lora },
      };
    }
    // Seeded: the n samples as a batch of n copies, each with its own seed (one seed for n
    // parallel samples would draw the same sample n times).
    const batch = Array.from({ length: s.n }, (_, j) => j);
    const body = {
      input_ids: batch.map(() => Array.from(s.prompt)),
      sampling_params: batch.map((j) => ({ ...params, sampling_seed: promptSeed(s.seed as number, j) })),
      return_logprob: true,
    };
    return {
      method: "POST",
      path: "/generate",
      body: lora === undefined ? body : { ...body, lora_path: batch.map(() => lora) },
    };
  },
  parseGenerate(body, n) {
    // One result for one prompt and n = 1, else a list (n parallel samples, or a batch of n).
    const list = Array.isArray(body) ? body : [body];
    if (list.length !== n) throw new ProtocolError(`${list.length} results for n = ${n}`);
    return list.map((item, i) => {
      const r = SglangResult.safeParse(item);
      if (!r.success)
        throw new ProtocolError(`result ${i} is not a /generate result: ${firstIssue(r.error)}`);
      const pairs = r.data.meta_info.output_token_logprobs;
      const ids = pairs.map((p) => p[1]);
      const out = r.data.output_ids;
      if (out && (out.length !== ids.length || out.some((id, t) => id !== ids[t])))
        throw new ProtocolError(`result ${i}: output_ids and output_token_logprobs name different tokens`);
      const type = r.data.meta_info.finish_reason?.type;
      return sample(
        ids,
        pairs.map((p) => p[0]),
        finishOf(type, i),
        r.data.text ?? null,
        i,
      );
    });
  },
  loadAdapter: (lora_name, lora_path) => ({
    method: "POST",
    path: "/load_lora_adapter",
    body: { lora_name, lora_path },
  }),
  unloadAdapter: (lora_name) => ({ method: "POST", path: "/unload_lora_adapter", body: { lora_name } }),
  reloadWeights: (model_path) => ({
    method: "POST",
    path: "/update_weights_from_disk",
    body: { model_path },
  }),
  failureOf(body) {
    if (typeof body !== "object" || body === null || (body as { success?: unknown }).success !== false)
      return null;
    const b = body as { message?: unknown; error_message?: unknown };
    return String(b.message ?? b.error_message ?? "success: false");
  },
};

/** Token ids from vLLM's "token_id:123" strings (return_tokens_as_token_ids). */
function idsFromTokens(tokens: readonly string[] | null | undefined, choice: number, name: string): number[] {
  const hint =
    name === "vllm"
      ? "vLLM gives them with return_token_ids (v0.10.2+) or return_tokens_as_token_ids (or start it with --return-tokens-as-token-ids)"
      : "reasonrl serve gives them with return_token_ids or return_tokens_as_token_ids";
  if (!tokens) throw new ProtocolError(`choice ${choice} has no token ids: ${hint}`);
  return tokens.map((t, k) => {
    const m = /^token_id:(\d+)$/.exec(t);
    if (!m)
      throw new ProtocolError(
        `choice ${choice}, token ${k} is ${JSON.stringify(t)}, not "token_id:N": ${hint}`,
      );
    return Number(m[1]);
  });
}

/** stop / length; an abort (the server gave up: shutting down) may succeed elsewhere. */
function finishOf(reason: string | null | undefined, i: number): FinishReason {
  if (reason === "stop" || reason === "length") return reason;
  if (reason === "abort") throw new AbortedAnswerError(`completion ${i} was aborted by the server`);
  throw new ProtocolError(`completion ${i} has finish reason ${JSON.stringify(reason ?? null)}`);
}

function sample(
  ids: readonly number[],
  logprobs: ReadonlyArray<number | null>,
  finishReason: FinishReason,
  text: string | null,
  i: number,
): ServerSample {
  if (logprobs.length !== ids.length)
    throw new ProtocolError(`completion ${i}: ${ids.length} tokens but ${logprobs.length} log-probs`);
  const lp = new Float32Array(ids.length);
  logprobs.forEach((x, t) => {
    if (x === null) throw new ProtocolError(`completion ${i}: token ${t} has no log-prob`);
    lp[t] = x;
  });
  return { ids: Int32Array.from(ids), logprobs: lp, finishReason, text };
}

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.join(".") || "(body)"}: ${issue.message}` : "unreadable";
}
