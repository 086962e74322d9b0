import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

// Runs through a bin/reasonrl.js-like entry: tsx registered in the main thread only.
const ENTRY = fileURLToPath(new URL("./fixtures/cli-entry.mjs", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "reasonrl-verify-"));

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [ENTRY, "verify", ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const lastJson = (out: string) => JSON.parse(out.trim().split("\n").at(-1) as string);

describe("reasonrl verify", () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("compares one pair; --json prints one JSON object last", async () => {
    const r = await run(["--gold", "\\frac{1}{2}", "--pred", "so it is $\\boxed{0.5}$", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const out = lastJson(r.stdout);
    assert.equal(out.equivalent, true);
    assert.deepEqual(out.gold_parsed, ["1/2"]);
    assert.deepEqual(out.pred_parsed, ["0.5"]);
    assert.equal(typeof out.ms, "number");
  });

  it("verifies a JSONL file into another, keeping fields and adding results and counts", async () => {
    const input = join(dir, "cases.jsonl");
    const output = join(dir, "results.jsonl");
    writeFileSync(
      input,
      [
        JSON.stringify({ gold: "2", pred: "$\\boxed{2}$", id: "a", expected: true }),
        JSON.stringify({ gold: "(0,1)", pred: "$\\boxed{[0,1]}$", id: "b", expected: false }),
        JSON.stringify({ gold: 3, pred: "Final answer: 3" }),
      ].join("\n"),
    );
    const r = await run(["--in", input, "--out", output]);
    assert.equal(r.code, 0, r.stderr);
    const summary = lastJson(r.stdout);
    assert.equal(summary.cases, 3);
    assert.equal(summary.equivalent, 2);
    assert.equal(summary.agreement, 1);
    const lines = readFileSync(output, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      lines.map((l) => [l.id, l.equivalent]),
      [
        ["a", true],
        ["b", false],
        [undefined, true],
      ],
    );
    assert.deepEqual(lines[1].gold_parsed, ["(0, 1)"]);
  });

  it("names the file and line of a broken input line and writes nothing", async () => {
    const input = join(dir, "broken.jsonl");
    const output = join(dir, "never.jsonl");
    writeFileSync(input, `${JSON.stringify({ gold: "1", pred: "1" })}\n{"gold": "1", "pred": \n`);
    const r = await run(["--in", input, "--out", output]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /broken\.jsonl:2: not valid JSON/);
    assert.equal(existsSync(output), false);
  });

  it("names the field of a bad case", async () => {
    const input = join(dir, "field.jsonl");
    writeFileSync(input, `${JSON.stringify({ gold: "1" })}\n`);
    const r = await run(["--in", input, "--out", join(dir, "x.jsonl")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /field\.jsonl:1: field "pred"/);
  });
});
