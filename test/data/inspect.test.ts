/**
 * `reasonrl data inspect` on a fixture with known contents, and the `data`
 * commands through their commander registration (in process): inspect, steps
 * and curate with --json.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { Command } from "commander";
import { register } from "../../src/cli/data.ts";
import { describeInspect, inspectFile, percentiles } from "../../src/data/inspect.ts";

const root = await mkdtemp(join(tmpdir(), "reasonrl-inspect-"));
after(() => rm(root, { recursive: true, force: true }));

const rows = [
  { id: "r1", problem: "What is 6 times 7?", answer: "42", solution: "6*7 = 42" },
  { id: "r2", problem: "Half of one?", answer: "\\frac{1}{2}" },
  { id: "r3", problem: "Solve x^2 = x.", answer: "(0, 1)", extra: null },
  { id: "r4", problem: "what is  6 times 7 ?", answer: "42" },
  { id: "r5", problem: "Name the day.", answer: "\\text{Tuesday}" },
  { id: "r6", problem: "Simplify sqrt(12).", answer: "2\\sqrt{3}" },
  { id: "r7", problem: "No answer here.", answer: "" },
];

async function fixture(): Promise<string> {
  const path = join(root, "problems.jsonl");
  await writeFile(path, [...rows.map((r) => JSON.stringify(r)), "{bad"].join("\n"));
  return path;
}

test("percentiles by nearest rank", () => {
  assert.deepEqual(percentiles([5, 1, 3, 2, 4]), {
    count: 5,
    min: 1,
    p5: 1,
    p25: 2,
    p50: 3,
    p75: 4,
    p95: 5,
    max: 5,
    mean: 3,
  });
  assert.equal(percentiles([]), null);
});

test("inspect: rows, bad rows, fill rates, answer kinds, lengths and exact duplicates", async () => {
  const r = await inspectFile(await fixture());
  assert.equal(r.rows, 7);
  assert.equal(r.bad, 1);
  assert.equal(r.badRows[0].line, 8);
  assert.deepEqual(
    r.fields.map((f) => [f.name, f.filled]),
    [
      ["id", 7],
      ["problem", 7],
      ["answer", 6],
      ["solution", 1],
      ["extra", 0],
    ],
  );
  assert.deepEqual(r.answerKinds, {
    integer: 2,
    fraction: 1,
    expression: 1,
    "interval/tuple": 1,
    text: 1,
    unparsed: 0,
    missing: 1,
  });
  assert.equal(r.lengths.problem?.count, 7);
  assert.equal(r.lengths.problem?.max, "what is  6 times 7 ?".length);
  assert.equal(r.lengths.solution?.count, 1);
  assert.equal(r.lengths.answer?.min, 2);
  assert.deepEqual(r.duplicates, { rows: 1, groups: 1, examples: [["r1", "r4"]] });
  const text = describeInspect(r);
  assert.match(text, /problems\.jsonl: 7 rows, 1 bad/);
  assert.match(
    text,
    /answer kinds \(answer\): integer 2, fraction 1, expression 1, interval\/tuple 1, text 1, missing 1/,
  );
  assert.match(text, /exact duplicates: 1 rows repeat an earlier problem \(1 texts\), e\.g\. r1 = r4/);
});

async function cli(args: string[]): Promise<string[]> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    const program = new Command().exitOverride();
    register(program);
    await program.parseAsync(args, { from: "user" });
  } finally {
    console.log = log;
  }
  return lines;
}

test("data inspect --json prints one JSON object", async () => {
  const lines = await cli(["data", "inspect", await fixture(), "--json"]);
  assert.equal(lines.length, 1);
  const result = JSON.parse(lines[0]);
  assert.equal(result.rows, 7);
  assert.equal(result.answer_kinds.integer, 2);
  assert.equal(result.answer_field, "answer");
  assert.equal(result.bad_rows[0].line, 8);
});

test("data steps lists the registered steps", async () => {
  const lines = await cli(["data", "steps"]);
  assert.deepEqual(
    lines[0].split("\n").map((l) => l.split(/\s+/)[0]),
    ["verifiable", "dedupe", "decontaminate", "length", "language", "difficulty", "judge", "mix", "write"],
  );
});

test("data curate --json runs a recipe file with --set and prints the funnel as JSON", async () => {
  const path = await fixture();
  const recipe = join(root, "recipe.yaml");
  await writeFile(
    recipe,
    [
      "name: cli",
      "sources:",
      `  - { name: p, path: ${JSON.stringify(path)} }`,
      "steps:",
      "  - step: verifiable",
      "  - step: dedupe",
      "  - step: write",
    ].join("\n"),
  );
  const out = join(root, "cli-out");
  const lines = await cli([
    "data",
    "curate",
    recipe,
    "--out",
    out,
    "--set",
    "steps.write.path=final.jsonl",
    "--json",
  ]);
  assert.equal(lines.length, 1);
  const result = JSON.parse(lines[0]);
  assert.equal(result.recipe, "cli");
  assert.deepEqual(
    result.funnel.map((l: { step: string; kept: number }) => [l.step, l.kept]),
    [
      ["load", 6],
      ["verifiable", 6],
      ["dedupe", 5],
      ["write", 5],
    ],
  );
  assert.equal((await readFile(join(out, "final.jsonl"), "utf8")).trim().split("\n").length, 5);
});
