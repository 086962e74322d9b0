import assert from "node:assert/strict";
import { test } from "node:test";
import { Command } from "commander";
import {
  concurrencyOption,
  datasetsOption,
  decimal,
  deviceOption,
  dtypeOption,
  integer,
  jsonOption,
  positiveInteger,
  setOption,
  threadsOption,
  timeoutMs,
  timeoutOption,
} from "../../src/cli/options.ts";

/** A throwaway program with the shared options; returns the parsed options or the error text. */
function parse(args: string[]): Record<string, unknown> | string {
  let errors = "";
  const program = new Command()
    .exitOverride()
    .configureOutput({ writeErr: (s) => (errors += s), writeOut: () => {} })
    .option("--steps <n>", "steps", positiveInteger)
    .option("--lr <x>", "learning rate", decimal({ min: 0 }))
    .addOption(threadsOption())
    .addOption(deviceOption())
    .addOption(dtypeOption())
    .addOption(timeoutOption("one request"))
    .addOption(concurrencyOption(4))
    .addOption(datasetsOption())
    .addOption(setOption("a.b=1"))
    .addOption(jsonOption());
  try {
    program.parse(args, { from: "user" });
  } catch {
    return errors;
  }
  return program.opts();
}

test("numeric flags parse numbers and reject the rest, naming the flag", () => {
  assert.deepEqual(parse(["--steps", "10_000", "--lr", "1e-4", "--threads", "2"]), {
    steps: 10000,
    lr: 1e-4,
    threads: 2,
    concurrency: 4,
    set: [],
  });
  for (const [flag, value, why] of [
    ["--steps", "abc", /expected an integer/],
    ["--steps", "1.5", /expected an integer/],
    ["--steps", "12x", /expected an integer/],
    ["--steps", "0", /expected a number >= 1/],
    ["--lr", "abc", /expected a number/],
    ["--lr", "-1", /expected a number >= 0/],
    ["--threads", "0", /expected a number >= 1/],
    ["--timeout", "0", /expected a number >= 0.001/],
    ["--concurrency", "x", /expected an integer/],
  ] as const) {
    const out = parse([flag, value]);
    assert.equal(typeof out, "string", `${flag} ${value} is rejected`);
    assert.match(out as string, new RegExp(`option '${flag} <[a-z]+>' argument '${value}' is invalid`));
    assert.match(out as string, why);
  }
});

test("--device takes cpu, vulkan[:N], cuda[:N], metal or auto", () => {
  for (const device of ["cpu", "vulkan", "vulkan:1", "cuda:0", "metal", "auto"])
    assert.equal((parse(["--device", device]) as { device: string }).device, device);
  assert.equal((parse(["--device", "Vulkan:0"]) as { device: string }).device, "vulkan:0");
  for (const device of ["gpu", "vulkan:", "cuda:x", "metal:0"])
    assert.match(parse(["--device", device]) as string, /'--device <name>' argument .* is invalid/);
});

test("--dtype takes f32, f16, bf16 or q8_0", () => {
  assert.equal((parse(["--dtype", "q8_0"]) as { dtype: string }).dtype, "q8_0");
  assert.match(parse(["--dtype", "int4"]) as string, /--dtype <type>' argument 'int4' is invalid/);
});

test("--timeout is in seconds; --set repeats; --json is a switch", () => {
  const o = parse(["--timeout", "2.5", "--set", "a=1", "--set", "b.c=2", "--json", "--datasets", "d"]);
  assert.deepEqual(o, { timeout: 2.5, set: ["a=1", "b.c=2"], json: true, datasets: "d", concurrency: 4 });
  assert.equal(timeoutMs(2.5), 2500);
  assert.equal(timeoutMs(undefined), undefined);
});

test("integer bounds are inclusive", () => {
  const port = integer({ min: 0, max: 65535 });
  assert.equal(port("65535"), 65535);
  assert.throws(() => port("65536"), /expected a number <= 65535/);
});
