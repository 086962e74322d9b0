/**
 * `reasonrl devices`: what this build of the native engine has (its compiled ggml
 * backends) and what this machine offers (the CPU and every GPU, with memory).
 * A name it prints is what `--device` takes.
 */
import type { Command } from "commander";
import { compiledBackends, type DeviceInfo, listDevices } from "../engine/index.ts";
import { jsonOption } from "./options.ts";
import { type JsonFlag, printResult } from "./output.ts";

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

/** One line per device: name, description, memory. */
export function describeDevices(backends: readonly string[], devices: readonly DeviceInfo[]): string {
  const lines = [`compiled backends: ${backends.join(", ")}`, "devices:"];
  for (const d of devices) {
    const memory =
      d.memoryTotal > 0 ? `${gib(d.memoryFree)} free of ${gib(d.memoryTotal)}` : "memory not reported";
    lines.push(
      `  ${d.name.padEnd(10)} ${d.description}${d.integrated ? " (shares host memory)" : ""}, ${memory}`,
    );
  }
  if (!devices.some((d) => d.kind !== "cpu")) {
    const hasGpuBackend = backends.some((b) => !["cpu", "blas"].includes(b.toLowerCase()));
    lines.push(
      hasGpuBackend
        ? "no GPU found (ggml's Vulkan backend hides software devices such as lavapipe unless GGML_VK_VISIBLE_DEVICES names them, e.g. =0)"
        : "no GPU backend in this build: install a toolchain (Debian: libvulkan-dev glslc spirv-headers) and run REASONRL_GPU=vulkan npm install",
    );
  }
  return lines.join("\n");
}

export function register(program: Command): void {
  program
    .command("devices")
    .description("list the compiled ggml backends and the devices this machine offers (names for --device)")
    .addOption(jsonOption())
    .action((opts: JsonFlag) => {
      const backends = compiledBackends();
      const devices = listDevices();
      printResult(
        {
          compiled_backends: backends,
          devices: devices.map((d) => ({
            name: d.name,
            kind: d.kind,
            description: d.description,
            memory_total: d.memoryTotal,
            memory_free: d.memoryFree,
            integrated: d.integrated,
          })),
        },
        opts,
        describeDevices(backends, devices),
      );
    });
}
