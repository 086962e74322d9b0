import { type ChildProcessByStdio, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { Engine } from "../../src/engine/index.ts";
import { LocalGenerator } from "../../src/generate/local.ts";
import { loadModel } from "../../src/model/load.ts";
import { Tokenizer } from "../../src/model/tokenizer.ts";
import { ServedModel } from "../../src/serve/served-model.ts";
import { type AppOptions, type RunningServer, startServer } from "../../src/serve/server.ts";
import { makeTinyCharModel } from "../model/tiny-char-model.ts";

/** A JSON value as the tests read it: its fields are checked by the assertions. */
// biome-ignore lint/suspicious/noExplicitAny: response bodies are read field by field and asserted on
export type Json = any;

/** Context of the tiny model (max_position_embeddings). */
export const CONTEXT = 256;

/** The tiny random Qwen2 of the server tests (see test/model/tiny-char-model.ts). */
export function makeTinyModel(root: string): Promise<string> {
  return makeTinyCharModel(root, { maxPositions: CONTEXT, seed: 11 });
}

/** A temporary folder with the tiny model, removed by `cleanup`. */
export async function tinyModelFolder(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), "reasonrl-serve-"));
  const dir = await makeTinyModel(root);
  return { dir, cleanup: () => rm(root, { recursive: true, force: true }) };
}

/** The real server on a random loopback port. */
export async function serveTiny(
  dir: string,
  options: AppOptions & { maxBatch?: number } = {},
): Promise<{ model: ServedModel; server: RunningServer }> {
  const model = await ServedModel.load(dir, { threads: 2, maxBatch: options.maxBatch ?? 16 });
  const server = await startServer(model, { ...options, port: 0 });
  return { model, server };
}

/** A LocalGenerator on the same folder in its own engine, and the tokenizer: the reference. */
export async function reference(dir: string): Promise<{ generator: LocalGenerator; tokenizer: Tokenizer }> {
  const engine = new Engine({ threads: 2 });
  const m = await loadModel(engine, dir);
  const tokenizer = Tokenizer.fromDir(dir, { eosTokenIds: m.hf.eosTokenIds });
  const generator = new LocalGenerator(
    engine,
    m.config,
    m.weights,
    { eosIds: [...tokenizer.eosIds] },
    tokenizer,
  );
  return { generator, tokenizer };
}

/** A JSON POST; returns the status and the parsed body. */
export async function post(
  server: RunningServer,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: parsed };
}

/** A streamed request's `data:` events, parsed ("[DONE]" kept as the string). */
export async function stream(server: RunningServer, path: string, body: object): Promise<Json[]> {
  const res = await fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ...body, stream: true }),
  });
  if (!res.ok) throw new Error(`stream: HTTP ${res.status}: ${await res.text()}`);
  if (!res.headers.get("content-type")?.startsWith("text/event-stream"))
    throw new Error(`stream: content-type ${res.headers.get("content-type")}`);
  return parseEvents(await res.text());
}

/** The `data:` payloads of a text/event-stream body. */
export function parseEvents(text: string): Json[] {
  return text
    .split("\n\n")
    .filter((e) => e.startsWith("data: "))
    .map((e) => e.slice(6))
    .map((d) => (d === "[DONE]" ? d : JSON.parse(d)));
}

/** Polls `condition` every 5 ms until it holds or `ms` pass; returns whether it held. */
export async function waitFor(condition: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

/** A `reasonrl serve` process: what it printed, and when it exited. */
export interface ServeProcess {
  child: ChildProcessByStdio<null, Readable, Readable>;
  output: { stdout: string; stderr: string };
  exited: Promise<number | null>;
}

/**
 * Spawns `reasonrl serve ARGS` (node run with `nodeArgs`) and waits until `ready(stdout)` returns a value (e.g. the URL
 * once listening); rejects, with what it printed, if the process exits first.
 */
export async function spawnServe<T>(
  args: string[],
  ready: (stdout: string) => T | undefined,
  nodeArgs: string[] = [],
): Promise<ServeProcess & { value: T }> {
  const bin = fileURLToPath(new URL("../../bin/reasonrl.js", import.meta.url));
  const child = spawn(process.execPath, [...nodeArgs, bin, "serve", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = { stdout: "", stderr: "" };
  child.stderr.on("data", (d) => {
    output.stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const value = await new Promise<T>((resolve, reject) => {
    child.stdout.on("data", (d) => {
      output.stdout += d;
      const v = ready(output.stdout);
      if (v !== undefined) resolve(v);
    });
    child.on("exit", () => reject(new Error(`exited early: ${output.stdout} ${output.stderr}`)));
  });
  return { child, output, exited, value };
}

/** A streamed request being read: the events so far, a wait for the first token, and its end. */
export interface OpenStream {
  /** The `data:` payloads received so far ("[DONE]" kept as the string). */
  events: Json[];
  /** Resolves once a chunk with generated text (or a finish reason) arrived. */
  started: Promise<void>;
  /** Resolves with every event once the server ended the response. */
  ended: Promise<Json[]>;
}

/** Starts a streamed POST to `url + path` and reads it as it comes. */
export function openStream(url: string, path: string, body: object): OpenStream {
  const events: Json[] = [];
  let onStarted: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    onStarted = resolve;
  });
  const ended = (async () => {
    const res = await fetch(`${url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...body, stream: true }),
    });
    if (!res.ok || !res.body) throw new Error(`stream: HTTP ${res.status}: ${await res.text()}`);
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const bytes of res.body) {
      buffer += decoder.decode(bytes, { stream: true });
      const cut = buffer.lastIndexOf("\n\n");
      if (cut < 0) continue;
      for (const e of parseEvents(buffer.slice(0, cut + 2))) {
        events.push(e);
        const c = e === "[DONE]" ? undefined : e.choices?.[0];
        if (c && (c.text || c.delta?.content || c.finish_reason)) onStarted();
      }
      buffer = buffer.slice(cut + 2);
    }
    onStarted();
    return events;
  })();
  return { events, started, ended };
}
