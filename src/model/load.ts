/**
 * Between model folders on disk (Hugging Face layout) and engine tensors:
 * the config mapping, and loading and saving the weights of a decoder.
 */
import { join } from "node:path";
import type { DType, Engine, Tensor } from "../engine/index.ts";
import type { ModelConfig } from "./hf-config.ts";
import type { GenerationConfig } from "./hf-config-generation.ts";
import {
  type LayerWeights,
  type LlamaConfig,
  type LlamaWeights,
  llamaParameters,
  parseLlamaConfig,
} from "./llama.ts";
import {
  expectedTensors,
  type ModelTensor,
  openModelDir,
  saveModelDir,
  TOKENIZER_FILES,
} from "./model-dir.ts";
import { exists } from "./safetensors-write.ts";

/** The graph config of a model config; throws for what the engine cannot run yet. */
export function toLlamaConfig(c: ModelConfig): LlamaConfig {
  if (c.ropeScaling) {
    throw new Error(`model config: rope_scaling "${c.ropeScaling.type}" is not supported by the engine yet`);
  }
  return parseLlamaConfig({
    vocabSize: c.vocabSize,
    hidden: c.hidden,
    layers: c.layers,
    heads: c.heads,
    kvHeads: c.kvHeads,
    ffn: c.ffn,
    ropeTheta: c.ropeTheta,
    rmsEps: c.rmsEps,
    tieEmbeddings: c.tieEmbeddings,
    headDim: c.headDim,
    attentionBias: c.qkvBias,
    qkNorm: c.qkNorm,
    outputBias: c.oBias,
  });
}

/** Hugging Face tensor name -> where it lives in LlamaWeights. */
const LAYER_NAMES: Record<string, Exclude<keyof LayerWeights, "lora">> = {
  "input_layernorm.weight": "attnNorm",
  "self_attn.q_proj.weight": "wq",
  "self_attn.k_proj.weight": "wk",
  "self_attn.v_proj.weight": "wv",
  "self_attn.o_proj.weight": "wo",
  "self_attn.q_proj.bias": "bq",
  "self_attn.k_proj.bias": "bk",
  "self_attn.v_proj.bias": "bv",
  "self_attn.o_proj.bias": "bo",
  "self_attn.q_norm.weight": "qNorm",
  "self_attn.k_norm.weight": "kNorm",
  "post_attention_layernorm.weight": "mlpNorm",
  "mlp.gate_proj.weight": "wGate",
  "mlp.up_proj.weight": "wUp",
  "mlp.down_proj.weight": "wDown",
};

/** Every (Hugging Face name, tensor) pair of the weights, in expectedTensors order. */
export function namedTensors(hf: ModelConfig, w: LlamaWeights): Array<[string, Tensor]> {
  return expectedTensors(hf).map(({ name }) => {
    if (name === "model.embed_tokens.weight") return [name, w.embed];
    if (name === "model.norm.weight") return [name, w.finalNorm];
    if (name === "lm_head.weight") return [name, w.lmHead];
    const m = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
    const field = m ? LAYER_NAMES[m[2]] : undefined;
    const t = m && field ? w.layers[Number(m[1])]?.[field] : undefined;
    if (!t) throw new Error(`model weights: no tensor for ${name}`);
    return [name, t];
  });
}

/**
 * A model folder's weights on the engine. `dispose()` (or `using`) frees
 * every tensor loadModel made; reading `weights` afterwards throws, and so
 * does any graph that still holds one of the tensors. Adapters added on top
 * (addLora, loadLora) are the caller's to free.
 */
export class LoadedModel implements Disposable {
  #weights: LlamaWeights | null;

  constructor(
    readonly dir: string,
    readonly hf: ModelConfig,
    readonly config: LlamaConfig,
    weights: LlamaWeights,
    readonly generation: GenerationConfig | null,
  ) {
    this.#weights = weights;
  }

  get weights(): LlamaWeights {
    if (!this.#weights) throw new Error(`model ${this.dir}: used after dispose()`);
    return this.#weights;
  }

  get disposed(): boolean {
    return this.#weights === null;
  }

  /** Frees the model's tensors. Idempotent. */
  dispose(): void {
    if (!this.#weights) return;
    for (const t of llamaParameters(this.#weights)) t.free();
    this.#weights = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

export interface LoadOptions {
  /** Load as trainable f32 parameters (default: frozen tensors). */
  trainable?: boolean;
  /** Storage of frozen matrices: f32 (default), bf16/f16 to halve memory, q8_0 (QLoRA-style, rows in blocks of 32) to quarter it. Norms and biases stay f32. */
  dtype?: DType;
}

/** Reads a model folder into engine tensors (all freed again if any tensor fails to load). */
export async function loadModel(
  engine: Engine,
  dir: string,
  options: LoadOptions = {},
): Promise<LoadedModel> {
  const md = await openModelDir(dir);
  const byName = new Map<string, Tensor>();
  try {
    const config = toLlamaConfig(md.config);
    for (const spec of expectedTensors(md.config)) {
      if (!md.weights.has(spec.name)) throw new Error(`model ${dir}: tensor ${spec.name} is missing`);
      const shape = md.weights.entry(spec.name).shape;
      if (shape.join() !== spec.shape.join()) {
        throw new Error(
          `model ${dir}: tensor ${spec.name} has shape [${shape}], the config needs [${spec.shape}]`,
        );
      }
      const data = await md.weights.readFloat32(spec.name);
      const matrix = spec.kind === "linear" || spec.kind === "embedding";
      byName.set(
        spec.name,
        options.trainable
          ? engine.param(spec.shape, { name: spec.name, data })
          : engine.tensor(spec.shape, {
              name: spec.name,
              data,
              dtype: matrix ? (options.dtype ?? "f32") : "f32",
            }),
      );
    }
    const get = (name: string) => byName.get(name) as Tensor;
    const layers = Array.from({ length: config.layers }, (_, i) => {
      const layer = {} as LayerWeights;
      for (const [suffix, field] of Object.entries(LAYER_NAMES)) {
        const t = byName.get(`model.layers.${i}.${suffix}`);
        if (t) layer[field] = t;
      }
      return layer;
    });
    const embed = get("model.embed_tokens.weight");
    const weights: LlamaWeights = {
      embed,
      layers,
      finalNorm: get("model.norm.weight"),
      lmHead: config.tieEmbeddings ? embed : get("lm_head.weight"),
    };
    return new LoadedModel(dir, md.config, config, weights, md.generation);
  } catch (err) {
    for (const t of byName.values()) t.free();
    throw err;
  } finally {
    await md.close();
  }
}

/** Saves weights as a Hugging Face model folder (atomically), copying the tokenizer files of `tokenizerDir`. */
export async function saveModel(
  dir: string,
  hf: ModelConfig,
  weights: LlamaWeights,
  options: { tokenizerDir?: string; overwrite?: boolean } = {},
): Promise<void> {
  const tensors = new Map<string, ModelTensor>();
  for (const [name, t] of namedTensors(hf, weights)) {
    tensors.set(name, { dtype: "F32", shape: [...t.shape], data: t.readF32() });
  }
  const copyFiles: string[] = [];
  if (options.tokenizerDir) {
    for (const f of TOKENIZER_FILES) {
      const path = join(options.tokenizerDir, f);
      if (await exists(path)) copyFiles.push(path);
    }
  }
  await saveModelDir(dir, hf, tensors, { copyFiles, overwrite: options.overwrite });
}
