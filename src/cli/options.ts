/**
 * The options several subcommands share, defined once: their flag, their help
 * text and their parser. A subcommand adds them with `.addOption(...)`:
 *
 *     program.command("generate")
 *       .addOption(threadsOption())
 *       .addOption(deviceOption())
 *       .addOption(jsonOption("print one JSON object: ids, text, ..."))
 *
 * Parsers reject bad values where the flag is read: commander reports
 * "option '--steps <n>' argument 'abc' is invalid. expected an integer", so
 * every error names its flag and no NaN ever reaches a library.
 *
 * Conventions these options fix for the whole CLI:
 * - `--timeout` is in seconds, everywhere (fractions allowed).
 * - `--concurrency` is the number of requests (problems, prompts) in flight at
 *   once; `--max-batch` is the number of sequences one model decodes together.
 * - `--datasets` is the hub dataset cache, everywhere.
 * - `--json`: the last line printed is one JSON object (see output.ts).
 */
import { InvalidArgumentError, Option } from "commander";
import { type DType, GGML_TYPE } from "../engine/dtype.ts";
import type { EngineOptions } from "../engine/index.ts";
import { UsageError } from "./output.ts";

/** Bounds of a numeric flag (inclusive). */
export interface NumberBounds {
  min?: number;
  max?: number;
}

function checkBounds(n: number, bounds: NumberBounds): number {
  if (bounds.min !== undefined && n < bounds.min)
    throw new InvalidArgumentError(`expected a number >= ${bounds.min}`);
  if (bounds.max !== undefined && n > bounds.max)
    throw new InvalidArgumentError(`expected a number <= ${bounds.max}`);
  return n;
}

/** A parser of whole numbers ("12", "-3", "10000" or "10_000"); rejects "1.5", "abc", "12x". */
export function integer(bounds: NumberBounds = {}): (value: string) => number {
  return (value) => {
    const text = value.trim().replaceAll("_", "");
    if (!/^[-+]?\d+$/.test(text)) throw new InvalidArgumentError("expected an integer");
    return checkBounds(Number(text), bounds);
  };
}

/** A parser of finite decimal numbers ("0.7", "1e-4", "3"); rejects "abc", "1.2.3", "Infinity". */
export function decimal(bounds: NumberBounds = {}): (value: string) => number {
  return (value) => {
    const text = value.trim();
    const n = text === "" ? Number.NaN : Number(text);
    if (!Number.isFinite(n)) throw new InvalidArgumentError("expected a number");
    return checkBounds(n, bounds);
  };
}

/** A parser of whole numbers >= 1 (counts: steps, tokens, requests, samples). */
export const positiveInteger = integer({ min: 1 });

/** A parser of whole numbers >= 0 (seeds, retries, ports). */
export const nonNegativeInteger = integer({ min: 0 });

/** A parser of comma-separated lists: "a, b,c" -> ["a", "b", "c"] (empty items dropped). */
export function commaList(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** A parser of a repeatable flag: each use appends its value to the list. */
export function repeatable(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `--json`: print the result as one JSON object, as the last line. */
export function jsonOption(
  description = "print the result as one JSON object (the last line printed)",
): Option {
  return new Option("--json", description);
}

/** `--threads <n>`: compute threads of the engine (default: all cores). */
export function threadsOption(description = "compute threads (default: all cores)"): Option {
  return new Option("--threads <n>", description).argParser(integer({ min: 1, max: 1024 }));
}

/**
 * A compute device: "cpu", "vulkan" / "vulkan:N", "cuda" / "cuda:N", "metal",
 * or "auto" (the first GPU the build and the machine offer, else the CPU).
 */
export type DeviceName = "cpu" | "auto" | "metal" | "vulkan" | "cuda" | `vulkan:${number}` | `cuda:${number}`;

/** Parses a device name (see DeviceName); "vulkan:0" and "vulkan" name the same device. */
export function parseDevice(value: string): DeviceName {
  const text = value.trim().toLowerCase();
  if (/^(cpu|auto|metal|vulkan|cuda)$/.test(text) || /^(vulkan|cuda):\d+$/.test(text))
    return text as DeviceName;
  throw new InvalidArgumentError("expected cpu, vulkan[:N], cuda[:N], metal or auto");
}

/** `--device <name>`: where the model computes (see `reasonrl devices` for what this machine offers). */
export function deviceOption(
  description = "compute device: cpu, vulkan[:N], cuda[:N], metal or auto (default: cpu)",
): Option {
  return new Option("--device <name>", description).argParser(parseDevice);
}

/** Storage type of frozen weight matrices; norms, biases and LoRA adapters stay f32. */
export type WeightDType = "f32" | "f16" | "bf16" | "q8_0";
export const WEIGHT_DTYPES: readonly WeightDType[] = ["f32", "f16", "bf16", "q8_0"];

/** `--dtype <type>`: storage of the frozen weight matrices. */
export function dtypeOption(
  description = "storage of the frozen weight matrices: f32, f16, bf16 or q8_0 (default: f32)",
): Option {
  return new Option("--dtype <type>", description).choices(WEIGHT_DTYPES as string[]);
}

/**
 * The engine dtype of a --dtype value, checked against the types this engine
 * stores (so an unsupported one is an error here, never a native failure).
 */
export function frozenDType(dtype: WeightDType | undefined): DType | undefined {
  if (dtype === undefined) return undefined;
  if (!(dtype in GGML_TYPE))
    throw new UsageError(
      `--dtype ${dtype}: this engine does not store ${dtype} weights (it stores ${Object.keys(GGML_TYPE)
        .filter((t) => t !== "i32")
        .join(", ")})`,
    );
  return dtype as DType;
}

/** The engine options of --threads and --device. */
export function engineOptions(o: { threads?: number; device?: DeviceName }): EngineOptions {
  return { threads: o.threads, ...(o.device ? { device: o.device } : {}) };
}

/** `--timeout <seconds>`: a time limit, always in seconds (fractions allowed). */
export function timeoutOption(what: string): Option {
  return new Option("--timeout <seconds>", `time limit of ${what}, in seconds`).argParser(
    decimal({ min: 0.001 }),
  );
}

/** Seconds from --timeout as the milliseconds library options take (undefined stays undefined). */
export function timeoutMs(seconds: number | undefined): number | undefined {
  return seconds === undefined ? undefined : Math.round(seconds * 1000);
}

/** `--concurrency <n>`: requests (problems, prompts) in flight at once. */
export function concurrencyOption(defaultValue?: number): Option {
  const option = new Option("--concurrency <n>", "requests (problems, prompts) in flight at once").argParser(
    positiveInteger,
  );
  return defaultValue === undefined ? option : option.default(defaultValue);
}

/** `--datasets <dir>`: the hub dataset cache, the same folder for every command. */
export function datasetsOption(): Option {
  return new Option(
    "--datasets <dir>",
    "hub dataset cache (default $REASONRL_DATASETS or ~/.cache/reasonrl/datasets)",
  );
}

/** `--set <key.path=value>`: recipe overrides, repeatable (applied by src/data/overrides.ts). */
export function setOption(example: string): Option {
  return new Option(
    "--set <key.path=value>",
    `override a recipe field by its dotted path; list items by index or name (repeatable), e.g. --set ${example}`,
  )
    .argParser(repeatable)
    .default([]);
}
