#!/usr/bin/env node
// Builds the native engine at `npm install` time:
//  1. clones llama.cpp out of the git bundle shipped in node-llama-cpp (pinned in package.json),
//  2. builds its ggml libraries (static, CPU + OpenBLAS when the system has it) into a cache
//     keyed by everything that affects the result, so a second install does not rebuild,
//  3. builds the Node-API addon against them with node-gyp.
// Environment: REASONRL_BLAS=0|1 forces BLAS off/on, REASONRL_CACHE sets the cache folder,
// REASONRL_JOBS the parallel build jobs (default: the machine's cores).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const jobs = String(process.env.REASONRL_JOBS ?? availableParallelism());

function log(msg) {
  console.log(`[reasonrl native] ${msg}`);
}

function run(cmd, args, opts = {}) {
  execFileSync(cmd, args, { stdio: ["ignore", "inherit", "inherit"], ...opts });
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

function cmakeFlags(blas) {
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
  return flags;
}

function patchFiles() {
  const dir = join(here, "patches");
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith(".patch"))
        .sort()
    : [];
}

/** Builds ggml into `<cache>/ggml-<key>` unless it is already there; returns that folder. */
function buildGgml(nlcDir, blas) {
  const version = JSON.parse(readFileSync(join(nlcDir, "package.json"), "utf8")).version;
  const flags = cmakeFlags(blas);
  const hash = createHash("sha256").update(version).update(flags.join(" ")).update(process.arch);
  for (const p of patchFiles()) hash.update(readFileSync(join(here, "patches", p)));
  const key = hash.digest("hex").slice(0, 16);
  const cacheRoot =
    process.env.REASONRL_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "reasonrl");
  const out = join(cacheRoot, `ggml-${key}`);
  if (existsSync(join(out, "done.json"))) {
    log(`ggml cached at ${out}`);
    return out;
  }
  log(`building ggml from node-llama-cpp@${version} (BLAS: ${blas ? "OpenBLAS" : "off"}) into ${out}`);
  const work = `${out}.work`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const src = join(work, "llama.cpp");
  run("git", ["clone", "--quiet", join(nlcDir, "llama", "gitRelease.bundle"), src]);
  for (const p of patchFiles()) run("git", ["apply", join(here, "patches", p)], { cwd: src });
  const build = join(work, "build");
  run("cmake", ["-S", src, "-B", build, ...flags], { stdio: ["ignore", "ignore", "inherit"] });
  const targets = ["ggml", "ggml-base", "ggml-cpu", ...(blas ? ["ggml-blas"] : [])];
  run("cmake", ["--build", build, "-j", jobs, "--target", ...targets]);

  // Keep only headers and static libraries; drop the source and build trees.
  const staged = join(work, "out");
  mkdirSync(join(staged, "lib"), { recursive: true });
  run("cp", ["-r", join(src, "ggml", "include"), join(staged, "include")]);
  const libs = {
    ggml: "ggml/src/libggml.a",
    "ggml-base": "ggml/src/libggml-base.a",
    "ggml-cpu": "ggml/src/libggml-cpu.a",
    "ggml-blas": "ggml/src/ggml-blas/libggml-blas.a",
  };
  for (const t of targets) run("cp", [join(build, libs[t]), join(staged, "lib")]);
  writeFileSync(join(staged, "done.json"), JSON.stringify({ version, flags, blas, key }, null, 2));
  rmSync(out, { recursive: true, force: true });
  renameSync(staged, out);
  rmSync(work, { recursive: true, force: true });
  return out;
}

function main() {
  const nlcDir = findNodeLlamaCpp();
  const blas = detectBlas();
  const ggmlDir = buildGgml(nlcDir, blas);
  const libDir = join(ggmlDir, "lib");
  const libs = ["-Wl,--start-group", ...readdirSync(libDir).map((f) => join(libDir, f)), "-Wl,--end-group"];
  libs.push("-lgomp", "-lpthread");
  if (blas) libs.push("-lopenblas");
  const config = { include: join(ggmlDir, "include"), blas, libs, ldflags: ["-fopenmp"] };
  const configText = JSON.stringify(config, null, 2);

  // Rebuild the addon only when its sources or the ggml build changed.
  const stampHash = createHash("sha256").update(configText).update(process.version);
  for (const f of readdirSync(join(here, "src")).sort()) stampHash.update(readFileSync(join(here, "src", f)));
  stampHash.update(readFileSync(join(here, "binding.gyp")));
  const stamp = stampHash.digest("hex");
  const stampFile = join(here, "ggml.stamp");
  const addon = join(here, "build", "Release", "reasonrl.node");
  if (existsSync(addon) && existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp) {
    log("addon up to date");
    return;
  }
  writeFileSync(join(here, "ggml.json"), configText); // read by binding.gyp through ggml-config.mjs
  const nodeGyp = join(
    dirname(fileURLToPath(import.meta.resolve("node-gyp/package.json"))),
    "bin",
    "node-gyp.js",
  );
  log("building the Node-API addon");
  run(process.execPath, [nodeGyp, "rebuild", "--jobs", jobs], { cwd: here });
  writeFileSync(stampFile, stamp);
  log(`addon built: ${addon}`);
}

try {
  main();
} catch (err) {
  console.error(`[reasonrl native] build failed: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
}
