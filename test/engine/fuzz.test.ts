/**
 * Random graphs (fuzz-child.ts) in child processes: any ggml abort kills the
 * child, and the test shows the graph that caused it.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const child = fileURLToPath(new URL("./fuzz-child.ts", import.meta.url));

for (const seed of [11, 12, 13, 14]) {
  test(`random graphs, seed ${seed}: misuse throws, nothing aborts`, () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", child, String(seed), "400"], {
      encoding: "utf8",
    });
    const trail = r.stderr.trim().split("\n").slice(-3).join("\n");
    assert.equal(r.status, 0, `child exited with ${r.status ?? r.signal}; last lines:\n${trail}`);
    assert.match(r.stdout, /400 graphs/);
  });
}
