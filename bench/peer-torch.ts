/**
 * A PyTorch peer for the training benches: bench/peer_torch.py in a python3
 * child process, running the same training step as ours (same shapes, AdamW
 * settings and thread count) one step at a time, so the caller can interleave
 * its own steps with the peer's and both sides see the same machine.
 *
 * The child inherits this process's environment, so OpenMP's spin settings
 * (OMP_WAIT_POLICY, GOMP_SPINCOUNT) are the same on both sides; OMP_NUM_THREADS
 * is set to the thread count. What BLAS torch uses is reported (Debian's
 * python3-torch links the reference BLAS unless OpenBLAS is installed: a
 * ratio against it flatters us, and the result says so).
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import { createInterface, type Interface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { LlamaConfig } from "../src/model/llama.ts";

const SCRIPT = fileURLToPath(new URL("./peer_torch.py", import.meta.url));

/**
 * The Python interpreters tried, in order: $REASONRL_PYTHON alone when set; else
 * python3 on the PATH, then the system's /usr/bin/python3 (Debian's python3-torch
 * lives there even where a pyenv or venv python3 comes first on the PATH).
 */
function pythonCandidates(): string[] {
  const chosen = process.env.REASONRL_PYTHON;
  return chosen ? [chosen] : ["python3", "/usr/bin/python3"];
}

/** The first candidate that imports torch, or why none does (memoised per $REASONRL_PYTHON). */
const probes = new Map<string, { python: string } | { reason: string }>();
function probeTorch(): { python: string } | { reason: string } {
  const key = process.env.REASONRL_PYTHON ?? "";
  const known = probes.get(key);
  if (known) return known;
  const failures: string[] = [];
  let found: { python: string } | { reason: string } | undefined;
  for (const python of pythonCandidates()) {
    const r = spawnSync(python, ["-c", "import torch"], { encoding: "utf8", timeout: 120_000 });
    if (!r.error && r.status === 0) {
      found = { python };
      break;
    }
    const why = r.error ? `not runnable (${r.error.message})` : (r.stderr.trim().split("\n").at(-1) ?? "");
    failures.push(`${python}: ${why}`);
  }
  found ??= {
    reason:
      `PyTorch is not importable (${failures.join("; ")}); install it (apt-get install python3-torch, ` +
      "or pip install torch) or point REASONRL_PYTHON at an interpreter that has it",
  };
  probes.set(key, found);
  return found;
}

/** The step the peer runs (the first line it reads). */
export interface PeerSettings {
  model: LlamaConfig;
  batch: number;
  seq: number;
  /** LoRA adapters on a frozen base; omitted: full fine-tuning. */
  lora?: { rank: number; alpha: number; targets: string[] };
  optimizer: {
    lr: number;
    beta1: number;
    beta2: number;
    eps: number;
    weightDecay: number;
    maxGradNorm?: number;
  };
  threads: number;
  /** "cpu" or "cuda" / "cuda:N" (PyTorch's device names). */
  device: string;
  /** Storage of the base weights; bf16 runs the step under autocast. */
  dtype: "f32" | "bf16";
}

/** What the peer reports once its model is built. */
export interface PeerInfo {
  torch: string;
  device: string;
  threads: number;
  params: number;
  trainable: number;
  attention: string;
  /** "OpenBLAS", "MKL", or the reference BLAS with a warning. */
  blas: string;
  reference_blas: boolean;
  blas_libraries: string[];
}

/** Why PyTorch cannot run here, or null when an interpreter imports torch (see pythonCandidates). */
export function torchUnavailable(): string | null {
  const probe = probeTorch();
  return "reason" in probe ? probe.reason : null;
}

/** The OpenMP settings both sides run under (for the result). */
export function openMpSettings(): string {
  const keys = ["OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME"];
  const set = keys.filter((k) => process.env[k] !== undefined).map((k) => `${k}=${process.env[k]}`);
  return set.length ? set.join(" ") : "defaults (OMP_WAIT_POLICY unset)";
}

/** A running peer: one python3 process, its model built, stepping on request. */
export class TorchPeer {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #readline: Interface;
  readonly #lines: AsyncIterator<string>;
  /** Settles when the child has exited, or could not start. */
  readonly #exited: Promise<unknown>;
  #info: PeerInfo | null = null;
  /** The tail of the child's stderr (and a spawn error), for the error when it dies. */
  #stderr = "";

  private constructor(settings: PeerSettings) {
    const probe = probeTorch();
    if ("reason" in probe) throw new Error(`torch peer: ${probe.reason}`);
    this.#child = spawn(probe.python, [SCRIPT], {
      env: { ...process.env, OMP_NUM_THREADS: String(settings.threads) },
    });
    this.#exited = new Promise((resolve) => {
      this.#child.once("exit", resolve);
      this.#child.once("error", (err) => {
        this.#stderr += `\n${err.message}`;
        resolve(err);
      });
    });
    this.#child.stderr.on("data", (d: Buffer) => {
      this.#stderr = (this.#stderr + d.toString()).slice(-4000);
    });
    this.#readline = createInterface({ input: this.#child.stdout });
    this.#lines = this.#readline[Symbol.asyncIterator]();
    this.#child.stdin.on("error", () => {}); // a dead child's pipe: its exit is reported by #reply
    this.#child.stdin.write(`${JSON.stringify(settings)}\n`);
  }

  /** Starts python3 with the step's settings; resolves once its model is built. */
  static async start(settings: PeerSettings): Promise<TorchPeer> {
    const peer = new TorchPeer(settings);
    try {
      peer.#info = (await peer.#reply()) as unknown as PeerInfo;
    } catch (err) {
      peer.#child.kill();
      peer.#readline.close();
      throw err;
    }
    return peer;
  }

  /** What the peer reported once its model was built. */
  get info(): PeerInfo {
    if (!this.#info) throw new Error("torch peer: not started");
    return this.#info;
  }

  /** One training step; returns its seconds, loss and (on a GPU) peak memory in bytes. */
  async step(): Promise<{ step_s: number; loss: number; peak_bytes: number }> {
    this.#child.stdin.write("step\n");
    return (await this.#reply()) as { step_s: number; loss: number; peak_bytes: number };
  }

  /** Ends the child (it exits on "quit") and waits for it. */
  async close(): Promise<void> {
    this.#child.stdin.end("quit\n");
    await this.#exited;
    this.#readline.close();
  }

  /** The peer's next JSON line; its error (or its stderr's tail) as a thrown Error. */
  async #reply(): Promise<Record<string, unknown>> {
    const next = await this.#lines.next();
    if (next.done) {
      await this.#exited;
      const tail = this.#stderr.trim().split("\n").slice(-3).join(" | ");
      throw new Error(`torch peer exited (${this.#child.exitCode ?? this.#child.signalCode}): ${tail}`);
    }
    const reply = JSON.parse(next.value) as Record<string, unknown>;
    if (typeof reply.error === "string") throw new Error(`torch peer: ${reply.error}`);
    return reply;
  }
}
