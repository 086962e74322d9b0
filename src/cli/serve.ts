/** `reasonrl serve`: an OpenAI-compatible HTTP API for a local model folder. */
import type { Command } from "commander";
import { ServedModel } from "../serve/served-model.ts";
import { startServer } from "../serve/server.ts";

const int = (v: string) => Number.parseInt(v, 10);

export function register(program: Command): void {
  program
    .command("serve")
    .description(
      "serve a local model over an OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions)",
    )
    .requiredOption("--model <dir>", "model folder (config.json, model.safetensors, tokenizer.json)")
    .option("--port <n>", "port (0: any free one)", int, 8000)
    .option("--host <host>", "address to listen on (default loopback only)", "127.0.0.1")
    .option("--api-key <key>", "require `Authorization: Bearer <key>` on /v1/*")
    .option("--max-batch <n>", "sequences decoded together at most", int, 32)
    .option(
      "--context <n>",
      "prompt + completion tokens per sequence at most (default: the model's, up to 4096)",
      int,
    )
    .option("--model-name <name>", "the model id clients see (default: the folder's name)")
    .option("--threads <n>", "compute threads (default: all cores)", int)
    .action(
      async (o: {
        model: string;
        port: number;
        host: string;
        apiKey?: string;
        maxBatch: number;
        context?: number;
        modelName?: string;
        threads?: number;
      }) => {
        if (!(Number.isInteger(o.maxBatch) && o.maxBatch >= 1))
          throw new Error(`--max-batch must be a positive integer, got ${o.maxBatch}`);
        const model = await ServedModel.load(o.model, {
          name: o.modelName,
          threads: o.threads,
          maxBatch: o.maxBatch,
          context: o.context,
        });
        const server = await startServer(model, { host: o.host, port: o.port, apiKey: o.apiKey });
        const cacheGb = (model.maxCacheBytes / 2 ** 30).toFixed(2);
        console.log(
          `serving ${model.id} at ${server.url}/v1 (context ${model.contextLength}, max batch ${model.maxBatch}, ` +
            `KV cache up to ${cacheGb} GiB${o.apiKey ? ", API key required" : ""})`,
        );
        if (!o.apiKey && !isLoopback(o.host))
          console.warn(
            `warning: listening on ${o.host} without --api-key: anyone who can reach it may use it`,
          );
        let stopping = false;
        const stop = (signal: string) => {
          if (stopping) return;
          stopping = true;
          console.log(`${signal}: stopping`);
          server.close().then(
            () => process.exit(0),
            (err) => {
              console.error(err);
              process.exit(1);
            },
          );
        };
        process.once("SIGINT", () => stop("SIGINT"));
        process.once("SIGTERM", () => stop("SIGTERM"));
      },
    );
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}
