/** `reasonrl export gguf`: a model folder as a GGUF file for llama.cpp. */
import { type Command, Option } from "commander";
import { exportGguf } from "../model/gguf.ts";
import { jsonOption } from "./options.ts";
import { printResult } from "./output.ts";

export function register(program: Command): void {
  const exp = program.command("export").description("write a model in another format");
  exp
    .command("gguf")
    .description("write a GGUF file that llama.cpp loads (qwen2, llama, qwen3)")
    .requiredOption("--model <dir>", "model folder (Hugging Face layout)")
    .requiredOption("--out <file>", "GGUF file to write")
    .addOption(
      new Option("--type <type>", "storage of the matrices: f32 or f16 (norms and biases stay f32)")
        .choices(["f32", "f16"])
        .default("f32"),
    )
    .option("--pre <name>", "llama.cpp pre-tokenizer name (default: detected from tokenizer.json)")
    .addOption(jsonOption("print only the JSON result"))
    .action(async (o: { model: string; out: string; type: "f32" | "f16"; pre?: string; json?: boolean }) => {
      const r = await exportGguf(o.model, o.out, { type: o.type, pre: o.pre });
      const mb = (r.bytes / 2 ** 20).toFixed(1);
      printResult({ ...r }, o, `wrote ${r.out} (${r.arch}, ${r.type}, ${r.tensors} tensors, ${mb} MiB)`);
    });
}
