// Prints what binding.gyp needs from the ggml build recorded by build.mjs in native/ggml.json:
// `include` (one dir), `defines`, `libs`, `ldflags` (space-separated lists).
import { readFileSync } from "node:fs";

const info = JSON.parse(readFileSync(new URL("./ggml.json", import.meta.url), "utf8"));
const what = process.argv[2];
const out = {
  include: info.include,
  defines: info.blas ? "REASONRL_BLAS" : "",
  libs: info.libs.join(" "),
  ldflags: info.ldflags.join(" "),
}[what];
if (out === undefined) throw new Error(`ggml-config.mjs: unknown key ${what}`);
console.log(out);
