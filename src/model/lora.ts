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
import type { Engine, Tensor } from "../engine/index.ts";
import type { LlamaWeights, LoraAdapter, LoraTarget } from "./llama.ts";
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

/** One adapter matrix read from disk, in host memory. */
export interface HostMatrix {
  shape: [number, number];
  data: Float32Array;
}

/** A PEFT LoRA folder read into host memory and checked against a base model (no engine involved). */
export interface LoraFile {
  dir: string;
  config: LoraConfig;
  /** Per base layer: the A [r, in] and B [out, r] of each target. */
  layers: Array<Partial<Record<LoraTarget, { a: HostMatrix; b: HostMatrix }>>>;
}

/**
 * Why a LoRA folder cannot be attached to a base: `missing` when there is no adapter at all
 * (no folder, no adapter_config.json), `invalid` for anything wrong inside it.
 */
export class LoraFileError extends Error {
  constructor(
    readonly kind: "missing" | "invalid",
    message: string,
  ) {
    super(message);
    this.name = "LoraFileError";
  }
}

/** PEFT config fields that change the update in ways this loader does not implement. */
const UNSUPPORTED_CONFIG: Array<[field: string, neutral: (v: unknown) => boolean]> = [
  ["use_dora", (v) => v == null || v === false],
  ["use_rslora", (v) => v == null || v === false],
  ["rank_pattern", (v) => v == null || (typeof v === "object" && Object.keys(v as object).length === 0)],
  ["alpha_pattern", (v) => v == null || (typeof v === "object" && Object.keys(v as object).length === 0)],
  ["layers_to_transform", (v) => v == null],
];

/** The LoRA settings of `dir`'s adapter_config.json (PEFT's r, lora_alpha, target_modules). */
async function readLoraConfig(dir: string): Promise<LoraConfig> {
  const configPath = join(dir, "adapter_config.json");
  const invalid = (msg: string) => new LoraFileError("invalid", msg);
  let text: string;
  try {
    text = await readFile(configPath, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR")
      throw new LoraFileError("missing", `no LoRA adapter at ${dir}: ${configPath} does not exist`);
    throw invalid(`${configPath}: ${(err as Error).message}`);
  }
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw invalid(`${configPath}: not JSON (${(err as Error).message})`);
  }
  if (typeof json !== "object" || json === null) throw invalid(`${configPath}: not a JSON object`);
  if (json.peft_type !== "LORA") throw invalid(`${configPath}: peft_type ${json.peft_type} is not LORA`);
  for (const [field, neutral] of UNSUPPORTED_CONFIG)
    if (!neutral(json[field]))
      throw invalid(`${configPath}: ${field} ${JSON.stringify(json[field])} is not supported`);
  const byModule = new Map(
    Object.entries(TARGETS).map(([t, v]) => [v.module.split(".")[1], t as LoraTarget]),
  );
  if (!Array.isArray(json.target_modules))
    throw invalid(`${configPath}: target_modules must be a list of module names (q_proj ... down_proj)`);
  const targets = (json.target_modules as unknown[]).map((m) => {
    const t = byModule.get(String(m));
    if (!t)
      throw invalid(
        `${configPath}: target module ${m} is unknown (known: ${[...byModule.keys()].join(", ")})`,
      );
    return t;
  });
  const parsed = LoraConfig.safeParse({ rank: json.r, alpha: json.lora_alpha, targets });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field =
      issue?.path[0] === "rank" ? "r" : issue?.path[0] === "alpha" ? "lora_alpha" : "target_modules";
    throw invalid(`${configPath}: ${field}: ${issue?.message}`);
  }
  return parsed.data;
}

/**
 * Reads a PEFT LoRA folder (adapter_config.json + adapter_model.safetensors, F32/F16/BF16) and
 * checks it fits `base`: every target of every layer present with A [r, in] and B [out, r] of the
 * base weight's [out, in], and no tensor left over. Throws LoraFileError naming the file and what
 * is wrong. Nothing touches an engine, so it can run while the engine computes.
 */
export async function readLora(dir: string, base: LlamaWeights): Promise<LoraFile> {
  const config = await readLoraConfig(dir);
  const invalid = (msg: string) => new LoraFileError("invalid", msg);
  const weightsPath = join(dir, "adapter_model.safetensors");
  let file: SafetensorsFile;
  try {
    file = await SafetensorsFile.open(weightsPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw invalid(code === "ENOENT" ? `${weightsPath} does not exist` : (err as Error).message);
  }
  try {
    const expected = new Set<string>();
    const layers: LoraFile["layers"] = [];
    for (const [i, layer] of base.layers.entries()) {
      const lora: LoraFile["layers"][number] = {};
      for (const t of config.targets) {
        const [out, inp] = layer[TARGETS[t].weight].shape;
        const read = async (m: "A" | "B", want: [number, number]): Promise<HostMatrix> => {
          const name = peftName(i, t, m);
          expected.add(name);
          const entry = file.tensors.get(name);
          if (!entry)
            throw invalid(`${weightsPath}: no tensor ${name} (the base has ${base.layers.length} layers)`);
          if (entry.shape.length !== 2 || entry.shape[0] !== want[0] || entry.shape[1] !== want[1])
            throw invalid(
              `${weightsPath}: ${name} is [${entry.shape.join(", ")}], but the base's ${TARGETS[t].module} ` +
                `of layer ${i} needs [${want.join(", ")}] at rank ${config.rank}`,
            );
          try {
            return { shape: want, data: await file.readFloat32(name) };
          } catch (err) {
            throw invalid((err as Error).message);
          }
        };
        lora[t] = { a: await read("A", [config.rank, inp]), b: await read("B", [out, config.rank]) };
      }
      layers.push(lora);
    }
    const extra = [...file.tensors.keys()].find((name) => !expected.has(name));
    if (extra !== undefined)
      throw invalid(
        `${weightsPath}: tensor ${extra} does not match a target of adapter_config.json on the base's ` +
          `${base.layers.length} layers`,
      );
    return { dir, config, layers };
  } finally {
    await file.close();
  }
}

/**
 * The base weights with `file`'s adapters attached: the base tensors are shared, only each
 * adapter's A and B are made on the engine, as trainable parameters (with gradients) or as frozen
 * f32 tensors (serving). Writes tensors, so no graph of the engine may be computing.
 */
export function attachLora(
  engine: Engine,
  base: LlamaWeights,
  file: LoraFile,
  options: { trainable: boolean },
): LlamaWeights {
  const make = (name: string, m: HostMatrix) =>
    options.trainable
      ? engine.param(m.shape, { name, data: m.data })
      : engine.tensor(m.shape, { name, data: m.data });
  const scale = file.config.alpha / file.config.rank;
  const made: LoraAdapter[] = [];
  try {
    const layers = base.layers.map((layer, i) => {
      const lora: Partial<Record<LoraTarget, LoraAdapter>> = {};
      for (const [t, m] of Object.entries(file.layers[i]) as Array<
        [LoraTarget, { a: HostMatrix; b: HostMatrix }]
      >) {
        const a = make(peftName(i, t, "A"), m.a); // [r, in]
        const b = make(peftName(i, t, "B"), m.b); // [out, r]
        lora[t] = { a, b, scale };
        made.push(lora[t]);
      }
      return { ...layer, lora };
    });
    return { ...base, layers };
  } catch (err) {
    for (const ad of made) {
      ad.a.free();
      ad.b.free();
    }
    throw err;
  }
}

/** The adapter tensors (A and B of every target) of weights made by addLora, loadLora or attachLora. */
export function loraTensors(w: LlamaWeights): Tensor[] {
  return w.layers.flatMap((layer) => Object.values(layer.lora ?? {}).flatMap((ad) => [ad.a, ad.b]));
}

/** Reads a PEFT LoRA folder onto the base weights (adapters trainable). */
export async function loadLora(
  engine: Engine,
  dir: string,
  base: LlamaWeights,
): Promise<{ weights: LlamaWeights; config: LoraConfig }> {
  const file = await readLora(dir, base);
  return { weights: attachLora(engine, base, file, { trainable: true }), config: file.config };
}
