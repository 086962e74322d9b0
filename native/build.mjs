#!/usr/bin/env node
// Builds the native engine at `npm install` time:
//  1. clones llama.cpp out of the git bundle shipped in node-llama-cpp (pinned in package.json),
//  2. builds its ggml libraries (static: CPU, OpenBLAS when the system has it, and the GPU
//     backends chosen by REASONRL_GPU) into a cache keyed by everything that affects the
//     result, so a second install does not rebuild,
//  3. builds the Node-API addon against them with node-gyp.
// Each phase prints one line (what, why, how long); compiler output goes to a log file whose
// tail is printed only when a phase fails.
// Environment:
//   REASONRL_GPU=auto|off|vulkan|cuda|metal (or a comma list, e.g. vulkan,cuda; default auto):
//     auto builds every GPU backend whose toolchain is present (Vulkan headers + glslc +
//     SPIR-V headers; nvcc with an NVIDIA driver loaded; macOS for Metal); an explicit
//     backend whose toolchain is missing fails, naming the package to install.
//   REASONRL_CUDA_ARCHS: CMAKE_CUDA_ARCHITECTURES (default: the visible GPU's, else PTX for 7.5/8.0/9.0).
//   REASONRL_BLAS=0|1 forces BLAS off/on, REASONRL_CACHE sets the cache folder,
//   REASONRL_JOBS the parallel build jobs (default: the machine's cores).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { availableParallelism, homedir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const jobs = String(process.env.REASONRL_JOBS ?? availableParallelism());
const cacheRoot =
  process.env.REASONRL_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "reasonrl");
/** Every command's output of this install, appended; its tail is shown when a command fails. */
const logFile = join(cacheRoot, "build.log");

function log(msg) {
  console.log(`[reasonrl native] ${msg}`);
}

function seconds(ms) {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

/** Runs one build phase: prints what and why, then how long it took. */
function phase(what, why, fn) {
  log(`${what} (${why})...`);
  const start = Date.now();
  const result = fn();
  log(`${what}: done in ${seconds(Date.now() - start)}`);
  return result;
}

/** Runs a command with its output appended to the log; throws with the log's tail when it fails. */
function run(cmd, args, opts = {}) {
  appendFileSync(logFile, `\n$ ${cmd} ${args.join(" ")}\n`);
  const r = spawnSync(cmd, args, { stdio: ["ignore", "pipe", "pipe"], maxBuffer: 1 << 30, ...opts });
  appendFileSync(logFile, r.stdout ?? "");
  appendFileSync(logFile, r.stderr ?? "");
  if (r.status !== 0) {
    const tail = readFileSync(logFile, "utf8").split("\n").slice(-40).join("\n");
    const why = r.error ? r.error.message : `exit status ${r.status ?? r.signal}`;
    throw new Error(`${cmd} ${args[0] ?? ""} failed (${why}); last lines of ${logFile}:\n${tail}`);
  }
}

/** The path of `name` on PATH (plus extra folders), or undefined. */
function which(name, extra = []) {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), ...extra];
  return dirs.map((d) => join(d, name)).find((p) => p && existsSync(p));
}

/** Finds node-llama-cpp's package folder by walking up node_modules folders. */
function findNodeLlamaCpp() {
  for (let dir = root; ; dir = dirname(dir)) {
    const candidate = join(dir, "node_modules", "node-llama-cpp");
    if (existsSync(join(candidate, "llama", "gitRelease.bundle"))) return candidate;
    if (dirname(dir) === dir)
      throw new Error("node-llama-cpp with llama/gitRelease.bundle not found: run npm install");
  }
}

/** OpenBLAS is used when its development files are installed (or forced by REASONRL_BLAS). */
function detectBlas() {
  if (process.env.REASONRL_BLAS === "0") return false;
  const found = ["/usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h", "/usr/include/openblas/cblas.h"]
    .concat(["/usr/include/cblas.h"])
    .some((p) => existsSync(p));
  if (process.env.REASONRL_BLAS === "1" && !found) {
    throw new Error("REASONRL_BLAS=1 but OpenBLAS headers were not found (apt-get install libopenblas-dev)");
  }
  return found;
}

const GPU_BACKENDS = ["vulkan", "cuda", "metal"];

/** What each GPU backend's toolchain lacks on this machine (empty when it can be built). */
function missingToolchain(backend) {
  const missing = [];
  if (backend === "vulkan") {
    const sdk = process.env.VULKAN_SDK;
    const inc = ["/usr/include", "/usr/local/include", ...(sdk ? [join(sdk, "include")] : [])];
    if (!inc.some((d) => existsSync(join(d, "vulkan", "vulkan.h"))))
      missing.push("Vulkan headers and loader (Debian: libvulkan-dev)");
    if (!which("glslc", sdk ? [join(sdk, "bin")] : []))
      missing.push("the glslc shader compiler (Debian: glslc)");
    const spirv = [
      "/usr/share/cmake/SPIRV-Headers",
      "/usr/lib/cmake/SPIRV-Headers",
      "/usr/local/share/cmake/SPIRV-Headers",
    ];
    if (!spirv.some((d) => existsSync(d)) && !(sdk && existsSync(join(sdk, "include", "spirv"))))
      missing.push("SPIR-V headers (Debian: spirv-headers)");
  } else if (backend === "cuda") {
    if (!cudaCompiler()) missing.push("nvcc (the CUDA toolkit; Debian: nvidia-cuda-toolkit)");
  } else if (backend === "metal") {
    if (process.platform !== "darwin") missing.push("macOS (Metal exists only there)");
  }
  return missing;
}

function cudaCompiler() {
  return which("nvcc", [join(process.env.CUDA_HOME ?? "/usr/local/cuda", "bin")]);
}

/** An NVIDIA driver is loaded (so a GPU can run what CUDA compiles). */
function nvidiaDriverLoaded() {
  return existsSync("/proc/driver/nvidia/version");
}

/**
 * The GPU backends to build, from REASONRL_GPU. In auto mode CUDA also needs a loaded
 * NVIDIA driver: compiling ggml's CUDA kernels takes hours on a small machine, wasted
 * where no GPU can run them (set REASONRL_GPU=cuda to build it anyway).
 */
function chooseGpuBackends() {
  const value = (process.env.REASONRL_GPU ?? "auto").trim().toLowerCase() || "auto";
  if (value === "off") return [];
  if (value === "auto") {
    return GPU_BACKENDS.filter(
      (b) => missingToolchain(b).length === 0 && (b !== "cuda" || nvidiaDriverLoaded()),
    );
  }
  const wanted = value.split(",").map((s) => s.trim());
  for (const b of wanted) {
    if (!GPU_BACKENDS.includes(b)) {
      throw new Error(
        `REASONRL_GPU=${value}: unknown backend "${b}" (use auto, off, ${GPU_BACKENDS.join(", ")})`,
      );
    }
    const missing = missingToolchain(b);
    if (missing.length > 0)
      throw new Error(`REASONRL_GPU=${value}: cannot build ${b}: missing ${missing.join("; ")}`);
  }
  return GPU_BACKENDS.filter((b) => wanted.includes(b));
}

function cmakeFlags(blas, gpus) {
  const flags = [
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DCMAKE_POSITION_INDEPENDENT_CODE=ON",
    "-DGGML_NATIVE=ON",
    "-DGGML_OPENMP=ON",
    "-DGGML_LLAMAFILE=ON", // the fast f32 sgemm; not on by default in this configuration
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_TOOLS=OFF",
    "-DLLAMA_BUILD_SERVER=OFF",
    "-DLLAMA_BUILD_COMMON=OFF",
    "-DLLAMA_CURL=OFF",
  ];
  if (blas) flags.push("-DGGML_BLAS=ON", "-DGGML_BLAS_VENDOR=OpenBLAS");
  if (gpus.includes("vulkan")) flags.push("-DGGML_VULKAN=ON");
  if (gpus.includes("cuda")) {
    const archs =
      process.env.REASONRL_CUDA_ARCHS ??
      (nvidiaDriverLoaded() ? "native" : "75-virtual;80-virtual;90-virtual");
    flags.push(
      "-DGGML_CUDA=ON",
      `-DCMAKE_CUDA_ARCHITECTURES=${archs}`,
      `-DCMAKE_CUDA_COMPILER=${cudaCompiler()}`,
    );
  }
  if (gpus.includes("metal")) flags.push("-DGGML_METAL=ON", "-DGGML_METAL_EMBED_LIBRARY=ON");
  return flags;
}

/** The static library of each ggml target, relative to the build folder. */
const LIBS = {
  ggml: "ggml/src/libggml.a",
  "ggml-base": "ggml/src/libggml-base.a",
  "ggml-cpu": "ggml/src/libggml-cpu.a",
  "ggml-blas": "ggml/src/ggml-blas/libggml-blas.a",
  "ggml-vulkan": "ggml/src/ggml-vulkan/libggml-vulkan.a",
  "ggml-cuda": "ggml/src/ggml-cuda/libggml-cuda.a",
  "ggml-metal": "ggml/src/ggml-metal/libggml-metal.a",
};

/** Linker flags the GPU backends' static libraries need. */
function gpuLinkFlags(gpus) {
  const flags = [];
  if (gpus.includes("vulkan")) flags.push("-lvulkan");
  if (gpus.includes("cuda")) {
    const cuda = dirname(dirname(cudaCompiler()));
    const lib = join(cuda, "lib64");
    // libcuda comes with the driver; the toolkit's stub satisfies the linker where no driver is installed.
    flags.push(
      `-L${lib}`,
      `-L${join(lib, "stubs")}`,
      `-Wl,-rpath,${lib}`,
      "-lcudart",
      "-lcublas",
      "-lcublasLt",
      "-lcuda",
    );
  }
  if (gpus.includes("metal")) flags.push("-framework Foundation", "-framework Metal", "-framework MetalKit");
  return flags;
}

/**
 * The patches to apply, in name order. A patch that only touches one GPU backend's
 * sources (ggml/src/ggml-vulkan/...) applies, and enters the cache key, only when that
 * backend is built, so it does not rebuild the CPU-only configuration.
 */
function patchFiles(gpus) {
  const dir = join(here, "patches");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".patch"))
    .sort()
    .filter((f) => {
      const text = readFileSync(join(dir, f), "utf8");
      const paths = [...text.matchAll(/^diff --git a\/(\S+)/gm)].map((m) => m[1]);
      const backend = /^ggml\/src\/ggml-(vulkan|cuda|metal)\//;
      const owners = paths.map((p) => backend.exec(p)?.[1]); // the backend of each file, if any
      const oneBackend = owners.length > 0 && owners.every((b) => b && b === owners[0]);
      return !oneBackend || gpus.includes(owners[0]);
    });
}

/** Builds ggml into `<cache>/ggml-<key>` unless it is already there; returns that folder. */
function buildGgml(nlcDir, blas, gpus) {
  const version = JSON.parse(readFileSync(join(nlcDir, "package.json"), "utf8")).version;
  const flags = cmakeFlags(blas, gpus);
  const hash = createHash("sha256").update(version).update(flags.join(" ")).update(process.arch);
  const patches = patchFiles(gpus);
  for (const p of patches) hash.update(readFileSync(join(here, "patches", p)));
  const key = hash.digest("hex").slice(0, 16);
  const out = join(cacheRoot, `ggml-${key}`);
  const what = ["CPU", ...(blas ? ["OpenBLAS"] : []), ...gpus].join(" + ");
  if (existsSync(join(out, "done.json"))) {
    log(`ggml ${what}: cached at ${out}`);
    return out;
  }
  const work = `${out}.work`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const src = join(work, "llama.cpp");
  const build = join(work, "build");
  const targets = [
    "ggml",
    "ggml-base",
    "ggml-cpu",
    ...(blas ? ["ggml-blas"] : []),
    ...gpus.map((g) => `ggml-${g}`),
  ];
  phase(
    `ggml source: cloning llama.cpp ${version} and applying ${patches.length} patches`,
    "no cached build for these flags",
    () => {
      run("git", ["clone", "--quiet", join(nlcDir, "llama", "gitRelease.bundle"), src]);
      for (const p of patches) run("git", ["apply", join(here, "patches", p)], { cwd: src });
    },
  );
  phase(`ggml ${what}: configuring`, "cmake", () => run("cmake", ["-S", src, "-B", build, ...flags]));
  const why =
    gpus.length > 0 ? `${jobs} jobs; GPU backends compile many kernels, this takes long` : `${jobs} jobs`;
  phase(`ggml ${what}: compiling`, why, () =>
    run("cmake", ["--build", build, "-j", jobs, "--target", ...targets]),
  );

  // Keep only headers and static libraries; drop the source and build trees.
  const staged = join(work, "out");
  mkdirSync(join(staged, "lib"), { recursive: true });
  run("cp", ["-r", join(src, "ggml", "include"), join(staged, "include")]);
  for (const t of targets) run("cp", [join(build, LIBS[t]), join(staged, "lib")]);
  writeFileSync(join(staged, "done.json"), JSON.stringify({ version, flags, blas, gpus, key }, null, 2));
  rmSync(out, { recursive: true, force: true });
  renameSync(staged, out);
  rmSync(work, { recursive: true, force: true });
  return out;
}

/**
 * node-gyp arguments naming the Node headers: the local ones when installed for this Node
 * version (Debian's nodejs ships them under /usr/include/node), so the build needs no download
 * and no user npm config; otherwise node-gyp's own (its cache, or a download).
 */
function nodeHeaderArgs() {
  const prefix = dirname(dirname(process.execPath));
  const versionFile = join(prefix, "include", "node", "node_version.h");
  if (!existsSync(versionFile) || !existsSync(join(prefix, "include", "node", "common.gypi"))) return [];
  const text = readFileSync(versionFile, "utf8");
  const part = (name) => new RegExp(`#define NODE_${name}_VERSION (\\d+)`).exec(text)?.[1];
  const version = `v${part("MAJOR")}.${part("MINOR")}.${part("PATCH")}`;
  return version === process.version ? [`--nodedir=${prefix}`] : [];
}

function main() {
  mkdirSync(cacheRoot, { recursive: true });
  writeFileSync(logFile, `reasonrl native build, ${new Date().toISOString()}\n`);
  const nlcDir = findNodeLlamaCpp();
  const blas = detectBlas();
  const gpus = chooseGpuBackends();
  const ggmlDir = buildGgml(nlcDir, blas, gpus);
  const libDir = join(ggmlDir, "lib");
  const libs = ["-Wl,--start-group", ...readdirSync(libDir).map((f) => join(libDir, f)), "-Wl,--end-group"];
  libs.push("-lgomp", "-lpthread", ...gpuLinkFlags(gpus));
  if (blas) libs.push("-lopenblas");
  const config = { include: join(ggmlDir, "include"), blas, gpus, libs, ldflags: ["-fopenmp"] };
  const configText = JSON.stringify(config, null, 2);

  // Rebuild the addon only when its sources or the ggml build changed.
  const stampHash = createHash("sha256").update(configText).update(process.version);
  for (const f of readdirSync(join(here, "src")).sort()) stampHash.update(readFileSync(join(here, "src", f)));
  stampHash.update(readFileSync(join(here, "binding.gyp")));
  const stamp = stampHash.digest("hex");
  const stampFile = join(here, "ggml.stamp");
  const addon = join(here, "build", "Release", "reasonrl.node");
  if (existsSync(addon) && existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp) {
    log("addon: up to date");
    return;
  }
  writeFileSync(join(here, "ggml.json"), configText); // read by binding.gyp through ggml-config.mjs
  const nodeGyp = join(
    dirname(fileURLToPath(import.meta.resolve("node-gyp/package.json"))),
    "bin",
    "node-gyp.js",
  );
  const headers = nodeHeaderArgs();
  const from =
    headers.length > 0
      ? `Node headers from ${headers[0].slice("--nodedir=".length)}`
      : "node-gyp's Node headers";
  phase("addon: compiling the Node-API addon", `sources or ggml changed; ${from}`, () =>
    run(process.execPath, [nodeGyp, "rebuild", "--jobs", jobs, ...headers], { cwd: here }),
  );
  writeFileSync(stampFile, stamp);
  log(`addon: built ${addon} (GPU backends: ${gpus.length > 0 ? gpus.join(", ") : "none"}; log: ${logFile})`);
}

try {
  main();
} catch (err) {
  console.error(`[reasonrl native] build failed: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
}
