/**
 * Test helpers: the devices under test, seeded random data, plain-TypeScript
 * references, finite-difference gradients.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Engine, type Graph, listDevices, type Tensor } from "../../src/engine/index.ts";
import { seededRandom } from "../../src/model/random.ts";

// ggml's Vulkan backend lists hardware GPUs only. Mesa's software device (lavapipe) is
// tested when GGML_VK_VISIBLE_DEVICES names it (GGML_VK_VISIBLE_DEVICES=0 on a machine
// without a GPU). It needs Mesa >= 23: Debian 12's lavapipe (Mesa 22.3) reads freed buffer
// objects in its queue thread under training graphs and crashes about one run in two.
// .ci/run installs Mesa 25 (bookworm-backports) and sets it, so every engine test runs there too.

/**
 * "cpu", then every GPU device of this build (the engine tests run on each). With only the
 * CPU, registers one skipped test saying so, so a run without GPU backends shows it.
 */
export function testDevices(): string[] {
  const names = listDevices().map((d) => d.name);
  if (names.length === 1) {
    test("GPU devices", {
      skip: "no GPU device: none in this build (REASONRL_GPU=vulkan npm install) or none found (lavapipe: GGML_VK_VISIBLE_DEVICES=0)",
    }, () => {});
  }
  return names;
}

/** A small seeded generator so failures reproduce. */
export const rng = seededRandom;

/** n uniform values in [lo, hi). */
export function uniform(rand: () => number, n: number, lo = -1, hi = 1): Float32Array {
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());
}

const shared = new Map<string, Engine>();
/** One engine per device for a test file (2 threads, the CI machine's cores). */
export function engine(device = "cpu"): Engine {
  let e = shared.get(device);
  if (!e) {
    e = new Engine({ threads: 2, device });
    shared.set(device, e);
  }
  return e;
}

/** Asserts two arrays agree elementwise within atol + rtol * |expected|. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol = 1e-5,
  rtol = 1e-4,
  what = "",
): void {
  assert.equal(actual.length, expected.length, `${what}: lengths differ`);
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs(actual[i] - expected[i]);
    if (!(diff <= atol + rtol * Math.abs(expected[i]))) {
      assert.fail(`${what}: element ${i}: got ${actual[i]}, expected ${expected[i]} (diff ${diff})`);
    }
  }
}

/**
 * Checks the gradients of `build(g, ...params)` (a scalar loss) against central
 * finite differences, for up to `samples` elements of each parameter.
 * Returns the largest relative error seen.
 */
export async function gradCheck(
  params: Tensor[],
  build: (g: Graph) => Tensor,
  { samples = 8, h = 1e-2, tol = 2e-2, seed = 1, on = undefined as Engine | undefined } = {},
): Promise<number> {
  const e = on ?? (params[0].host as Engine); // the parameters' engine
  const train = e.graph({ capacity: 8192 });
  train.build({ loss: build(train), backward: true, outputs: [] });
  const fwd = e.graph({ capacity: 8192 });
  const loss = build(fwd);
  fwd.build({ outputs: [loss] });
  const evalLoss = async () => (await fwd.compute())[0][0];

  e.zeroGrads(params);
  await train.compute();
  const rand = rng(seed);
  let worst = 0;
  for (const p of params) {
    const grad = (p.grad as Tensor).readF32();
    const values = p.readF32();
    const picks = Array.from({ length: Math.min(samples, p.size) }, (_, i) =>
      p.size <= samples ? i : Math.floor(rand() * p.size),
    );
    for (const i of picks) {
      const orig = values[i];
      values[i] = orig + h;
      p.write(values);
      const up = await evalLoss();
      values[i] = orig - h;
      p.write(values);
      const down = await evalLoss();
      values[i] = orig;
      p.write(values);
      const numeric = (up - down) / (2 * h);
      const err = Math.abs(numeric - grad[i]) / Math.max(1e-2, Math.abs(numeric), Math.abs(grad[i]));
      worst = Math.max(worst, err);
      assert.ok(
        err <= tol,
        `${p.describe()}[${i}]: analytic ${grad[i]} vs numeric ${numeric} (rel err ${err})`,
      );
    }
  }
  train.free();
  fwd.free();
  return worst;
}
