/**
 * `reasonrl dashboard` as a command: with --json it prints one JSON line with
 * the URL once listening, serves the runs of its folder, and SIGTERM stops it
 * with exit status 0; a folder that is not there is one error line.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { runCli } from "../../src/cli/run-cli.ts";
import { finishedRun } from "./dashboard-fixture.ts";

const bin = fileURLToPath(new URL("../../bin/reasonrl.js", import.meta.url));
const root = await mkdtemp(join(tmpdir(), "reasonrl-dashboard-cli-"));
after(() => rm(root, { recursive: true, force: true }));

test("dashboard --json prints its URL once listening, serves the folder's runs, and SIGTERM stops it", async () => {
  await finishedRun(join(root, "runs", "one"), "one", 3);
  const child = spawn(process.execPath, [bin, "dashboard", join(root, "runs"), "--port", "0", "--json"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  try {
    const first = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once("line", resolve);
      child.once("exit", () => reject(new Error(`exited before listening: ${stderr}`)));
    });
    const { url } = JSON.parse(first) as { url: string };
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const runs = (await (await fetch(`${url}api/runs`)).json()) as {
      runs: Array<{ id: string; steps: number }>;
    };
    assert.deepEqual(
      runs.runs.map((r) => [r.id, r.steps]),
      [["one", 3]],
    );
  } finally {
    child.kill("SIGTERM");
  }
  assert.equal(await exited, 0, stderr);
});

test("a folder that is not there is one error line and exit status 1", async (t) => {
  const lines: string[] = [];
  t.mock.method(console, "error", (line: string) => lines.push(line));
  const status = await runCli(["node", "reasonrl", "dashboard", join(root, "nowhere"), "--port", "0"]);
  assert.equal(status, 1);
  assert.equal(lines.length, 1);
  assert.match(lines[0], /^reasonrl: no folder .*nowhere: nothing to show/);
});
