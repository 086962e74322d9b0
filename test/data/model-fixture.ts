/**
 * What the tests of the model-calling curation steps share: a tiny random
 * Qwen2 with a character tokenizer covering printable ASCII (so any prompt
 * tokenizes), `reasonrl serve` on it as a child process on a loopback port,
 * and a counting HTTP proxy in front of a server.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { makeTinyCharModel } from "../model/tiny-char-model.ts";

export const bin = fileURLToPath(new URL("../../bin/reasonrl.js", import.meta.url));

/** Printable ASCII and the newline. */
const PRINTABLE = `${Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join("")}\n`;

/** A tiny random Qwen2 whose tokenizer covers printable ASCII (see test/model/tiny-char-model.ts). */
export function makeTinyModel(root: string): Promise<string> {
  return makeTinyCharModel(root, { extraCharacters: PRINTABLE, maxPositions: 512, seed: 5 });
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
