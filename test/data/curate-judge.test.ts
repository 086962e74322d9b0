/**
 * The `judge` step against a real HTTP server on loopback that stands in for
 * an LLM endpoint and answers scripted verdicts (KEEP, DROP with a reason, a
 * verdict after a reasoning model's thinking, and one with no verdict at all):
 * dropped rows carry the judge's reason, the unparseable answer is kept or
 * dropped as asked, verdicts are cached (a rerun asks nothing, a failed run
 * resumes with what is missing), and the request carries the prompt, model,
 * temperature and API key.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  CONTAMINATION_PROMPT,
  JUDGE_PROMPT,
  JudgeParams,
  judgeStep,
  parseVerdict,
} from "../../src/data/curate/steps/judge.ts";
import { context, ids, reasons, row } from "./helpers.ts";

const root = await mkdtemp(join(tmpdir(), "reasonrl-judge-"));

/** The scripted judge: its answer by a word of the problem; "zeta" fails with HTTP 500 while `failZeta`. */
const SCRIPT: Record<string, string> = {
  alpha: "KEEP",
  beta: "DROP: it asks two questions",
  gamma: "<think>\nIs this KEEP or DROP? It refers to a figure.\n</think>\n**DROP** - needs a figure",
  delta: "I cannot decide.",
  epsilon: "Verdict: keep",
  zeta: "KEEP",
  theta: "DROP: the same problem, reworded",
  iota: "KEEP",
};
const seen: {
  auth?: string;
  body: { model: string; temperature: number; max_tokens: number; messages: { content: string }[] };
}[] = [];
let failZeta = false;
const server = createServer(async (req, res) => {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  seen.push({ auth: req.headers.authorization, body });
  const content: string = body.messages.at(-1).content;
  const word = Object.keys(SCRIPT).find((w) => content.includes(w)) ?? "";
  if (word === "zeta" && failZeta) {
    res.writeHead(500, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { message: "scripted failure" } }));
    return;
  }
  res.writeHead(200, { "content-type": "application/json" });
  res.end(
    JSON.stringify({
      choices: [
        { index: 0, message: { role: "assistant", content: SCRIPT[word] ?? "?" }, finish_reason: "stop" },
      ],
      usage: { completion_tokens: 3 },
    }),
  );
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await rm(root, { recursive: true, force: true });
});

const rows = () =>
  ["alpha", "beta", "gamma", "delta", "epsilon"].map((w, i) =>
    row(w, `Find x if x + ${i} = 42 (${w}).`, String(42 - i), { index: i }),
  );

test("parseVerdict reads KEEP / DROP: reason in the forms models write them, and nothing else", () => {
  const cases: [string, ReturnType<typeof parseVerdict>][] = [
    ["KEEP", { verdict: "keep", reason: "" }],
    ["DROP: asks two questions", { verdict: "drop", reason: "asks two questions" }],
    ["DROP", { verdict: "drop", reason: "" }],
    ["**DROP** - needs a figure.", { verdict: "drop", reason: "needs a figure." }],
    ["- DROP: it is a proof (show that ...)", { verdict: "drop", reason: "it is a proof (show that ...)" }],
    ["Verdict: keep", { verdict: "keep", reason: "" }],
    [
      "The problem is clear.\n\nFinal answer: DROP: several parts",
      { verdict: "drop", reason: "several parts" },
    ],
    ["<think>Maybe DROP? No.</think>\n`KEEP`", { verdict: "keep", reason: "" }],
    ["DROP: two parts\nOn second thought:\nKEEP", { verdict: "keep", reason: "" }],
    ["I think we should KEEP it.", { verdict: "keep", reason: "" }],
    ["keep.", { verdict: "keep", reason: "" }],
    ["Keep in mind that it has two parts.", null],
    ["KEEP or DROP? Hard to say.", null],
    ["<think>KEEP</think>\nNo idea.", null],
    ["", null],
  ];
  for (const [text, expected] of cases) assert.deepEqual(parseVerdict(text), expected, JSON.stringify(text));
});

test("verdicts from an endpoint: reasons carried, unparseable kept or dropped, cached, request as configured", async () => {
  const out = join(root, "run");
  process.env.REASONRL_TEST_JUDGE_KEY = "secret";
  const params = (extra: object = {}) =>
    JudgeParams.parse({
      target: { endpoint: url, modelName: "judge-model", apiKeyEnv: "REASONRL_TEST_JUDGE_KEY" },
      concurrency: 2,
      ...extra,
    });
  const first = await judgeStep.run(rows(), params(), context(out));
  assert.equal(seen.length, 5);
  assert.deepEqual(ids(first.kept), ["alpha", "delta", "epsilon"]);
  assert.deepEqual(
    first.dropped.map((d) => [d.row.id, d.reason, d.detail]),
    [
      ["beta", "judge-drop", "it asks two questions"],
      ["gamma", "judge-drop", "needs a figure"],
    ],
  );
  assert.deepEqual(first.details?.verdicts, { keep: 2, drop: 2, unparseable: 1 });
  const alpha = seen.find((s) => s.body.messages[0].content.includes("alpha"));
  assert.equal(alpha?.auth, "Bearer secret");
  assert.equal(alpha?.body.model, "judge-model");
  assert.equal(alpha?.body.temperature, 0);
  assert.equal(alpha?.body.max_tokens, 512);
  assert.equal(
    alpha?.body.messages[0].content,
    JUDGE_PROMPT.replace("{problem}", "Find x if x + 0 = 42 (alpha).").replace("{answer}", "42"),
  );

  // The same settings with onUnparseable: drop: every verdict from the cache.
  const second = await judgeStep.run(rows(), params({ onUnparseable: "drop" }), context(out));
  assert.equal(seen.length, 5);
  assert.deepEqual(ids(second.kept), ["alpha", "epsilon"]);
  assert.deepEqual(reasons(second.dropped), {
    beta: "judge-drop",
    gamma: "judge-drop",
    delta: "judge-unparseable",
  });
  assert.equal(second.dropped.find((d) => d.row.id === "delta")?.detail, "I cannot decide.");
  assert.equal(second.details?.cached, 5);

  // Another prompt is another cache: asked again, with the template filled in.
  const third = await judgeStep.run(
    rows().slice(0, 2),
    params({ prompt: "Is this fine? {problem} Gold: {answer}.", system: "Be strict." }),
    context(out),
  );
  assert.equal(seen.length, 7);
  assert.deepEqual(ids(third.kept), ["alpha"]);
  const alphaAgain = seen.slice(-2).find((s) => s.body.messages[1]?.content.includes("alpha"));
  assert.deepEqual(
    alphaAgain?.body.messages.map((m) => m.content),
    ["Be strict.", "Is this fine? Find x if x + 0 = 42 (alpha). Gold: 42."],
  );
  assert.equal((await readdir(join(out, "cache"))).filter((f) => f.endsWith(".jsonl")).length, 2);
});

test("a failing request stops the step; the verdicts already received are kept and not asked again", async () => {
  const out = join(root, "resume");
  const all = [...rows(), row("zeta", "Find y if y - 1 = 1 (zeta).", "2", { index: 5 })];
  const params = JudgeParams.parse({
    target: { endpoint: url, modelName: "judge-model", retries: 0 },
    concurrency: 1,
  });
  failZeta = true;
  const before = seen.length;
  await assert.rejects(judgeStep.run(all, params, context(out)), /HTTP 500: scripted failure/);
  assert.equal(seen.length - before, 6);
  failZeta = false;
  const again = await judgeStep.run(all, params, context(out));
  assert.equal(seen.length - before, 7);
  assert.equal(again.details?.asked, 1);
  assert.deepEqual(ids(again.kept), ["alpha", "delta", "epsilon", "zeta"]);
});

test("benchmark mode: each labelled row beside its benchmark problem, the contamination prompt; rows without a match not asked", async () => {
  const dir = join(root, "benchmarks");
  await mkdir(dir, { recursive: true });
  const benchmark = [
    { id: "b-1", problem: "How many diagonals does a convex theta-gon with 7 sides have?", answer: "14" },
    { id: "b-2", problem: "How many diagonals does a convex iota-gon with 9 sides have?", answer: "27" },
  ];
  await writeFile(join(dir, "b.jsonl"), benchmark.map((b) => JSON.stringify(b)).join("\n"));
  const rows = [
    row("leak", "Count the diagonals of a convex 7-sided theta-gon.", "14", {
      labels: { benchmark_relation: "candidate", benchmark_match: "b-1" },
    }),
    row("sibling", "How many diagonals does a convex polygon with 10 sides have?", "35", {
      labels: { benchmark_relation: "lookalike", benchmark_match: "b-2" },
    }),
    row("plain", "What is 1 + 1?", "2"),
  ];
  const params = JudgeParams.parse({
    target: { endpoint: url, modelName: "judge-model" },
    benchmarks: { dir, names: ["b"] },
  });
  const before = seen.length;
  const out = await judgeStep.run(rows, params, context(join(root, "bench-mode")));
  assert.equal(seen.length - before, 2);
  assert.deepEqual(ids(out.kept), ["sibling", "plain"]);
  assert.deepEqual(
    out.dropped.map((d) => [d.row.id, d.reason, d.detail]),
    [["leak", "judge-drop", "b-1: the same problem, reworded"]],
  );
  assert.equal(out.details?.notMatched, 1);
  const asked = seen.slice(before).find((s) => s.body.messages[0].content.includes("theta"));
  assert.equal(
    asked?.body.messages[0].content,
    CONTAMINATION_PROMPT.replace("{problem}", rows[0].problem)
      .replace("{answer}", "14")
      .replace("{benchmark_problem}", benchmark[0].problem)
      .replace("{benchmark_answer}", "14"),
  );
  // A missing benchmark file is an error naming it.
  await assert.rejects(
    judgeStep.run(
      rows,
      JudgeParams.parse({ target: params.target, benchmarks: { dir, names: ["nope"] } }),
      context(root),
    ),
    /no benchmark file .*nope\.jsonl/,
  );
});
