/**
 * What the model-calling curation steps key their caches by (model-target.ts): the model, not
 * where it is found. Two fake OpenAI servers (hono, test/eval/fake-openai.ts) serve different
 * model ids on the same port one after the other: the second is asked again, not answered from
 * the first's cache. A tiny local model folder copied elsewhere reuses the cache; the same
 * folder with retrained weights (same shapes, other values) does not.
 */
import assert from "node:assert/strict";
import { cp, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { targetIdentity } from "../../src/data/curate/model-target.ts";
import { DifficultyParams, difficultyStep } from "../../src/data/curate/steps/difficulty.ts";
import { JudgeParams, judgeStep } from "../../src/data/curate/steps/judge.ts";
import { type ChatRequest, chatCompletion, fakeOpenAI, lastMessage } from "../eval/fake-openai.ts";
import { makeTinyCharModel } from "../model/tiny-char-model.ts";
import { context, ids, row } from "./helpers.ts";
import { makeTinyModel } from "./model-fixture.ts";

const root = await mkdtemp(join(tmpdir(), "reasonrl-model-target-"));
after(() => rm(root, { recursive: true, force: true }));

/** Two problems "What is i + i?" with gold 2i. */
const rows = () => [1, 2].map((i) => row(`s${i}`, `What is ${i} + ${i}?`, `${2 * i}`, { index: i }));

/** The problem's gold in a request ("What is 2 + 2?" -> 4). */
const goldOf = (r: ChatRequest) => 2 * Number(/What is (\d+)/.exec(lastMessage(r))?.[1]);
const boxed = (x: number) => `The answer is $\\boxed{${x}}$.`;

/** The JSONL cache files of a step's cache folder. */
const cacheFiles = async (dir: string) => (await readdir(dir)).filter((f) => f.endsWith(".jsonl")).sort();

test("an endpoint's identity is its base URL and the served model id, asked when not given", async (t) => {
  const a = await fakeOpenAI({
    model: "model-a",
    answer: (r) => chatCompletion(r, [{ text: "", tokens: 1 }]),
  });
  t.after(() => a.close());
  const asked = await targetIdentity({ endpoint: a.url });
  assert.deepEqual(asked, { kind: "endpoint", url: `${a.url}/v1`, model: "model-a" });
  // The same server written another way, and the same model named: the same identity.
  assert.deepEqual(await targetIdentity({ endpoint: `${a.url}/v1/`, modelName: "model-a" }), asked);
  // The API key is not part of it.
  assert.deepEqual(await targetIdentity({ endpoint: a.url, apiKey: "secret" }), asked);
  await assert.rejects(
    targetIdentity({ model: join(root, "no-such-model") }),
    /target: model folder .*no-such-model: not found/,
  );
  await assert.rejects(targetIdentity({ gguf: root }), /target: gguf file .*: a folder, not a file/);
});

test("difficulty: another model served on the same port is asked again, not answered from the first's cache", async (t) => {
  const out = join(root, "endpoint");
  const cache = join(out, "cache");
  const a = await fakeOpenAI({
    model: "model-a",
    answer: (r) => chatCompletion(r, [{ text: boxed(goldOf(r)), tokens: 9 }]),
  });
  const params = (modelName?: string) =>
    DifficultyParams.parse({
      target: { endpoint: a.url, ...(modelName ? { modelName } : {}) },
      k: 1,
      temperature: 0,
      maxTokens: 16,
      label: { easy: 1, hard: 0 },
    });
  const first = await difficultyStep.run(rows(), params(), context(out));
  await a.close();
  assert.equal(a.requests.length, 2);
  assert.deepEqual(
    first.kept.map((r) => r.labels.pass_rate),
    [1, 1],
  );

  // Model B on the same port, always wrong: asked about both problems, its own pass rates.
  const b = await fakeOpenAI({
    model: "model-b",
    port: a.port,
    answer: (r) => chatCompletion(r, [{ text: boxed(-1), tokens: 5 }]),
  });
  t.after(() => b.close());
  const second = await difficultyStep.run(rows(), params(), context(out));
  assert.equal(b.requests.length, 2, "model B is asked, not read from model A's cache");
  assert.deepEqual([second.details?.cached, second.details?.sampled], [0, 2]);
  assert.deepEqual(
    second.kept.map((r) => [r.labels.pass_rate, r.labels.difficulty]),
    [
      [0, "hard"],
      [0, "hard"],
    ],
  );
  const files = await cacheFiles(cache);
  assert.equal(files.length, 2, `one cache per model: ${files.join(", ")}`);
  const settings = await Promise.all(
    files.map(async (f) => JSON.parse(await readFile(join(cache, f.replace(/l$/, "")), "utf8")).target),
  );
  assert.deepEqual(settings.map((s) => s.model).sort(), ["model-a", "model-b"]);

  // Model B named in the recipe is the model B just asked: its cache, nothing asked.
  const named = await difficultyStep.run(rows(), params("model-b"), context(out));
  assert.equal(b.requests.length, 2);
  assert.deepEqual([named.details?.cached, named.details?.sampled], [2, 0]);
  assert.equal((await cacheFiles(cache)).length, 2);
});

test("judge: another model served on the same port gives its own verdicts", async (t) => {
  const out = join(root, "judge");
  const judgeAnswering = (model: string, verdict: string, port?: number) =>
    fakeOpenAI({ model, port, answer: (r) => chatCompletion(r, [{ text: verdict, tokens: 2 }]) });
  const params = (url: string) => JudgeParams.parse({ target: { endpoint: url } });
  const a = await judgeAnswering("judge-a", "KEEP");
  const first = await judgeStep.run(rows(), params(a.url), context(out));
  await a.close();
  assert.deepEqual(ids(first.kept), ["s1", "s2"]);

  const b = await judgeAnswering("judge-b", "DROP: too easy", a.port);
  t.after(() => b.close());
  const second = await judgeStep.run(rows(), params(a.url), context(out));
  assert.equal(b.requests.length, 2, "judge B is asked, not read from judge A's cache");
  assert.deepEqual(ids(second.kept), []);
  assert.deepEqual(
    second.dropped.map((d) => d.detail),
    ["too easy", "too easy"],
  );
});

test("difficulty: a model folder copied elsewhere reuses the cache; retrained weights in the same folder do not", async () => {
  const out = join(root, "local");
  const cache = join(out, "cache");
  const original = await makeTinyModel(join(root, "original"));
  const params = (dir: string) =>
    DifficultyParams.parse({ target: { model: dir, threads: 1 }, k: 1, temperature: 0, maxTokens: 8 });
  const first = await difficultyStep.run(rows(), params(original), context(out));
  assert.deepEqual([first.details?.cached, first.details?.sampled], [0, 2]);

  const copy = join(root, "elsewhere", "copied-model");
  await cp(original, copy, { recursive: true });
  const fromCopy = await difficultyStep.run(rows(), params(copy), context(out));
  assert.deepEqual(
    [fromCopy.details?.cached, fromCopy.details?.sampled],
    [2, 0],
    "the copy is the same model",
  );
  assert.equal((await cacheFiles(cache)).length, 1);

  // Retrained: the same config and tokenizer, weights of the same shapes drawn from another seed.
  const retrained = await makeTinyCharModel(join(root, "retrained"), {
    extraCharacters: `${Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join("")}\n`,
    maxPositions: 512,
    seed: 6,
  });
  assert.equal(
    await readFile(join(retrained, "config.json"), "utf8"),
    await readFile(join(copy, "config.json"), "utf8"),
  );
  const weights = (dir: string) => readFile(join(dir, "model.safetensors"));
  assert.equal((await weights(retrained)).length, (await weights(copy)).length);
  assert.notDeepEqual(await weights(retrained), await weights(copy));
  await cp(join(retrained, "model.safetensors"), join(copy, "model.safetensors"));
  const afterRetraining = await difficultyStep.run(rows(), params(copy), context(out));
  assert.deepEqual(
    [afterRetraining.details?.cached, afterRetraining.details?.sampled],
    [0, 2],
    "retrained weights are another model",
  );
  assert.equal((await cacheFiles(cache)).length, 2);
});
