/**
 * vLLM's runtime LoRA protocol on the real server (loopback, tiny model): load a PEFT adapter under a
 * name, select it per request (its output equals a LocalGenerator with the same adapter attached),
 * unload it (then 404), bad folders and name clashes, requests for two adapters and the base in
 * flight together, the trainer's load-next/unload-previous cycle with requests in flight, the API key.
 */
import assert from "node:assert/strict";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Engine } from "../../src/engine/index.ts";
import { LocalGenerator } from "../../src/generate/local.ts";
import { promptSeed } from "../../src/generate/sampling.ts";
import { loadModel } from "../../src/model/load.ts";
import { addLora, type LoraConfig, loadLora, loraTensors, saveLora } from "../../src/model/lora.ts";
import { seededRandom } from "../../src/model/random.ts";
import { SafetensorsFile } from "../../src/model/safetensors.ts";
import { f32ToBf16 } from "../../src/model/safetensors-dtype.ts";
import { writeSafetensors } from "../../src/model/safetensors-write.ts";
import { Tokenizer } from "../../src/model/tokenizer.ts";
import type { ServedModel } from "../../src/serve/served-model.ts";
import type { RunningServer } from "../../src/serve/server.ts";
import { type Json, parseEvents, post, reference, serveTiny, tinyModelFolder } from "./helpers.ts";

const KEY = "sk-adapters";
const auth = { authorization: `Bearer ${KEY}` };
const LORA: LoraConfig = { rank: 4, alpha: 8, targets: ["q", "v", "o", "up", "down"] };

let root: string;
let base: string;
let served: { model: ServedModel; server: RunningServer };
let baseRef: Reference;
const refs = new Map<string, Reference>();

interface Reference {
  generator: LocalGenerator;
  tokenizer: Tokenizer;
  engine?: Engine;
}

/** Writes a PEFT adapter for the tiny model into `dir`: random A, and B random too (so it changes the output). */
async function makeAdapter(dir: string, seed: number, cfg: LoraConfig = LORA): Promise<string> {
  const engine = new Engine({ threads: 1 });
  try {
    const m = await loadModel(engine, base);
    const adapted = addLora(engine, m.weights, cfg, seed);
    const rand = seededRandom(seed + 100);
    for (const t of loraTensors(adapted))
      if (t.name.endsWith("lora_B")) t.write(Float32Array.from({ length: t.size }, () => rand() - 0.5));
    await mkdir(dir, { recursive: true });
    await saveLora(dir, adapted, cfg, base);
    return dir;
  } finally {
    engine.dispose();
  }
}

/** A LocalGenerator in its own engine with the adapter at `dir` attached: what the server must match. */
async function adapterReference(dir: string): Promise<Reference> {
  const engine = new Engine({ threads: 1 });
  const m = await loadModel(engine, base);
  const tokenizer = Tokenizer.fromDir(base, { eosTokenIds: m.hf.eosTokenIds });
  const { weights } = await loadLora(engine, dir, m.weights);
  const generator = new LocalGenerator(
    engine,
    m.config,
    weights,
    { eosIds: [...tokenizer.eosIds] },
    tokenizer,
  );
  return { generator, tokenizer, engine };
}

/** An adapter folder `name` under the test's root, made once, with its reference. */
async function adapter(name: string, seed: number): Promise<string> {
  const dir = await makeAdapter(join(root, "adapters", name), seed);
  refs.set(name, await adapterReference(dir));
  return dir;
}

const load = (server: RunningServer, body: object, headers: Record<string, string> = auth) =>
  post(server, "/v1/load_lora_adapter", body, headers);
const unload = (server: RunningServer, body: object, headers: Record<string, string> = auth) =>
  post(server, "/v1/unload_lora_adapter", body, headers);

/** A greedy completion of `prompt` by `model` on the server, with its token ids. */
async function complete(model: string, prompt: string, extra: object = {}): Promise<Json> {
  const r = await post(
    served.server,
    "/v1/completions",
    { model, prompt, max_tokens: 12, temperature: 0, return_token_ids: true, ...extra },
    auth,
  );
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

/** A streamed request's events with the API key ("[DONE]" kept as the string). */
async function streamEvents(path: string, body: object): Promise<Json[]> {
  const res = await fetch(`${served.server.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...auth },
    body: JSON.stringify({ ...body, stream: true }),
  });
  assert.equal(res.status, 200);
  return parseEvents(await res.text());
}

/** A streamed request with the API key, read as it comes: `started` once its first event arrived. */
function openAuthStream(body: object): { started: Promise<void>; ended: Promise<Json[]> } {
  let onStarted = () => {};
  const started = new Promise<void>((resolve) => {
    onStarted = resolve;
  });
  const ended = (async () => {
    const res = await fetch(`${served.server.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...auth },
      body: JSON.stringify({ ...body, stream: true }),
    });
    assert.equal(res.status, 200);
    let text = "";
    const decoder = new TextDecoder();
    for await (const bytes of res.body as AsyncIterable<Uint8Array>) {
      text += decoder.decode(bytes, { stream: true });
      if (text.includes("\n\n")) onStarted();
    }
    onStarted();
    return parseEvents(text);
  })();
  return { started, ended };
}

/** The reference's greedy ids for `prompt`. */
async function expectedIds(ref: Reference, prompt: string, maxTokens = 12): Promise<number[]> {
  const [[c]] = await ref.generator.generate([ref.tokenizer.encode(prompt)], { temperature: 0, maxTokens });
  return Array.from(c.ids);
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), "reasonrl-adapters-"));
  const folder = await tinyModelFolder();
  base = folder.dir;
  served = await serveTiny(base, { apiKey: KEY });
  baseRef = await reference(base);
  await adapter("a", 1);
  await adapter("b", 2);
});
after(async () => {
  await served?.server.close();
  await served?.model.dispose();
  await baseRef?.generator.dispose();
  for (const r of refs.values()) {
    await r.generator.dispose();
    r.engine?.dispose();
  }
  await rm(root, { recursive: true, force: true });
});

describe("serve: runtime LoRA adapters (vLLM's protocol)", () => {
  test("before any adapter is loaded, any model name is the base (compatibility)", async () => {
    const body = await complete("some-placeholder", "Compute 3+4.");
    assert.equal(body.model, "tiny");
    assert.deepEqual(body.choices[0].token_ids, await expectedIds(baseRef, "Compute 3+4."));
  });

  test("load: 200 with vLLM's text, listed in /v1/models with root and parent", async () => {
    const dir = join(root, "adapters", "a");
    const r = await load(served.server, { lora_name: "a", lora_path: dir });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body, "Success: LoRA adapter 'a' added successfully.");
    const models = await fetch(`${served.server.url}/v1/models`, { headers: auth }).then((res) => res.json());
    assert.deepEqual(
      models.data.map((m: Json) => [m.id, m.parent, m.root]),
      [
        ["tiny", null, base],
        ["a", "tiny", dir],
      ],
    );
    const one = await fetch(`${served.server.url}/v1/models/a`, { headers: auth }).then((res) => res.json());
    assert.equal(one.parent, "tiny");
  });

  test("model selects the adapter: its output differs from the base's and equals LocalGenerator with it attached", async () => {
    const prompt = "Compute 5+5-1.";
    const viaAdapter = await complete("a", prompt);
    const viaBase = await complete("tiny", prompt);
    assert.equal(viaAdapter.model, "a");
    assert.equal(viaBase.model, "tiny");
    const [ids, baseIds] = [viaAdapter.choices[0].token_ids, viaBase.choices[0].token_ids];
    assert.deepEqual(ids, await expectedIds(refs.get("a") as Reference, prompt));
    assert.deepEqual(baseIds, await expectedIds(baseRef, prompt));
    assert.notDeepEqual(ids, baseIds, "the adapter changes the output");
    assert.deepEqual(viaAdapter.choices[0].prompt_token_ids, Array.from(baseRef.tokenizer.encode(prompt)));
  });

  test("seeded sampling on an adapter: token ids and log-probs equal the local sampler's (token-id prompt)", async () => {
    const ref = refs.get("a") as Reference;
    const prompt = Array.from(ref.tokenizer.encode("Compute 7-2+1."));
    const r = await post(
      served.server,
      "/v1/completions",
      {
        model: "a",
        prompt,
        n: 3,
        seed: 1234,
        temperature: 1,
        max_tokens: 10,
        logprobs: 0,
        return_tokens_as_token_ids: true,
        return_token_ids: true,
      },
      auth,
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const [samples] = await ref.generator.generate([Int32Array.from(prompt)], {
      n: 3,
      seed: 1234,
      temperature: 1,
      maxTokens: 10,
    });
    for (const [j, c] of samples.entries()) {
      const choice = r.body.choices[j];
      assert.deepEqual(choice.token_ids, Array.from(c.ids), `sample ${j}`);
      assert.deepEqual(
        choice.logprobs.tokens,
        Array.from(c.ids, (id) => `token_id:${id}`),
      );
      for (const [t, lp] of choice.logprobs.token_logprobs.entries())
        assert.ok(Math.abs(lp - c.logprobs[t]) < 1e-4, `sample ${j} token ${t}: ${lp} vs ${c.logprobs[t]}`);
    }
  });

  test("several prompts in one request draw as LocalGenerator does, and as each prompt sent alone with promptSeed", async () => {
    const ref = refs.get("a") as Reference;
    const prompts = ["Compute 1+8.", "Compute 9-4.", "Compute 3+3+3."].map((p) =>
      Array.from(ref.tokenizer.encode(p)),
    );
    const sampling = { model: "a", n: 2, temperature: 1, max_tokens: 8, return_token_ids: true };
    const all = await post(
      served.server,
      "/v1/completions",
      { ...sampling, prompt: prompts, seed: 77 },
      auth,
    );
    assert.equal(all.status, 200, JSON.stringify(all.body));
    const local = await ref.generator.generate(
      prompts.map((p) => Int32Array.from(p)),
      { n: 2, seed: 77, temperature: 1, maxTokens: 8 },
    );
    const together = all.body.choices.map((c: Json) => c.token_ids);
    assert.deepEqual(
      together,
      local.flatMap((samples) => samples.map((c) => Array.from(c.ids))),
    );
    for (const [i, prompt] of prompts.entries()) {
      const alone = await post(
        served.server,
        "/v1/completions",
        { ...sampling, prompt, seed: promptSeed(77, i) },
        auth,
      );
      assert.deepEqual(
        alone.body.choices.map((c: Json) => c.token_ids),
        together.slice(2 * i, 2 * i + 2),
        `prompt ${i} alone`,
      );
    }
  });

  test("chat and streams on an adapter carry its output and token ids", async () => {
    const ref = refs.get("a") as Reference;
    const prompt = "Compute 2+9.";
    const expected = await expectedIds(ref, prompt);
    const events = await streamEvents("/v1/completions", {
      model: "a",
      prompt,
      max_tokens: 12,
      temperature: 0,
      return_token_ids: true,
    });
    const chunks = events.filter((e) => e !== "[DONE]");
    assert.ok(chunks.every((c: Json) => c.model === "a"));
    assert.deepEqual(
      chunks.flatMap((c: Json) => c.choices[0].token_ids),
      expected,
    );
    assert.deepEqual(chunks[0].choices[0].prompt_token_ids, Array.from(ref.tokenizer.encode(prompt)));
    const chat = await post(
      served.server,
      "/v1/chat/completions",
      {
        model: "a",
        messages: [{ role: "user", content: prompt }],
        max_tokens: 8,
        temperature: 0,
        return_token_ids: true,
      },
      auth,
    );
    assert.equal(chat.status, 200, JSON.stringify(chat.body));
    const [[c]] = await ref.generator.generate([Int32Array.from(chat.body.prompt_token_ids)], {
      temperature: 0,
      maxTokens: 8,
    });
    assert.deepEqual(chat.body.choices[0].token_ids, Array.from(c.ids));
    assert.equal(chat.body.choices[0].message.content, c.text);
  });

  test("a BF16 adapter (as PEFT saves from a bf16 run) loads and serves like the local sampler with it", async () => {
    const src = await SafetensorsFile.open(join(root, "adapters", "a", "adapter_model.safetensors"));
    const tensors = new Map<string, { dtype: "BF16"; shape: number[]; data: Uint16Array }>();
    for (const [name, entry] of src.tensors)
      tensors.set(name, {
        dtype: "BF16",
        shape: [...entry.shape],
        data: f32ToBf16(await src.readFloat32(name)),
      });
    await src.close();
    const dir = join(root, "adapters", "a-bf16");
    await mkdir(dir, { recursive: true });
    await writeSafetensors(join(dir, "adapter_model.safetensors"), tensors);
    await copyFile(join(root, "adapters", "a", "adapter_config.json"), join(dir, "adapter_config.json"));
    refs.set("a-bf16", await adapterReference(dir));
    assert.equal((await load(served.server, { lora_name: "a-bf16", lora_path: dir })).status, 200);
    const prompt = "Compute 8+1-6.";
    const body = await complete("a-bf16", prompt);
    assert.deepEqual(body.choices[0].token_ids, await expectedIds(refs.get("a-bf16") as Reference, prompt));
    assert.equal((await unload(served.server, { lora_name: "a-bf16" })).status, 200);
  });

  test("name clashes are 400s: a loaded adapter's name, the base's name", async () => {
    const again = await load(served.server, { lora_name: "a", lora_path: join(root, "adapters", "b") });
    assert.equal(again.status, 400);
    assert.equal(again.body.error.message, "The lora adapter 'a' has already been loaded.");
    const baseName = await load(served.server, { lora_name: "tiny", lora_path: join(root, "adapters", "b") });
    assert.equal(baseName.status, 400);
    assert.match(baseName.body.error.message, /name of the base model/);
    // the same name loaded twice at once: one wins, the other is refused
    const both = await Promise.all([
      load(served.server, { lora_name: "twice", lora_path: join(root, "adapters", "b") }),
      load(served.server, { lora_name: "twice", lora_path: join(root, "adapters", "b") }),
    ]);
    assert.deepEqual(both.map((r) => r.status).sort(), [200, 400]);
    assert.equal((await unload(served.server, { lora_name: "twice" })).status, 200);
  });

  test("bad folders: none there is a 404, a folder that does not fit the base a 400 naming the file and what is wrong", async () => {
    const missing = join(root, "nowhere");
    const none = await load(served.server, { lora_name: "x", lora_path: missing });
    assert.equal(none.status, 404);
    assert.match(none.body.error.message, /nowhere.*adapter_config\.json does not exist/);

    const empty = join(root, "bad", "empty");
    await mkdir(empty, { recursive: true });
    const noConfig = await load(served.server, { lora_name: "x", lora_path: empty });
    assert.equal(noConfig.status, 404);

    const wide = await makeAdapter(join(root, "bad", "wide"), 3);
    const config = {
      peft_type: "LORA",
      r: 8,
      lora_alpha: 16,
      target_modules: ["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"],
    };
    await writeFile(join(wide, "adapter_config.json"), JSON.stringify(config));
    const shapes = await load(served.server, { lora_name: "x", lora_path: wide });
    assert.equal(shapes.status, 400);
    assert.match(
      shapes.body.error.message,
      /adapter_model\.safetensors: .*q_proj\.lora_A\.weight is \[4, 32\], but .* needs \[8, 32\]/,
    );

    await writeFile(
      join(wide, "adapter_config.json"),
      JSON.stringify({ ...config, r: 4, target_modules: ["qkv_proj"] }),
    );
    const unknown = await load(served.server, { lora_name: "x", lora_path: wide });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.error.message, /target module qkv_proj is unknown/);

    await writeFile(join(wide, "adapter_config.json"), "{not json");
    const notJson = await load(served.server, { lora_name: "x", lora_path: wide });
    assert.equal(notJson.status, 400);
    assert.match(notJson.body.error.message, /adapter_config\.json: not JSON/);

    const noPath = await load(served.server, { lora_name: "x" });
    assert.equal(noPath.status, 400);
    assert.match(noPath.body.error.message, /Both 'lora_name' and 'lora_path' must be provided/);
    const models = await fetch(`${served.server.url}/v1/models`, { headers: auth }).then((res) => res.json());
    assert.ok(!models.data.some((m: Json) => m.id === "x"), "a failed load leaves nothing behind");
  });

  test("an unknown model is a 404 model_not_found once adapters are in use", async () => {
    const r = await post(
      served.server,
      "/v1/completions",
      { model: "nope", prompt: "Compute 1+1.", max_tokens: 2 },
      auth,
    );
    assert.equal(r.status, 404);
    assert.equal(r.body.error.code, "model_not_found");
    assert.match(r.body.error.message, /'tiny', 'a'/);
  });

  test("two adapters and the base in flight together: each request gets its own model's output", async () => {
    await load(served.server, { lora_name: "b", lora_path: join(root, "adapters", "b") });
    const prompts = ["Compute 1+2.", "Compute 8-3.", "Compute 4+4-4."];
    const jobs = [];
    for (const p of prompts)
      for (const [model, ref] of [
        ["a", refs.get("a")],
        ["b", refs.get("b")],
        ["tiny", baseRef],
      ] as const)
        jobs.push({ model, p, ref: ref as Reference, got: complete(model, p) });
    const streamed = streamEvents("/v1/completions", {
      model: "b",
      prompt: prompts[0],
      max_tokens: 12,
      temperature: 0,
    });
    for (const job of jobs) {
      const body = await job.got;
      assert.equal(body.model, job.model);
      assert.deepEqual(
        body.choices[0].token_ids,
        await expectedIds(job.ref, job.p),
        `${job.model}: ${job.p}`,
      );
    }
    const text = (await streamed)
      .filter((e: Json) => e !== "[DONE]")
      .map((e: Json) => e.choices[0]?.text ?? "")
      .join("");
    const [[c]] = await (refs.get("b") as Reference).generator.generate(
      [baseRef.tokenizer.encode(prompts[0])],
      { temperature: 0, maxTokens: 12 },
    );
    assert.equal(text, c.text);
  });

  test("unload: 200 with vLLM's text, then requests naming it are 404 and its memory is freed", async () => {
    const held = served.model.adapters.held;
    const r = await unload(served.server, { lora_name: "b" });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body, "Success: LoRA adapter 'b' removed successfully.");
    const after = await post(
      served.server,
      "/v1/completions",
      { model: "b", prompt: "Compute 1+1.", max_tokens: 2 },
      auth,
    );
    assert.equal(after.status, 404);
    assert.equal(after.body.error.code, "model_not_found");
    const twice = await unload(served.server, { lora_name: "b" });
    assert.equal(twice.status, 404);
    assert.equal(twice.body.error.message, "The lora adapter 'b' cannot be found.");
    await served.model.adapters.settled();
    assert.equal(served.model.adapters.held, held - 1);
  });

  test("the trainer's cycle: load step-k, unload step-(k-1), with requests in flight on both", async () => {
    const steps = [10, 11, 12, 13];
    for (const k of steps) await adapter(`step-${k}`, k);
    const prompt = "Compute 6+1-3.";
    const long = { max_tokens: 60 };
    const expected = new Map<string, number[]>();
    const expectedLong = new Map<string, number[]>();
    for (const k of steps) {
      const ref = refs.get(`step-${k}`) as Reference;
      expected.set(`step-${k}`, await expectedIds(ref, prompt));
      expectedLong.set(`step-${k}`, await expectedIds(ref, prompt, long.max_tokens));
    }
    assert.notDeepEqual(expected.get("step-10"), expected.get("step-11"));

    let previous = "step-10";
    const first = await load(served.server, {
      lora_name: previous,
      lora_path: join(root, "adapters", previous),
    });
    assert.equal(first.status, 200);
    const before = served.model.adapters.held;
    for (const k of steps.slice(1)) {
      const next = `step-${k}`;
      // requests on the previous adapter in flight while the next loads (the load waits its turn)
      const duringLoad = [complete(previous, prompt), complete(previous, prompt, { n: 2 })];
      const loaded = await load(served.server, { lora_name: next, lora_path: join(root, "adapters", next) });
      assert.equal(loaded.status, 200, JSON.stringify(loaded.body));
      // a stream on the previous adapter has begun when it is unloaded: it finishes on that adapter
      const open = openAuthStream({
        model: previous,
        prompt,
        temperature: 0,
        return_token_ids: true,
        ...long,
      });
      await open.started;
      const onNext = complete(next, prompt);
      assert.equal((await unload(served.server, { lora_name: previous })).status, 200);
      assert.equal(
        served.model.adapters.held,
        before + 1,
        "the unloaded adapter is held while a request uses it",
      );
      const refused = await post(
        served.server,
        "/v1/completions",
        { model: previous, prompt, max_tokens: 2 },
        auth,
      );
      assert.equal(refused.status, 404, "a new request naming it is refused at once");
      for (const body of await Promise.all(duringLoad)) {
        assert.equal(body.model, previous);
        for (const c of body.choices) assert.deepEqual(c.token_ids, expected.get(previous), previous);
      }
      const streamed = (await open.ended).filter((e) => e !== "[DONE]");
      assert.deepEqual(
        streamed.flatMap((e: Json) => e.choices[0].token_ids),
        expectedLong.get(previous),
        `${previous}, streamed across its unload`,
      );
      assert.deepEqual((await onNext).choices[0].token_ids, expected.get(next), next);
      await served.model.adapters.settled();
      assert.equal(served.model.adapters.held, before, `${previous} freed once its last request finished`);
      previous = next;
    }
    assert.equal((await unload(served.server, { lora_name: previous })).status, 200);
  });

  test("the adapter endpoints need the API key like every /v1 route", async () => {
    const dir = join(root, "adapters", "a");
    const noKey = await load(served.server, { lora_name: "k", lora_path: dir }, {});
    assert.equal(noKey.status, 401);
    const wrongKey = await unload(served.server, { lora_name: "a" }, { authorization: "Bearer nope" });
    assert.equal(wrongKey.status, 401);
    const models = await fetch(`${served.server.url}/v1/models`, { headers: auth }).then((res) => res.json());
    assert.ok(
      models.data.some((m: Json) => m.id === "a"),
      "the refused unload changed nothing",
    );
  });
});
