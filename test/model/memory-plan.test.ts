/** The memory model of a run: parameter counts equal the real tensors', and its terms scale as the code's graphs do. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Engine } from "../../src/engine/index.ts";
import {
  countParameters,
  initLlamaWeights,
  type LlamaConfig,
  parseLlamaConfig,
  trainableParameters,
} from "../../src/model/llama.ts";
import { addLora } from "../../src/model/lora.ts";
import { checkpointPays, loraParameters, memoryPlan, parameterCounts } from "../../src/model/memory-plan.ts";
import { REAL_SHAPES } from "../../src/model/real-shapes.ts";

const engine = new Engine({ threads: 1 });
const GiB = 2 ** 30;
const ALL = ["q", "k", "v", "o", "gate", "up", "down"] as const;

const R1_1_5B = REAL_SHAPES["1.5b"];

test("parameter counts equal those of the weights the model code makes", () => {
  const shapes: Array<Partial<LlamaConfig>> = [
    {},
    { tieEmbeddings: true, attentionBias: true },
    { qkNorm: true, headDim: 6, outputBias: true },
  ];
  for (const extra of shapes) {
    const c = parseLlamaConfig({
      vocabSize: 30,
      hidden: 16,
      layers: 2,
      heads: 4,
      kvHeads: 2,
      ffn: 24,
      ...extra,
    });
    const w = initLlamaWeights(engine, c, 1);
    const { matrices, vectors } = parameterCounts(c);
    assert.equal(matrices + vectors, countParameters(w), JSON.stringify(extra));
    const lora = addLora(engine, w, { rank: 3, targets: ["q", "v", "down"] });
    const adapters = trainableParameters(lora).filter((t) => t.name.includes("lora"));
    assert.equal(
      loraParameters(c, 3, ["q", "v", "down"]),
      adapters.reduce((n, t) => n + t.size, 0),
    );
  }
});

test("weights, adapters, optimizer and reference follow the dtype and LoRA", () => {
  const shape = { rows: 1, tokens: 256 };
  const full = memoryPlan(R1_1_5B, { ...shape, reference: true });
  const lora32 = memoryPlan(R1_1_5B, { ...shape, lora: { rank: 16, targets: [...ALL] }, reference: true });
  const lora16 = memoryPlan(R1_1_5B, { ...shape, lora: { rank: 16, targets: [...ALL] }, dtype: "bf16" });
  assert.equal(full.optimizer, 3 * full.weights, "gradient and two moments per f32 weight");
  assert.ok(full.reference > 0 && lora32.reference === 0, "under LoRA the base is the reference");
  assert.ok(Math.abs(lora16.weights / lora32.weights - 0.5) < 0.01, "bf16 halves the frozen weights");
  assert.ok(lora32.adapters > 0 && lora32.adapters < 0.05 * lora32.weights);
  assert.equal(lora32.trainableParameters, loraParameters(R1_1_5B, 16, [...ALL]));
});

test("checkpointed activations grow about linearly in T, the single graph's quadratically", () => {
  const at = (tokens: number) =>
    memoryPlan(R1_1_5B, {
      rows: 1,
      tokens,
      lora: { rank: 16, targets: [...ALL] },
      dtype: "bf16",
      chunkRows: 256,
    });
  const [a, b] = [at(2048), at(8192)]; // x4 tokens
  assert.ok(
    b.activations / a.activations < 4.5,
    `checkpointed x${(b.activations / a.activations).toFixed(2)}`,
  );
  assert.ok(
    b.activationsWithoutCheckpointing / a.activationsWithoutCheckpointing > 6,
    `single graph x${(b.activationsWithoutCheckpointing / a.activationsWithoutCheckpointing).toFixed(2)}`,
  );
  assert.ok(b.activations < b.activationsWithoutCheckpointing / 5);
});

test("a 1.5B LoRA loss pass over one 3,584-token row is planned within 8 GiB, as measured", () => {
  const input = {
    rows: 1,
    tokens: 3584,
    lora: { rank: 16, targets: [...ALL] },
    dtype: "bf16" as const,
    chunkRows: 256,
  };
  const plan = memoryPlan(R1_1_5B, input);
  // reasonrl bench memory --model 1.5b --tokens 3584 measured a peak RSS of 6.44 GiB (all 28 layers)
  assert.ok(plan.total >= 6.44 * GiB && plan.total < 8 * GiB, `${(plan.total / GiB).toFixed(2)} GiB`);
  // bench/memory.ts --model 1.5b --tokens 3584 --layers 2 measured a peak RSS of 3.39 GiB
  const two = memoryPlan({ ...R1_1_5B, layers: 2 }, input);
  assert.ok(two.total >= 3.39 * GiB && two.total < 1.25 * 3.39 * GiB, `${(two.total / GiB).toFixed(2)} GiB`);
});

test('"auto" checkpoints long rows and large batches, not small ones', () => {
  const lora = { rank: 16, targets: [...ALL] };
  assert.ok(checkpointPays(R1_1_5B, { rows: 1, tokens: 3584, lora }), "one 3,584-token row of a 1.5B model");
  assert.ok(checkpointPays(R1_1_5B, { rows: 8, tokens: 640, lora }), "8 rows of 640 tokens");
  assert.ok(!checkpointPays(R1_1_5B, { rows: 1, tokens: 64, lora }), "one 64-token row");
  const small = memoryPlan(R1_1_5B, { rows: 1, tokens: 64, lora });
  assert.equal(small.activations, small.activationsWithoutCheckpointing, "the plan follows the same choice");
});
