/** Problems from JSONL: bad rows are reported by file and line; the synthetic source is the task's split. */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { loadProblems } from "../../src/data/problems.ts";

const root = await mkdtemp(join(tmpdir(), "reasonrl-problems-"));
after(() => rm(root, { recursive: true, force: true }));

const rows = [
  JSON.stringify({ id: "a", problem: "1+1?", answer: "2" }),
  "",
  JSON.stringify({ problem: "2+2?", answer: 4 }),
  JSON.stringify({ problem: "no answer" }),
  "{broken",
  JSON.stringify({ question: "other field", answer: "1" }),
];

test("a missing field stops the load with file and line", async () => {
  const path = join(root, "train.jsonl");
  await writeFile(path, rows.join("\n"));
  await assert.rejects(loadProblems({ path }, "train"), (e: Error) => {
    assert.match(e.message, /train\.jsonl:4: field "answer" is missing or empty/);
    return true;
  });
});

test("onBadRow: skip reports each bad row and keeps the rest", async () => {
  const path = join(root, "train.jsonl");
  await writeFile(path, rows.join("\n"));
  const warnings: string[] = [];
  const problems = await loadProblems({ path, onBadRow: "skip" }, "train", (m) => warnings.push(m));
  assert.deepEqual(
    problems.map((p) => [p.id, p.problem, p.answer, p.origin]),
    [
      ["a", "1+1?", "2", `${path}:1`],
      [`${path}:3`, "2+2?", "4", `${path}:3`],
    ],
  );
  assert.equal(warnings.length, 3);
  assert.match(warnings[0], /:4: field "answer"/);
  assert.match(warnings[1], /:5: not valid JSON/);
  assert.match(warnings[2], /:6: field "problem"/);
});

test("field names, limit, and the synthetic task's splits", async () => {
  const path = join(root, "q.jsonl");
  await writeFile(path, `${JSON.stringify({ q: "x?", a: "1" })}\n${JSON.stringify({ q: "y?", a: "2" })}\n`);
  const ps = await loadProblems({ path, problemField: "q", answerField: "a", limit: 1 }, "train");
  assert.deepEqual(
    ps.map((p) => p.problem),
    ["x?"],
  );
  const task = { maxOperands: 2, maxDigits: 1 };
  const train = await loadProblems({ synthetic: "arithmetic", task, count: 20 }, "train");
  const held = await loadProblems({ synthetic: "arithmetic", task, count: 20 }, "heldout");
  const trainSet = new Set(train.map((p) => p.problem));
  assert.ok(held.every((p) => !trainSet.has(p.problem)));
  assert.equal(train[0].row.answer, train[0].answer);
  await assert.rejects(loadProblems({ path: join(root, "missing.jsonl") }, "train"), /missing\.jsonl/);
});
