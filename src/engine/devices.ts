/**
 * Devices: what the native build was compiled with (ggml backends) and what this
 * machine offers (the CPU and every GPU those backends see), and the resolution of
 * a device name ("cpu", "auto", "vulkan", "vulkan:1", "cuda:0", "metal") to one of them.
 *
 * GPU names are the backend's kind and the device's index among that kind's devices:
 * "vulkan:0" is the first Vulkan device. ggml's Vulkan backend lists hardware GPUs only;
 * Mesa's software device (lavapipe) appears when GGML_VK_VISIBLE_DEVICES names it
 * (e.g. GGML_VK_VISIBLE_DEVICES=0), which the tests do.
 */
import { cpus, freemem, totalmem } from "node:os";
import { loadAddon, type NativeAddon } from "./native.ts";

/** The kinds of device an engine can run on. */
export type DeviceKind = "cpu" | "vulkan" | "cuda" | "metal";

export interface DeviceInfo {
  /** What `new Engine({ device })` takes: "cpu", "vulkan:0", "cuda:1", "metal:0". */
  name: string;
  kind: DeviceKind | string;
  /** The device's own description, e.g. "NVIDIA H100 80GB HBM3" or "llvmpipe (LLVM 15.0.6, 256 bits)". */
  description: string;
  /** Bytes of memory the device has, and has free now (the host's RAM for the CPU). */
  memoryTotal: number;
  memoryFree: number;
  /** A GPU sharing the host's memory (integrated or software). */
  integrated: boolean;
  /** @internal index in ggml's device registry (-1 for the CPU). */
  registryIndex: number;
}

/** ggml backend names (its registry's) mapped to device kinds. */
const KIND_OF_BACKEND: Record<string, DeviceKind> = {
  vulkan: "vulkan",
  cuda: "cuda",
  metal: "metal",
  mtl: "metal",
};

function kindOf(backend: string): string {
  return KIND_OF_BACKEND[backend.toLowerCase()] ?? backend.toLowerCase();
}

/** The ggml backends this build has, e.g. ["CPU", "BLAS", "Vulkan"]. */
export function compiledBackends(native: NativeAddon = loadAddon()): string[] {
  return native.compiledBackends();
}

function cpuDevice(): DeviceInfo {
  return {
    name: "cpu",
    kind: "cpu",
    description: cpus()[0]?.model.trim() ?? "CPU",
    memoryTotal: totalmem(),
    memoryFree: freemem(),
    integrated: false,
    registryIndex: -1,
  };
}

/** The CPU first, then every GPU the build's backends find on this machine. */
export function listDevices(native: NativeAddon = loadAddon()): DeviceInfo[] {
  const cpu = cpuDevice();
  const seen = new Map<string, number>();
  const gpus = native.gpuDevices().map((d): DeviceInfo => {
    const kind = kindOf(d.backend);
    const n = seen.get(kind) ?? 0;
    seen.set(kind, n + 1);
    return {
      name: `${kind}:${n}`,
      kind,
      description: d.description,
      memoryTotal: d.memoryTotal,
      memoryFree: d.memoryFree,
      integrated: d.integrated,
      registryIndex: d.index,
    };
  });
  return [cpu, ...gpus];
}

/**
 * The device a name designates: "cpu"; "auto" (the first GPU, else the CPU); a kind
 * ("vulkan", "cuda", "metal": its first device); or "kind:N". Throws naming the device
 * and listing the available ones when it is unknown or absent.
 */
export function resolveDevice(name: string, native: NativeAddon = loadAddon()): DeviceInfo {
  const wanted = name.trim().toLowerCase();
  if (wanted === "cpu") return cpuDevice(); // without asking the GPU backends (their drivers load slowly)
  const devices = listDevices(native);
  if (wanted === "auto") return devices.find((d) => d.kind !== "cpu") ?? devices[0];
  const match = /^([a-z]+)(?::(\d+))?$/.exec(wanted);
  const found = match && devices.find((d) => d.name === `${match[1]}:${match[2] ?? "0"}`);
  if (found) return found;
  const available = devices.map((d) => d.name).join(", ");
  const kind = match?.[1] ?? "";
  const compiled = compiledBackends(native).map((b) => kindOf(b));
  let why = "";
  if (["vulkan", "cuda", "metal"].includes(kind) && !compiled.includes(kind)) {
    why = ` (this build has no ${kind} backend: reinstall with REASONRL_GPU=${kind} npm install)`;
  } else if (kind === "vulkan" && !devices.some((d) => d.kind === "vulkan")) {
    why = " (ggml lists hardware Vulkan GPUs only; set GGML_VK_VISIBLE_DEVICES=0 to use a software device)";
  }
  throw new Error(`reasonrl engine: device "${name}" is not available${why}; available: ${available}`);
}
