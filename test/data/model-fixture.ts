/**
 * What the tests of the model-calling curation steps share: a tiny random
 * Qwen2 with a character tokenizer covering printable ASCII (so any prompt
 * tokenizes), `reasonrl serve` on it as a child process on a loopback port,
 * and a counting HTTP proxy in front of a server.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeArithmeticTokenizer } from "../../src/data/synthetic/arithmetic-tokenizer.ts";
import { modelConfig } from "../../src/model/hf-config.ts";
import { saveModelDir, TOKENIZER_FILES } from "../../src/model/model-dir.ts";
import { initRandomModel } from "../../src/model/model-dir-init.ts";
import { Tokenizer } from "../../src/model/tokenizer.ts";

export const bin = fileURLToPath(new URL("../../bin/reasonrl.js", import.meta.url));

/** Printable ASCII and the newline. */
const PRINTABLE = `${Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join("")}\n`;

/**
 * Writes a tiny random Qwen2 (width 32, 2 layers) into `root`/tiny. Its matrices are drawn 25x
 * wider than the usual init so that its greedy outputs vary from token to token.
 */
export async function makeTinyModel(root: string): Promise<string> {
  const tokDir = join(root, "tokenizer");
  await writeArithmeticTokenizer(tokDir, PRINTABLE);
  const tokenizer = Tokenizer.fromDir(tokDir);
  const config = modelConfig({
    arch: "qwen2",
    vocabSize: tokenizer.vocabSize,
    hidden: 32,
    layers: 2,
    heads: 4,
    kvHeads: 2,
    ffn: 64,
    maxPositions: 512,
    eosTokenIds: tokenizer.eosIds as number[],
  });
  const tensors = initRandomModel(config, 5);
  for (const t of tensors.values())
    if (t.shape.length === 2) for (let i = 0; i < t.data.length; i++) t.data[i] *= 25;
  const dir = join(root, "tiny");
  await saveModelDir(dir, config, tensors, {
    copyFiles: TOKENIZER_FILES.map((f) => join(tokDir, f)).filter(existsSync),
  });
  return dir;
}

/** A running `reasonrl serve`: its base URL and how to stop it. */
export interface ServeProcess {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `reasonrl serve --model dir --port 0` and waits for its "serving ... at URL/v1" line. */
export async function startServe(dir: string): Promise<ServeProcess> {
  const child = spawn(
    process.execPath,
    [bin, "serve", "--model", dir, "--port", "0", "--threads", "1", "--max-batch", "16"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on("data", (d) => {
      stdout += d;
      const m = /serving .* at (http:\/\/127\.0\.0\.1:\d+\/v1)/.exec(stdout);
      if (m) resolve(m[1]);
    });
    child.on("exit", () => reject(new Error(`reasonrl serve exited: ${stdout}\n${stderr}`)));
  });
  return {
    url,
    child,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/** An HTTP proxy on loopback that forwards to `target` and counts chat completion requests. */
export interface CountingProxy {
  url: string;
  /** POST .../chat/completions requests seen. */
  chats: number;
  /** Milliseconds each answer is held back (to slow a run down enough to kill it midway). */
  delayMs: number;
  close(): Promise<void>;
}

export async function countingProxy(target: string): Promise<CountingProxy> {
  const origin = new URL(target).origin;
  const state: CountingProxy = { url: "", chats: 0, delayMs: 0, close: async () => {} };
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method === "POST" && req.url?.endsWith("/chat/completions")) state.chats++;
    const answer = await fetch(`${origin}${req.url}`, {
      method: req.method,
      headers: { "content-type": "application/json" },
      body: req.method === "POST" ? Buffer.concat(chunks) : undefined,
    });
    const body = await answer.text();
    if (state.delayMs > 0) await new Promise((r) => setTimeout(r, state.delayMs));
    res.writeHead(answer.status, { "content-type": "application/json" });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}
