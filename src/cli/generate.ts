/** `reasonrl generate`: sample a completion from a local model folder. */
import type { Command } from "commander";
import { Engine } from "../engine/index.ts";
import { LocalGenerator } from "../generate/local.ts";
import { applyChatTemplate } from "../model/chat-template.ts";
import { loadModel } from "../model/load.ts";
import { Tokenizer } from "../model/tokenizer.ts";
import {
  type DeviceName,
  decimal,
  deviceOption,
  dtypeOption,
  engineOptions,
  frozenDType,
  jsonOption,
  nonNegativeInteger,
  positiveInteger,
  threadsOption,
  type WeightDType,
} from "./options.ts";
import { printResult } from "./output.ts";

interface GenerateFlags {
  model: string;
  prompt: string;
  chat?: boolean;
  maxTokens: number;
  temperature: number;
  topP: number;
  seed: number;
  threads?: number;
  device?: DeviceName;
  dtype?: WeightDType;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command("generate")
    .description("generate a completion with a local model (Hugging Face folder)")
    .requiredOption("--model <dir>", "model folder (config.json, model.safetensors, tokenizer.json)")
    .requiredOption("--prompt <text>", "prompt text (a user message with --chat)")
    .option("--chat", "apply the model's chat template, with the generation prompt")
    .option("--max-tokens <n>", "new tokens at most", positiveInteger, 256)
    .option("--temperature <t>", "sampling temperature (0: greedy)", decimal({ min: 0 }), 0.7)
    .option("--top-p <p>", "nucleus sampling", decimal({ min: 0, max: 1 }), 1)
    .option("--seed <n>", "random seed", nonNegativeInteger, 0)
    .addOption(threadsOption())
    .addOption(deviceOption())
    .addOption(dtypeOption())
    .addOption(jsonOption("print one JSON object: prompt_ids, ids, text, logprobs, finish_reason"))
    .action(async (o: GenerateFlags) => {
      const engine = new Engine(engineOptions(o));
      try {
        const model = await loadModel(engine, o.model, { dtype: frozenDType(o.dtype) });
        const tokenizer = Tokenizer.fromDir(o.model, { eosTokenIds: model.hf.eosTokenIds });
        const promptIds = o.chat
          ? applyChatTemplate(tokenizer, [{ role: "user", content: o.prompt }], { addGenerationPrompt: true })
              .ids
          : tokenizer.encode(o.prompt);
        const eosIds = [...new Set([...tokenizer.eosIds, ...(model.generation?.eosTokenIds ?? [])])];
        const generator = new LocalGenerator(engine, model.config, model.weights, { eosIds }, tokenizer);
        const [[c]] = await generator
          .generate([promptIds], {
            maxTokens: o.maxTokens,
            temperature: o.temperature,
            topP: o.topP,
            seed: o.seed,
          })
          .finally(() => generator.dispose());
        printResult(
          {
            prompt_ids: Array.from(promptIds),
            ids: Array.from(c.ids),
            text: c.text,
            logprobs: Array.from(c.logprobs),
            finish_reason: c.finishReason,
          },
          o,
          c.text,
        );
      } finally {
        engine.dispose(); // the weights with it
      }
    });
}
