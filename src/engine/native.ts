/**
 * Loads the native addon (native/build/Release/reasonrl.node) and declares its
 * raw interface. Only src/engine talks to it; everything it is given has been
 * checked in TypeScript first, because a failed ggml assertion aborts the process.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

/** An opaque native handle (a Node-API external). */
export type Handle = { readonly __handle: unique symbol };

/** What `op()` returns: the new node, its ggml type, its ggml shape ne0..ne3, its layout (0 contiguous, 1 strided, 2 transposed). */
export type OpResult = [Handle, number, number, number, number, number, number];

/** A GPU of ggml's device registry, as the addon reports it. */
export interface NativeGpu {
  index: number;
  backend: string;
  name: string;
  description: string;
  memoryFree: number;
  memoryTotal: number;
  integrated: boolean;
}

export interface NativeAddon {
  hasBlas: boolean;
  compiledBackends(): string[];
  gpuDevices(): NativeGpu[];
  /** gpuIndex: a NativeGpu's index, or -1 for the CPU alone. */
  createBackends(threads: number, maxNodes: number, useBlas: boolean, gpuIndex: number): Handle;
  /** Waits for a running graph, then frees every persistent tensor and the backends. */
  dispose(engine: Handle): void;
  setThreads(engine: Handle, threads: number): void;
  backendInfo(engine: Handle): { threads: number; blas: boolean; maxNodes: number; backends: string[] };
  createTensor(engine: Handle, type: number, ne: number[], name: string, isParam: boolean): [Handle, Handle];
  freeTensor(owner: Handle): void;
  writeBytes(tensor: Handle, bytes: Uint8Array, byteOffset: number): void;
  readBytes(tensor: Handle): ArrayBuffer;
  writeF32(tensor: Handle, data: Float32Array): void;
  readF32(tensor: Handle): Float32Array;
  fillZero(tensor: Handle): void;
  /** Host memory of the tensor (moved there from the device first when needed). */
  view(engine: Handle, owner: Handle): ArrayBuffer;
  newGraph(engine: Handle, capacity: number): Handle;
  freeGraph(graph: Handle): void;
  buildForward(graph: Handle, outputs: Handle[], loss: Handle | null, effects: Handle[]): void;
  buildBackward(graph: Handle, params: Handle[], accumulators: Handle[], lossSeed: Handle): void;
  nodeCount(graph: Handle): number;
  useBlas(graph: Handle, useBlas: boolean): void;
  compute(graph: Handle, keepAlive: object): Promise<ArrayBuffer[]>;
  op(graph: Handle, name: string, srcs: Handle[], ints: number[], floats: number[]): OpResult;
}

let addon: NativeAddon | undefined;

/** The addon, loaded once. OpenMP and OpenBLAS read their environment when the library loads. */
export function loadAddon(): NativeAddon {
  if (addon) return addon;
  // OpenMP's threads wait between graph nodes. Spinning for long (libgomp's default)
  // fights OpenBLAS's threads: 1.86 s vs 1.21 s per training step with
  // OMP_WAIT_POLICY=PASSIVE (notes/ggml-probe.md). Sleeping at once (PASSIVE) makes
  // each of a decode step's ~500 small nodes pay a wake-up: 81 vs 100 tokens/s at
  // batch 1. A short spin (GOMP_SPINCOUNT=10000) keeps both: training unchanged.
  if (process.env.OMP_WAIT_POLICY === undefined) process.env.GOMP_SPINCOUNT ??= "10000";
  // ggml-vulkan's graph reordering and its fusion of consecutive ADDs (MULTI_ADD) corrupted
  // memory after backward passes (heap corruption on lavapipe, whose device memory is host
  // memory; test/engine/devices.test.ts); without them the tests give the CPU's results.
  process.env.GGML_VK_DISABLE_GRAPH_OPTIMIZE ??= "1";
  process.env.GGML_VK_DISABLE_MULTI_ADD ??= "1";
  // Should ggml ever abort, fail at once instead of hanging while it attaches gdb for a backtrace.
  process.env.GGML_NO_BACKTRACE ??= "1";
  const core = openBlasCoreType();
  if (core) process.env.OPENBLAS_CORETYPE ??= core;
  const path = fileURLToPath(new URL("../../native/build/Release/reasonrl.node", import.meta.url));
  if (!existsSync(path)) {
    throw new Error(`reasonrl engine: native addon not built (${path} missing): run \`npm install\``);
  }
  addon = createRequire(import.meta.url)(path) as NativeAddon;
  return addon;
}

/**
 * The OpenBLAS kernel family for this CPU, read from /proc/cpuinfo. OpenBLAS
 * 0.3.21 (Debian 12) does not recognise recent Xeons and falls back to its
 * generic "Prescott" kernels: a 1024^3 sgemm ran at 36-54 GFLOP/s instead of
 * 234 with "SkylakeX" (same results to the last bit on a 300x257x511 check).
 * A value already in the environment is kept.
 */
function openBlasCoreType(): string | undefined {
  let cpuinfo: string;
  try {
    cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  } catch {
    return undefined;
  }
  const flags = new Set(/^flags\s*:(.*)$/m.exec(cpuinfo)?.[1].trim().split(/\s+/) ?? []);
  const has = (...f: string[]) => f.every((x) => flags.has(x));
  if (has("avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd")) return "SkylakeX";
  if (has("avx2", "fma")) return "Haswell";
  return undefined;
}
