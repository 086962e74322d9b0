import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { modelConfig } from "../../src/model/hf-config.ts";
import {
  fromHfGenerationConfig,
  generationConfigFor,
  readGenerationConfig,
  toHfGenerationConfig,
  writeGenerationConfig,
} from "../../src/model/hf-config-generation.ts";

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), "reasonrl-gen-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("generation_config.json", () => {
  const DEEPSEEK_GENERATION = {
    _from_model_config: true,
    bos_token_id: 151646,
    eos_token_id: 151643,
    do_sample: true,
    temperature: 0.6,
    top_p: 0.95,
    transformers_version: "4.39.3",
  };
  const LLAMA_INSTRUCT_GENERATION = {
    bos_token_id: 128000,
    do_sample: true,
    eos_token_id: [128001, 128008, 128009],
    temperature: 0.6,
    top_p: 0.9,
    transformers_version: "4.45.0.dev0",
  };

  it("reads the sampling defaults and stop tokens", () => {
    const g = fromHfGenerationConfig(DEEPSEEK_GENERATION);
    assert.deepEqual(g, {
      bosTokenId: 151646,
      eosTokenIds: [151643],
      doSample: true,
      temperature: 0.6,
      topP: 0.95,
      extra: { _from_model_config: true, transformers_version: "4.39.3" },
    });
    assert.deepEqual(fromHfGenerationConfig(LLAMA_INSTRUCT_GENERATION).eosTokenIds, [128001, 128008, 128009]);
    assert.deepEqual(fromHfGenerationConfig({ top_k: 20, min_p: 0 }), { topK: 20, minP: 0, extra: {} });
  });

  it("round-trips through the file", async () => {
    for (const json of [DEEPSEEK_GENERATION, LLAMA_INSTRUCT_GENERATION]) {
      const path = join(root, "generation_config.json");
      await writeGenerationConfig(path, fromHfGenerationConfig(json));
      assert.deepEqual(JSON.parse(await readFile(path, "utf8")), json);
      assert.deepEqual(await readGenerationConfig(path), fromHfGenerationConfig(json));
    }
    const model = { arch: "qwen3", vocabSize: 151936, hidden: 64, ffn: 64, layers: 1, heads: 4 } as const;
    const fromModel = generationConfigFor(
      modelConfig({ ...model, bosTokenId: 151643, eosTokenIds: [151645] }),
    );
    assert.deepEqual(toHfGenerationConfig(fromModel), { bos_token_id: 151643, eos_token_id: 151645 });
  });

  it("names the file, field and value of a bad setting", async () => {
    assert.throws(
      () => fromHfGenerationConfig({ top_p: 1.5 }, "/m/generation_config.json"),
      /\/m\/generation_config\.json: field top_p = 1\.5/,
    );
    assert.throws(
      () => fromHfGenerationConfig({ eos_token_id: "2" }),
      /generation_config\.json: field eos_token_id = "2"/,
    );
    const path = join(root, "bad_generation.json");
    await writeFile(path, JSON.stringify({ temperature: -1 }));
    await assert.rejects(readGenerationConfig(path), new RegExp(`${path}: field temperature = -1`));
  });
});
