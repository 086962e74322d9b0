/**
 * LoRA (Hu et al. 2021): each chosen linear weight W [out, in] of a frozen
 * base gets a trainable low-rank update, W + (alpha / r) B A with A [r, in]
 * and B [out, r]. Initialised as PEFT does (A Kaiming-uniform, B zero, so the
 * adapted model starts equal to the base), merged into the base, and saved
 * and loaded in PEFT's layout (adapter_config.json + adapter_model.safetensors).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import type { Engine } from "../engine/index.ts";
import type { LayerWeights, LlamaWeights, LoraAdapter, LoraTarget } from "./llama.ts";
import { seededRandom } from "./random.ts";
import { SafetensorsFile } from "./safetensors.ts";
import { writeFileAtomic, writeSafetensors } from "./safetensors-write.ts";

/** Weight of each target in LayerWeights, and its PEFT module name. */
const TARGETS: Record<
  LoraTarget,
  { weight: "wq" | "wk" | "wv" | "wo" | "wGate" | "wUp" | "wDown"; module: string }
> = {
  q: { weight: "wq", module: "self_attn.q_proj" },
  k: { weight: "wk", module: "self_attn.k_proj" },
  v: { weight: "wv", module: "self_attn.v_proj" },
  o: { weight: "wo", module: "self_attn.o_proj" },
  gate: { weight: "wGate", module: "mlp.gate_proj" },
  up: { weight: "wUp", module: "mlp.up_proj" },
  down: { weight: "wDown", module: "mlp.down_proj" },
};

export const LoraConfig = z.object({
  /** Rank r of each update. */
  rank: z.number().int().positive().default(16),
  /** Scale numerator: updates are scaled by alpha / r. */
  alpha: z.number().positive().default(32),
  /** Linear layers that get an adapter (default: all seven of each layer). */
  targets: z
    .array(z.enum(["q", "k", "v", "o", "gate", "up", "down"]))
    .default(["q", "k", "v", "o", "gate", "up", "down"]),
});
export type LoraConfig = z.output<typeof LoraConfig>;

/**
 * The base weights with fresh adapters on the targets (A uniform in
 * +-1/sqrt(in), Kaiming-uniform with a = sqrt(5) as PEFT; B zero). The base
 * tensors are shared, not copied; load the base frozen so only adapters train.
 */
export function addLora(
  engine: Engine,
  base: LlamaWeights,
  options: z.input<typeof LoraConfig> = {},
  seed = 0,
): LlamaWeights {
  const cfg = LoraConfig.parse(options);
  const rand = seededRandom(seed);
  const layers = base.layers.map((layer, i) => {
    const lora: Partial<Record<LoraTarget, LoraAdapter>> = {};
    for (const t of cfg.targets) {
      const [out, inp] = layer[TARGETS[t].weight].shape;
      const bound = 1 / Math.sqrt(inp);
      lora[t] = {
        a: engine.param([cfg.rank, inp], {
          name: `l${i}.${t}.lora_A`,
          data: Float32Array.from({ length: cfg.rank * inp }, () => (2 * rand() - 1) * bound),
        }),
        b: engine.param([out, cfg.rank], { name: `l${i}.${t}.lora_B` }),
        scale: cfg.alpha / cfg.rank,
      };
    }
    return { ...layer, lora };
  });
  return { ...base, layers };
}

/** Adds each adapter's update into its base weight (on the host) and drops the adapters. */
export function mergeLora(w: LlamaWeights): LlamaWeights {
  const layers = w.layers.map(({ lora, ...layer }) => {
    for (const [t, ad] of Object.entries(lora ?? {}) as Array<[LoraTarget, LoraAdapter]>) {
      const weight = layer[TARGETS[t].weight];
      const [out, inp] = weight.shape;
      const r = ad.a.shape[0];
      const [W, A, B] = [weight.readF32(), ad.a.readF32(), ad.b.readF32()];
      for (let o = 0; o < out; o++) {
        for (let k = 0; k < r; k++) {
          const s = ad.scale * B[o * r + k];
          if (s === 0) continue;
          for (let i = 0; i < inp; i++) W[o * inp + i] += s * A[k * inp + i];
        }
      }
      weight.write(W);
    }
    return layer;
  });
  return { ...w, layers };
}

/** PEFT's tensor name of an adapter matrix. */
function peftName(layer: number, t: LoraTarget, m: "A" | "B"): string {
  return `base_model.model.model.layers.${layer}.${TARGETS[t].module}.lora_${m}.weight`;
}

/** Writes adapter_config.json and adapter_model.safetensors into `dir` (each atomically). */
export async function saveLora(dir: string, w: LlamaWeights, cfg: LoraConfig, baseModel = ""): Promise<void> {
  const tensors: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
  w.layers.forEach((layer, i) => {
    for (const [t, ad] of Object.entries(layer.lora ?? {}) as Array<[LoraTarget, LoraAdapter]>) {
      tensors[peftName(i, t, "A")] = { dtype: "F32", shape: [...ad.a.shape], data: ad.a.readF32() };
      tensors[peftName(i, t, "B")] = { dtype: "F32", shape: [...ad.b.shape], data: ad.b.readF32() };
    }
  });
  const config = {
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    base_model_name_or_path: baseModel,
    r: cfg.rank,
    lora_alpha: cfg.alpha,
    lora_dropout: 0,
    bias: "none",
    target_modules: cfg.targets.map((t) => TARGETS[t].module.split(".")[1]),
  };
  await writeSafetensors(join(dir, "adapter_model.safetensors"), new Map(Object.entries(tensors)));
  await writeFileAtomic(join(dir, "adapter_config.json"), `${JSON.stringify(config, null, 2)}\n`);
}

/** Reads a PEFT LoRA folder onto the base weights (adapters trainable). */
export async function loadLora(
  engine: Engine,
  dir: string,
  base: LlamaWeights,
): Promise<{ weights: LlamaWeights; config: LoraConfig }> {
  const path = join(dir, "adapter_config.json");
  const json = JSON.parse(await readFile(path, "utf8"));
  if (json.peft_type !== "LORA") throw new Error(`${path}: peft_type ${json.peft_type} is not LORA`);
  const byModule = new Map(
    Object.entries(TARGETS).map(([t, v]) => [v.module.split(".")[1], t as LoraTarget]),
  );
  const targets = (json.target_modules as string[]).map((m) => {
    const t = byModule.get(m);
    if (!t) throw new Error(`${path}: target module ${m} is not supported`);
    return t;
  });
  const config = LoraConfig.parse({ rank: json.r, alpha: json.lora_alpha, targets });
  const file = await SafetensorsFile.open(join(dir, "adapter_model.safetensors"));
  try {
    const layers: LayerWeights[] = [];
    for (const [i, layer] of base.layers.entries()) {
      const lora: Partial<Record<LoraTarget, LoraAdapter>> = {};
      for (const t of targets) {
        const [nameA, nameB] = [peftName(i, t, "A"), peftName(i, t, "B")];
        const [a, b] = [await file.readFloat32(nameA), await file.readFloat32(nameB)];
        lora[t] = {
          a: engine.param(file.entry(nameA).shape, { name: nameA, data: a }),
          b: engine.param(file.entry(nameB).shape, { name: nameB, data: b }),
          scale: config.alpha / config.rank,
        };
      }
      layers.push({ ...layer, lora });
    }
    return { weights: { ...base, layers }, config };
  } finally {
    await file.close();
  }
}
