/**
 * The fleet client sends exactly the documented requests of each protocol (paths, bodies,
 * headers) for generate, adapter load and unload and full-weights reload, and reads the answers
 * into token ids, log-probs and finish reasons; a fake vLLM and a fake SGLang record every call.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { FleetGenerator } from "../../src/generate/fleet.ts";
import { promptSeed } from "../../src/generate/sampling.ts";
import { type FakeServer, fakeServer, generateCalls, sampleOf } from "./fleet-fakes.ts";

const servers: FakeServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())));

async function started(
  protocol: "vllm" | "sglang",
  o: Parameters<typeof fakeServer>[1] = {},
): Promise<FakeServer> {
  const s = await fakeServer(protocol, o);
  servers.push(s);
  return s;
}

const prompts = [Int32Array.from([5, 6, 7]), Int32Array.from([8, 9])];

/** What the fake answers for prompt `p`, n samples, `maxTokens`. */
function expected(p: Int32Array, n: number, maxTokens: number) {
  return Array.from({ length: n }, (_, j) => {
    const s = sampleOf(p.length, j, maxTokens);
    return { ids: s.ids, logprobs: s.logprobs, finishReason: s.finish, text: s.ids.join(" ") };
  });
}

function plain(groups: Awaited<ReturnType<FleetGenerator["generate"]>>) {
  return groups.map((g) =>
    g.map((c) => ({
      ids: Array.from(c.ids),
      logprobs: Array.from(c.logprobs),
      finishReason: c.finishReason,
      text: c.text,
    })),
  );
}

describe("vllm", () => {
  test("generate: one POST /v1/completions per prompt, token ids in, token ids and sampler log-probs out", async () => {
    const s = await started("vllm", { model: "qwen" });
    const fleet = new FleetGenerator({
      endpoints: [`${s.url}/v1/`],
      protocol: "vllm",
      model: "qwen",
      apiKey: "k1",
    });
    const groups = await fleet.generate(prompts, { n: 2, seed: 11, temperature: 0.7, maxTokens: 3 });
    assert.deepEqual(plain(groups), [expected(prompts[0], 2, 3), expected(prompts[1], 2, 3)]);
    const calls = generateCalls(s.calls);
    assert.equal(calls.length, 2);
    for (const [i, p] of prompts.entries()) {
      const call = calls.find((c) => c.body.prompt.length === p.length);
      assert.ok(call, `prompt ${i} was sent`);
      assert.equal(call.method, "POST");
      assert.equal(call.path, "/v1/completions");
      assert.equal(call.authorization, "Bearer k1");
      assert.deepEqual(call.body, {
        model: "qwen",
        prompt: Array.from(p),
        n: 2,
        seed: promptSeed(11, i),
        temperature: 0.7,
        top_p: 1,
        max_tokens: 3,
        logprobs: 0,
        return_token_ids: true,
        return_tokens_as_token_ids: true,
      });
    }
    const report = fleet.lastReport();
    assert.equal(report?.logprobs, "raw", "vLLM's default --logprobs-mode is raw_logprobs");
    assert.deepEqual(
      {
        requests: report?.requests,
        retries: report?.retries,
        prompts: report?.prompts,
        answered: report?.answered,
      },
      { requests: 2, retries: 0, prompts: 2, answered: [2] },
    );
    assert.equal(
      new FleetGenerator({ endpoints: [s.url], protocol: "vllm", model: "qwen", logprobs: "processed" })
        .logprobs,
      "processed",
    );
  });

  test("top_k, min_p and stop are sent when set; finish reason length when cut", async () => {
    const s = await started("vllm");
    const fleet = new FleetGenerator({
      endpoints: [s.url],
      protocol: "vllm",
      model: "base",
      sendSeed: false,
    });
    const [[c]] = await fleet.generate([prompts[0]], {
      topK: 5,
      minP: 0.1,
      topP: 0.9,
      stop: ["\n\n"],
      maxTokens: 2,
    });
    assert.equal(c.finishReason, "length");
    const [call] = generateCalls(s.calls);
    assert.equal(call.body.top_k, 5);
    assert.equal(call.body.min_p, 0.1);
    assert.equal(call.body.top_p, 0.9);
    assert.deepEqual(call.body.stop, ["\n\n"]);
    assert.equal("seed" in call.body, false, "sendSeed: false sends no seed");
  });

  test("older vLLM: token ids read from the 'token_id:N' strings of return_tokens_as_token_ids", async () => {
    const s = await started("vllm", { tokenIds: "token_id_strings" });
    const fleet = new FleetGenerator({ endpoints: [s.url], protocol: "vllm", model: "base" });
    assert.deepEqual(plain(await fleet.generate(prompts, { n: 3 })), [
      expected(prompts[0], 3, 256),
      expected(prompts[1], 3, 256),
    ]);
  });

  test("an answer without token ids is a clear error naming the endpoint and what vLLM needs", async () => {
    const s = await started("vllm", { tokenIds: "none" });
    const fleet = new FleetGenerator({ endpoints: [s.url], protocol: "vllm", model: "base" });
    await assert.rejects(fleet.generate(prompts), (e: Error) => {
      assert.match(e.message, new RegExp(`${s.url}: POST /v1/completions`));
      assert.match(e.message, /return_token_ids/);
      return true;
    });
    assert.equal(generateCalls(s.calls).length <= 2, true, "not retried");
  });

  test("adapters: load and unload on every endpoint, requests name the adapter in between", async () => {
    const a = await started("vllm");
    const b = await started("vllm");
    const fleet = new FleetGenerator({
      endpoints: [a.url, b.url],
      protocol: "vllm",
      model: "base",
      apiKey: "k",
    });
    const loaded = await fleet.loadAdapter("step-1", "/runs/x/adapters/step-1");
    assert.deepEqual({ endpoints: loaded.endpoints, pending: loaded.pending }, { endpoints: 2, pending: 0 });
    for (const s of [a, b]) {
      const load = s.calls.find((c) => c.path === "/v1/load_lora_adapter");
      assert.deepEqual(load, {
        method: "POST",
        path: "/v1/load_lora_adapter",
        body: { lora_name: "step-1", lora_path: "/runs/x/adapters/step-1" },
        authorization: "Bearer k",
      });
    }
    assert.equal(fleet.model, "step-1");
    await fleet.generate(prompts);
    const sent = [...generateCalls(a.calls), ...generateCalls(b.calls)];
    assert.equal(sent.length, 2);
    for (const c of sent) assert.equal(c.body.model, "step-1");
    await fleet.unloadAdapter("step-1");
    for (const s of [a, b]) {
      assert.deepEqual(s.calls.at(-1)?.body, { lora_name: "step-1" });
      assert.equal(s.calls.at(-1)?.path, "/v1/unload_lora_adapter");
      assert.equal(s.adapters.size, 0);
    }
    assert.equal(fleet.model, "base", "back to the base model");
    assert.throws(() => fleet.setModel("step-1"), /no model "step-1".*adapters loaded: none/);
  });

  test("a refused adapter (bad path) fails the load naming the endpoint; the endpoints that took it unload it", async () => {
    const a = await started("vllm");
    const b = await started("vllm");
    b.fail = (call) => (call.path === "/v1/load_lora_adapter" ? 400 : null);
    const fleet = new FleetGenerator({ endpoints: [a.url, b.url], protocol: "vllm", model: "base" });
    await assert.rejects(fleet.loadAdapter("step-2", "/x/step-2"), (e: Error) => {
      assert.match(
        e.message,
        new RegExp(
          `adapter step-2 \\(/x/step-2\\) was refused: ${b.url}: POST /v1/load_lora_adapter: HTTP 400`,
        ),
      );
      return true;
    });
    assert.equal(a.adapters.size, 0, "rolled back");
    assert.equal(a.calls.at(-1)?.path, "/v1/unload_lora_adapter");
    assert.equal(fleet.model, "base");
    // the name is free again
    b.fail = null;
    await fleet.loadAdapter("step-2", "/x/step-2");
    assert.deepEqual([...a.adapters.keys(), ...b.adapters.keys()], ["step-2", "step-2"]);
  });

  test("a server without runtime LoRA (404) is told how vLLM must be started", async () => {
    const s = await started("sglang"); // no /v1/load_lora_adapter route: as vLLM without VLLM_ALLOW_RUNTIME_LORA_UPDATING
    const fleet = new FleetGenerator({ endpoints: [s.url], protocol: "vllm", model: "base" });
    await assert.rejects(
      fleet.loadAdapter("step-1", "/a/step-1"),
      /POST \/v1\/load_lora_adapter: HTTP 404.*--enable-lora.*VLLM_ALLOW_RUNTIME_LORA_UPDATING=True/,
    );
  });

  test("full weights: vLLM cannot reload them; the error says what exists and nothing is sent", async () => {
    const s = await started("vllm");
    const fleet = new FleetGenerator({ endpoints: [s.url], protocol: "vllm", model: "base" });
    await assert.rejects(
      fleet.reloadWeights("/w/step-3"),
      /load_lora_adapter.*VLLM_ALLOW_RUNTIME_LORA_UPDATING/s,
    );
    const reasonrl = new FleetGenerator({ endpoints: [s.url], protocol: "reasonrl", model: "base" });
    await assert.rejects(reasonrl.reloadWeights("/w/step-3"), /reasonrl serve cannot reload full weights/);
    assert.equal(s.calls.length, 0);
  });

  test("a bad request (400) is not retried: the error names the endpoint and the server's message", async () => {
    const a = await started("vllm");
    const b = await started("vllm");
    a.fail = b.fail = (call) => (call.path === "/v1/completions" ? 400 : null);
    const fleet = new FleetGenerator({
      endpoints: [a.url, b.url],
      protocol: "vllm",
      model: "base",
      backoffMs: 1,
    });
    await assert.rejects(fleet.generate([prompts[0]]), (e: Error) => {
      assert.match(
        e.message,
        /POST \/v1\/completions \(prompt 0\) was refused, HTTP 400: injected failure 400/,
      );
      assert.match(e.message, /127\.0\.0\.1/);
      return true;
    });
    assert.equal(generateCalls(a.calls).length + generateCalls(b.calls).length, 1);
  });
});

describe("sglang", () => {
  test("generate: POST /generate with input_ids, sampling_params and return_logprob; log-probs are the sampler's", async () => {
    const s = await started("sglang");
    const fleet = new FleetGenerator({ endpoints: [s.url], protocol: "sglang", model: "base", apiKey: "k2" });
    const groups = await fleet.generate(prompts, { n: 2, seed: 4, temperature: 0.6, topK: 20, maxTokens: 3 });
    assert.deepEqual(plain(groups), [expected(prompts[0], 2, 3), expected(prompts[1], 2, 3)]);
    const [single] = await fleet.generate([prompts[1]], { n: 1, maxTokens: 2 });
    assert.deepEqual(plain([single]), [expected(prompts[1], 1, 2)], "n = 1: one result, not a list");
    const calls = generateCalls(s.calls);
    assert.equal(calls.length, 3);
    const first = calls.find((c) => c.body.input_ids.length === 3);
    assert.deepEqual(first, {
      method: "POST",
      path: "/generate",
      body: {
        input_ids: [5, 6, 7],
        sampling_params: { n: 2, temperature: 0.6, top_p: 1, top_k: 20, max_new_tokens: 3 },
        return_logprob: true,
      },
      authorization: "Bearer k2",
    });
    assert.equal(fleet.lastReport()?.logprobs, "processed");
  });

  test("with seeds: the n samples go as a batch of n copies, each with its own sampling_seed", async () => {
    const s = await started("sglang");
    const fleet = new FleetGenerator({
      endpoints: [s.url],
      protocol: "sglang",
      model: "base",
      sendSeed: true,
    });
    await fleet.loadAdapter("step-1", "/a/step-1");
    const groups = await fleet.generate(prompts, { n: 3, seed: 4, maxTokens: 3 });
    assert.deepEqual(plain(groups), [expected(prompts[0], 3, 3), expected(prompts[1], 3, 3)]);
    const call = generateCalls(s.calls).find((c) => c.body.input_ids[0].length === 2);
    assert.deepEqual(call?.body, {
      input_ids: [
        [8, 9],
        [8, 9],
        [8, 9],
      ],
      sampling_params: [0, 1, 2].map((j) => ({
        temperature: 1,
        top_p: 1,
        max_new_tokens: 3,
        sampling_seed: promptSeed(promptSeed(4, 1), j),
      })),
      return_logprob: true,
      lora_path: ["step-1", "step-1", "step-1"],
    });
  });

  test("adapters: /load_lora_adapter, requests select it with lora_path, /unload_lora_adapter", async () => {
    const s = await started("sglang");
    const fleet = new FleetGenerator({ endpoints: [s.url], protocol: "sglang", model: "base" });
    await fleet.loadAdapter("step-7", "/a/step-7");
    await fleet.generate([prompts[0]], { maxTokens: 1 });
    await fleet.unloadAdapter("step-7");
    await fleet.generate([prompts[0]], { maxTokens: 1 });
    assert.deepEqual(
      s.calls.map((c) => [c.path, c.body.lora_name ?? c.body.lora_path ?? null]),
      [
        ["/load_lora_adapter", "step-7"],
        ["/generate", "step-7"],
        ["/unload_lora_adapter", "step-7"],
        ["/generate", null],
      ],
    );
    assert.deepEqual(s.calls[0].body, { lora_name: "step-7", lora_path: "/a/step-7" });
  });

  test("full weights: POST /update_weights_from_disk {model_path} on every endpoint", async () => {
    const a = await started("sglang");
    const b = await started("sglang");
    const fleet = new FleetGenerator({ endpoints: [a.url, b.url], protocol: "sglang", model: "base" });
    const r = await fleet.reloadWeights("/w/step-3");
    assert.equal(r.endpoints, 2);
    for (const s of [a, b])
      assert.deepEqual(
        s.calls.map((c) => [c.method, c.path, c.body]),
        [["POST", "/update_weights_from_disk", { model_path: "/w/step-3" }]],
      );
  });

  test("a refusal in SGLang's {success: false} names the server's message", async () => {
    const s = await started("sglang");
    const fleet = new FleetGenerator({ endpoints: [s.url], protocol: "sglang", model: "base" });
    await assert.rejects(
      fleet.loadAdapter("x", "/missing/x"),
      /was refused: .*HTTP 400: cannot load x from \/missing\/x/,
    );
  });
});
