/**
 * Fake inference servers for the fleet tests: small hono apps on loopback that speak vLLM's or
 * SGLang's endpoints (generate, LoRA load/unload, SGLang's reload from disk, /health), record
 * every call (method, path, body, Authorization header), and can be told to fail, to hold their
 * answers, or to forget their adapters (a restart nobody saw). Answers are a function of the
 * request, so a test can check both what was sent and what the client made of what came back:
 * sample j of a prompt of k tokens is the ids [k, j, 7] (fewer when max tokens is smaller), with
 * log-probs -0.25, -0.5, -0.75 and finish reason "length" when cut at max tokens, else "stop".
 */
import type { AddressInfo } from "node:net";
import { type ServerType, serve } from "@hono/node-server";
import { type Context, Hono } from "hono";

/** A call as the server got it. */
export interface RecordedCall {
  method: string;
  path: string;
  // biome-ignore lint/suspicious/noExplicitAny: request bodies are checked field by field in the tests
  body: any;
  authorization: string | null;
}

export interface FakeServerOptions {
  /** 0 (default): any free port. */
  port?: number;
  /** The base model's served name (vLLM checks `model`). */
  model?: string;
  /**
   * vLLM only: how the completion's token ids come back: choices[].token_ids (return_token_ids,
   * v0.10.2+), only as "token_id:N" strings in logprobs.tokens (older), or not at all.
   */
  tokenIds?: "token_ids" | "token_id_strings" | "none";
}

export interface FakeServer {
  /** "http://127.0.0.1:<port>". */
  url: string;
  port: number;
  calls: RecordedCall[];
  /** Adapters loaded: name -> path. */
  adapters: Map<string, string>;
  /** Decides each call's failure: an HTTP status to answer with, or null to serve it. */
  fail: ((call: RecordedCall) => number | null) | null;
  /** While set, generate answers wait for release(). */
  holding: boolean;
  release(): void;
  /** Generate calls waiting for release(). */
  held(): number;
  close(): Promise<void>;
}

/** The generate calls among `calls`. */
export function generateCalls(calls: readonly RecordedCall[]): RecordedCall[] {
  return calls.filter((c) => c.path === "/v1/completions" || c.path === "/generate");
}

/** Starts a fake server speaking `protocol`. */
export async function fakeServer(
  protocol: "vllm" | "sglang",
  o: FakeServerOptions = {},
): Promise<FakeServer> {
  const model = o.model ?? "base";
  const app = new Hono();
  let waiting: Array<() => void> = [];
  const fake: FakeServer = {
    url: "",
    port: 0,
    calls: [],
    adapters: new Map(),
    fail: null,
    holding: false,
    release() {
      this.holding = false;
      for (const go of waiting) go();
      waiting = [];
    },
    held: () => waiting.length,
    close: async () => {},
  };
  const record = async (c: Context): Promise<RecordedCall> => {
    const text = c.req.method === "POST" ? await c.req.text() : "";
    const call: RecordedCall = {
      method: c.req.method,
      path: c.req.path,
      body: text ? JSON.parse(text) : undefined,
      authorization: c.req.header("authorization") ?? null,
    };
    fake.calls.push(call);
    return call;
  };
  const failure = (c: Context, call: RecordedCall): Response | null => {
    const status = fake.fail?.(call) ?? null;
    return status === null
      ? null
      : c.json({ error: { message: `injected failure ${status}` } }, status as 500);
  };
  const hold = async () => {
    if (fake.holding) await new Promise<void>((go) => waiting.push(go));
  };

  app.get("/health", async (c) => failure(c, await record(c)) ?? c.body(null, 200));

  if (protocol === "vllm") {
    app.post("/v1/completions", async (c) => {
      const call = await record(c);
      const failed = failure(c, call);
      if (failed) return failed;
      const b = call.body;
      if (b.model !== model && !fake.adapters.has(b.model))
        return c.json({ error: { message: `The model \`${b.model}\` does not exist.`, code: 404 } }, 404);
      await hold();
      const choices = Array.from({ length: b.n }, (_, j) => {
        const s = sampleOf(b.prompt.length, j, b.max_tokens);
        const strings = s.ids.map((id) => `token_id:${id}`);
        return {
          index: j,
          text: s.ids.join(" "),
          finish_reason: s.finish,
          ...(o.tokenIds === "token_ids" || o.tokenIds === undefined ? { token_ids: s.ids } : {}),
          logprobs: {
            tokens: o.tokenIds === "none" ? s.ids.map(String) : strings,
            token_logprobs: s.logprobs,
            top_logprobs: s.ids.map((_, t) => ({ [strings[t]]: s.logprobs[t] })),
            text_offset: s.ids.map((_, t) => t),
          },
        };
      });
      return c.json({ id: "cmpl-1", object: "text_completion", model: b.model, choices });
    });
    app.post("/v1/load_lora_adapter", async (c) => {
      const call = await record(c);
      const failed = failure(c, call);
      if (failed) return failed;
      const { lora_name, lora_path } = call.body;
      if (fake.adapters.has(lora_name))
        return c.json(
          { error: { message: `The lora adapter '${lora_name}' has already been loaded.` } },
          400,
        );
      if (String(lora_path).includes("missing"))
        return c.json({ error: { message: `No adapter found for ${lora_path}` } }, 400);
      fake.adapters.set(lora_name, lora_path);
      return c.text(`Success: LoRA adapter '${lora_name}' added successfully.`);
    });
    app.post("/v1/unload_lora_adapter", async (c) => {
      const call = await record(c);
      const failed = failure(c, call);
      if (failed) return failed;
      if (!fake.adapters.delete(call.body.lora_name))
        return c.json(
          { error: { message: `The lora adapter '${call.body.lora_name}' cannot be found.` } },
          404,
        );
      return c.text(`Success: LoRA adapter '${call.body.lora_name}' removed successfully.`);
    });
  } else {
    app.post("/generate", async (c) => {
      const call = await record(c);
      const failed = failure(c, call);
      if (failed) return failed;
      const b = call.body;
      // one prompt with n parallel samples, or a batch of prompts each with its own parameters
      const batch = Array.isArray(b.input_ids[0]);
      const items: Array<{ ids: number[]; params: { n?: number; max_new_tokens: number } }> = batch
        ? b.input_ids.map((ids: number[], k: number) => ({ ids, params: b.sampling_params[k] }))
        : [{ ids: b.input_ids, params: b.sampling_params }];
      const loras: unknown[] = Array.isArray(b.lora_path) ? b.lora_path : [b.lora_path];
      for (const lora of loras)
        if (lora !== undefined && !fake.adapters.has(lora as string))
          return c.json({ error: { message: `LoRA adapter ${lora} is not loaded` } }, 400);
      await hold();
      const results = items.flatMap((item, k) =>
        Array.from({ length: item.params.n ?? 1 }, (_, j) => {
          const s = sampleOf(item.ids.length, batch ? k : j, item.params.max_new_tokens);
          return {
            text: s.ids.join(" "),
            output_ids: s.ids,
            meta_info: {
              finish_reason:
                s.finish === "length"
                  ? { type: "length", length: s.ids.length }
                  : { type: "stop", matched: 7 },
              completion_tokens: s.ids.length,
              output_token_logprobs: s.ids.map((id, t) => [s.logprobs[t], id, null]),
            },
          };
        }),
      );
      return c.json(results.length === 1 && !batch ? results[0] : results);
    });
    app.post("/load_lora_adapter", async (c) => {
      const call = await record(c);
      const failed = failure(c, call);
      if (failed) return failed;
      const { lora_name, lora_path } = call.body;
      if (fake.adapters.has(lora_name) || String(lora_path).includes("missing"))
        return c.json({ success: false, error_message: `cannot load ${lora_name} from ${lora_path}` }, 400);
      fake.adapters.set(lora_name, lora_path);
      return c.json({ success: true, error_message: "", loaded_adapters: Object.fromEntries(fake.adapters) });
    });
    app.post("/unload_lora_adapter", async (c) => {
      const call = await record(c);
      const failed = failure(c, call);
      if (failed) return failed;
      if (!fake.adapters.delete(call.body.lora_name))
        return c.json({ success: false, error_message: `no adapter ${call.body.lora_name}` }, 400);
      return c.json({ success: true, error_message: "", loaded_adapters: Object.fromEntries(fake.adapters) });
    });
    app.post("/update_weights_from_disk", async (c) => {
      const call = await record(c);
      const failed = failure(c, call);
      if (failed) return failed;
      return c.json({ success: true, message: "Succeeded to update model weights.", num_paused_requests: 0 });
    });
  }

  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: o.port ?? 0 }, () => resolve(s));
    s.once("error", reject);
  });
  fake.port = (server.address() as AddressInfo).port;
  fake.url = `http://127.0.0.1:${fake.port}`;
  fake.close = () =>
    new Promise<void>((resolve) => {
      fake.release();
      if ("closeAllConnections" in server) server.closeAllConnections();
      server.close(() => resolve());
    });
  return fake;
}

/** Sample j of a prompt of `promptLength` tokens, at most `maxTokens` tokens (see the file's comment). */
export function sampleOf(
  promptLength: number,
  j: number,
  maxTokens: number,
): { ids: number[]; logprobs: number[]; finish: "stop" | "length" } {
  const ids = [promptLength, j, 7].slice(0, maxTokens);
  return {
    ids,
    logprobs: ids.map((_, t) => -(t + 1) / 4),
    finish: maxTokens < 3 ? "length" : "stop",
  };
}

/** Polls `condition` every 20 ms until it holds; throws `what` after `limitMs`. */
export async function eventually(condition: () => boolean, what: string, limitMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > limitMs) throw new Error(`not within ${limitMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
