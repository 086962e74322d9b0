/**
 * `reasonrl serve`: an OpenAI-compatible HTTP API for a local model folder.
 *
 * Ctrl-C or SIGTERM drains the server: new requests get 503, those in flight
 * have --grace seconds to finish (then streams end with a final chunk and
 * [DONE]), the model is freed and the command exits 0. A second signal exits
 * at once with 130.
 */
import type { Command } from "commander";
import { ServedModel } from "../serve/served-model.ts";
import { type RunningServer, startServer } from "../serve/server.ts";
import {
  type DeviceName,
  decimal,
  deviceOption,
  dtypeOption,
  frozenDType,
  integer,
  jsonOption,
  positiveInteger,
  threadsOption,
  type WeightDType,
} from "./options.ts";
import { printResult } from "./output.ts";

interface ServeFlags {
  model: string;
  port: number;
  host: string;
  apiKey?: string;
  maxBatch: number;
  context?: number;
  modelName?: string;
  threads?: number;
  device?: DeviceName;
  dtype?: WeightDType;
  grace: number;
  json?: boolean;
}

/** The exit status of a server stopped by a second signal (128 + SIGINT's number, as shells report it). */
const KILLED_EXIT_CODE = 130;

export function register(program: Command): void {
  program
    .command("serve")
    .description(
      "serve a local model over an OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions), with vLLM's runtime LoRA adapter endpoints",
    )
    .requiredOption("--model <dir>", "model folder (config.json, model.safetensors, tokenizer.json)")
    .option("--port <n>", "port (0: any free one)", integer({ min: 0, max: 65535 }), 8000)
    .option("--host <host>", "address to listen on (default loopback only)", "127.0.0.1")
    .option("--api-key <key>", "require `Authorization: Bearer <key>` on /v1/*")
    .option("--max-batch <n>", "sequences decoded together at most", positiveInteger, 32)
    .option(
      "--context <n>",
      "prompt + completion tokens per sequence at most (default: the model's, up to 4096)",
      integer({ min: 2 }),
    )
    .option("--model-name <name>", "the model id clients see (default: the folder's name)")
    .option(
      "--grace <seconds>",
      "on Ctrl-C/SIGTERM, how long requests in flight may take to finish before they are cut short",
      decimal({ min: 0 }),
      30,
    )
    .addOption(threadsOption())
    .addOption(deviceOption())
    .addOption(dtypeOption())
    .addOption(
      jsonOption("print one JSON line once listening (url, model, context, max_batch); logs go to stderr"),
    )
    .action(async (o: ServeFlags) => {
      const model = await ServedModel.load(o.model, {
        name: o.modelName,
        threads: o.threads,
        device: o.device,
        dtype: frozenDType(o.dtype),
        maxBatch: o.maxBatch,
        context: o.context,
      });
      const server = await startServer(model, { host: o.host, port: o.port, apiKey: o.apiKey }).catch(
        async (err) => {
          await model.dispose();
          throw err;
        },
      );
      const cacheGiB = model.maxCacheBytes / 2 ** 30;
      printResult(
        {
          url: server.url,
          api_url: `${server.url}/v1`,
          model: model.id,
          context: model.contextLength,
          max_batch: model.maxBatch,
          kv_cache_max_gib: Math.round(cacheGiB * 100) / 100,
          api_key_required: o.apiKey !== undefined,
        },
        o,
        `serving ${model.id} at ${server.url}/v1 (context ${model.contextLength}, max batch ${model.maxBatch}, ` +
          `KV cache up to ${cacheGiB.toFixed(2)} GiB${o.apiKey ? ", API key required" : ""})`,
      );
      if (!o.apiKey && !isLoopback(o.host))
        console.error(
          `warning: listening on ${o.host} without --api-key: anyone who can reach it may use it`,
        );
      stopOnSignals(server, model, o.grace);
    });
}

/**
 * Ctrl-C or SIGTERM: drain (new requests get 503, those in flight have graceSeconds), free the
 * model, exit 0. A second signal exits at once with 130.
 */
function stopOnSignals(server: RunningServer, model: ServedModel, graceSeconds: number): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      console.error(`${signal} again: exiting now`);
      process.exit(KILLED_EXIT_CODE);
    }
    stopping = true;
    const busy = server.inFlight;
    console.error(
      `${signal}: stopping; new requests get 503` +
        (busy > 0 ? `, ${busy} in flight have ${graceSeconds} s to finish` : "") +
        ` (${signal === "SIGINT" ? "Ctrl-C" : "signal"} again to exit now)`,
    );
    server
      .close(graceSeconds * 1000)
      .then(async (report) => {
        if (report.inFlight > 0)
          console.error(
            `stopped: ${report.inFlight - report.cut} of ${report.inFlight} requests in flight finished, ` +
              `${report.cut} cut short`,
          );
        await model.dispose();
      })
      .then(
        () => process.exit(0),
        (err) => {
          console.error(err);
          process.exit(1);
        },
      );
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}
