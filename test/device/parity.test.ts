/**
 * Training and generation on each GPU device of the build give the CPU's results:
 * a LoRA SFT step, a GRPO step (its loss, backward and AdamW update), and greedy
 * generation. Without a GPU, GGML_VK_VISIBLE_DEVICES=0 runs them on Mesa's software
 * Vulkan device (lavapipe, Mesa >= 23: see test/engine/helpers.ts); with only the CPU
 * they are skipped.
 *
 * Tolerances: ggml-vulkan's products agree with the CPU's to ~1e-4 relative (measured on
 * lavapipe: forward loss 1e-6, gradient norms 8e-5 to 5e-4, weights after a step 3e-4), so
 * numbers are compared at 1e-3, the GRPO loss (a sum of near-cancelling terms) at 5e-3 of
 * its scale.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { AdamW, Engine, type Tensor } from "../../src/engine/index.ts";
import { LocalGenerator } from "../../src/generate/local.ts";
import type { Completion, Generator } from "../../src/generate/types.ts";
import {
  frozenCopy,
  initLlamaWeights,
  type LlamaWeights,
  parseLlamaConfig,
  trainableParameters,
} from "../../src/model/llama.ts";
import { addLora } from "../../src/model/lora.ts";
import { GrpoOptions, grpoStep } from "../../src/rl/grpo-step.ts";
import { sftStep } from "../../src/sft/sft-step.ts";
import { testDevices } from "../engine/helpers.ts";
import { idMean, promptsOf, rewardOf } from "../rl/helpers.ts";

const config = parseLlamaConfig({ vocabSize: 16, hidden: 32, layers: 2, heads: 4, kvHeads: 2, ffn: 64 });
const gpus = testDevices().filter((d) => d !== "cpu");
const engines = new Map<string, Engine>();
after(() => {
  for (const e of engines.values()) e.dispose();
});

function engineOn(device: string): Engine {
  let e = engines.get(device);
  if (!e) {
    e = new Engine({ threads: 2, device });
    engines.set(device, e);
  }
  return e;
}

const flat = (ts: readonly Tensor[]) => Float64Array.from(ts.flatMap((t) => Array.from(t.readF32())));

/** ||a - b|| <= rel * ||b||, and both non-zero. */
function assertNear(a: ArrayLike<number>, b: ArrayLike<number>, rel: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < b.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  assert.ok(norm > 0, `${what}: nothing to compare`);
  assert.ok(Math.sqrt(diff) <= rel * Math.sqrt(norm), `${what}: off by ${Math.sqrt(diff / norm)} (relative)`);
}

function assertNumber(a: number, b: number, rel: number, what: string): void {
  assert.ok(Math.abs(a - b) <= rel * Math.max(Math.abs(b), 1e-3), `${what}: ${a} vs ${b}`);
}

/**
 * AdamW with a large epsilon: the update is about lr x gradient, linear in it. With the usual
 * 1e-8, Adam's first update is lr x sign(gradient), which turns float noise in gradients near
 * zero (devices sum in different orders) into whole-step differences in the weights.
 */
const WELL_CONDITIONED = { maxGradNorm: 1, eps: 1 };

/** A generator that returns the same completions every time (so both devices train on the same rollouts). */
class FixedGenerator implements Generator {
  constructor(readonly groups: Completion[][]) {}
  async generate(): Promise<Completion[][]> {
    return this.groups;
  }
}

/** Two LoRA SFT steps (the first moves only B, which starts at zero): losses and adapters after. */
async function loraSft(device: string) {
  const e = engineOn(device);
  const base = frozenCopy(e, initLlamaWeights(e, config, 5));
  const policy = addLora(e, base, { rank: 4, alpha: 8 }, 1);
  const optimizer = new AdamW(e, trainableParameters(policy), WELL_CONDITIONED);
  const examples = [
    { prompt: Int32Array.from([1, 2, 3, 15]), completion: Int32Array.from([3, 2, 1]) },
    { prompt: Int32Array.from([4, 15]), completion: Int32Array.from([4, 4, 9, 0]) },
  ];
  const losses: number[] = [];
  for (let i = 0; i < 2; i++) {
    const r = await sftStep({ engine: e, config, policy, optimizer }, examples, { lr: 1, chunkRows: 8 });
    losses.push(r.loss, r.grad_norm);
  }
  const adapters = flat(trainableParameters(policy));
  optimizer.free();
  return { losses, adapters };
}

/** One GRPO step (beta > 0, two iterations so the clipped ratio matters) on fixed rollouts. */
async function grpo(device: string, groups: Completion[][]) {
  const e = engineOn(device);
  const policy = initLlamaWeights(e, config, 7);
  const reference = frozenCopy(e, policy);
  const optimizer = new AdamW(e, trainableParameters(policy), WELL_CONDITIONED);
  const models = { engine: e, config, policy, reference, optimizer, generator: new FixedGenerator(groups) };
  const options = GrpoOptions.parse({
    groupSize: 4,
    maxTokens: 6,
    chunkRows: 16,
    numIterations: 2,
    loss: { beta: 0.04 },
  });
  const { metrics } = await grpoStep(models, rewardOf(idMean), options, {
    prompts: promptsOf([[1, 2], [3]]),
    lr: 5,
    seed: 3,
  });
  const weights = flat(trainableParameters(policy));
  optimizer.free();
  return { metrics, weights };
}

async function greedy(device: string, weights?: LlamaWeights) {
  const e = engineOn(device);
  const generator = new LocalGenerator(e, config, weights ?? initLlamaWeights(e, config, 11));
  const out = await generator.generate(
    [Int32Array.from([1, 2, 3]), Int32Array.from([9]), Int32Array.from([4, 5])],
    {
      temperature: 0,
      maxTokens: 12,
    },
  );
  return out.map((group) => Array.from(group[0].ids));
}

for (const device of gpus) {
  describe(`${device} against the CPU`, () => {
    test("a LoRA SFT step", async () => {
      const [cpu, dev] = [await loraSft("cpu"), await loraSft(device)];
      for (const [i, v] of cpu.losses.entries()) assertNumber(dev.losses[i], v, 1e-3, `loss/grad norm ${i}`);
      assertNear(dev.adapters, cpu.adapters, 1e-3, "adapters after two steps");
    });

    test("a GRPO step: loss, KL, clipping, gradient norm and the updated weights", async () => {
      const rollout = initLlamaWeights(engineOn("cpu"), config, 7);
      const groups = await new LocalGenerator(engineOn("cpu"), config, rollout).generate(
        [Int32Array.from([1, 2]), Int32Array.from([3])],
        { n: 4, temperature: 1, maxTokens: 6, seed: 3 },
      );
      const [cpu, dev] = [await grpo("cpu", groups), await grpo(device, groups)];
      for (const key of ["kl", "entropy", "grad_norm", "clip_ratio"] as const) {
        assertNumber(Number(dev.metrics[key]), Number(cpu.metrics[key]), 1e-3, key);
      }
      assertNumber(Number(dev.metrics.loss), Number(cpu.metrics.loss), 5e-3, "loss");
      assertNear(dev.weights, cpu.weights, 1e-3, "weights after the step");
    });

    test("greedy generation is identical", async () => {
      assert.deepEqual(await greedy(device), await greedy("cpu"));
    });
  });
}
