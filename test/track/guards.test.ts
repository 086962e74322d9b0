/**
 * Guards: synthetic metric streams that trip each guard (with the numbers in its message) and
 * streams that do not (noise around a flat line, a slow drift inside the threshold, warm-up,
 * missing data); the schema's errors name the field; the monitor reports a guard once per trip.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseRecipe } from "../../src/rl/recipe.ts";
import {
  checkGuards,
  type GuardEvaluation,
  GuardMonitor,
  type GuardStep,
  GuardsConfig,
  type GuardsConfigInput,
} from "../../src/track/guards.ts";
import { tinyRunRecipe } from "../rl/helpers.ts";

/** A seeded uniform noise in [-1, 1) (a small LCG: the same streams every run). */
function noise(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  };
}

/** Steps 1..n of one metric, value(step). */
function stream(n: number, metric: string, value: (step: number) => number): GuardStep[] {
  return Array.from({ length: n }, (_, i) => ({ step: i + 1, [metric]: value(i + 1) }));
}

/** Every guard off except `only` (set as given). */
function only(name: keyof GuardsConfigInput, c: Record<string, unknown> = {}): GuardsConfig {
  const off = Object.fromEntries(
    ["lengthLimit", "heldoutDrop", "languageDrift", "formatCollapse", "klSpike", "rewardHacking"].map((k) => [
      k,
      { action: "off" },
    ]),
  );
  return GuardsConfig.parse({ ...off, [name]: { action: "warn", ...c } });
}

/** The steps at which the guard's condition holds, checking each prefix of the stream as a run would. */
function trippedAt(
  steps: readonly GuardStep[],
  config: GuardsConfig,
  evaluations: readonly GuardEvaluation[] = [],
  maxTokens?: number,
): number[] {
  return steps
    .map((r, i) => ({
      r,
      alerts: checkGuards(
        {
          steps: steps.slice(0, i + 1),
          evaluations: evaluations.filter((e) => e.step <= r.step),
          maxTokens,
        },
        config,
      ),
    }))
    .filter((x) => x.alerts.length > 0)
    .map((x) => x.r.step);
}

/** The alerts at the last step of `steps`. */
const alertsAtEnd = (
  steps: readonly GuardStep[],
  config: GuardsConfig,
  evaluations: GuardEvaluation[] = [],
) => checkGuards({ steps, evaluations, maxTokens: 4096 }, config);

test("the defaults are documented values; a bad threshold is refused naming its field", () => {
  const d = GuardsConfig.parse({});
  assert.equal(d.lengthLimit.threshold, 0.2);
  assert.equal(d.lengthLimit.action, "warn");
  assert.equal(d.klSpike.factor, 5);
  assert.equal(d.heldoutDrop.warmup, 0);
  assert.equal(d.formatCollapse.warmup, 10);

  const bad = GuardsConfig.safeParse({ lengthLimit: { threshold: 1.5 } });
  assert.equal(bad.success, false);
  assert.deepEqual(bad.error?.issues[0].path, ["lengthLimit", "threshold"]);

  const recipe = (guards: unknown) => ({ ...tinyRunRecipe(), model: { path: "m" }, guards });
  assert.throws(
    () => parseRecipe(recipe({ lengthLimit: { threshold: 1.5 } }), "r.yaml"),
    /guards\.lengthLimit\.threshold/,
  );
  assert.throws(
    () => parseRecipe(recipe({ klSpike: { action: "halt" } }), "r.yaml"),
    /guards\.klSpike\.action/,
  );
  assert.throws(() => parseRecipe(recipe({ klSpik: {} }), "r.yaml"), /guards/);
  assert.equal(parseRecipe(recipe(undefined), "r.yaml").guards.rewardHacking.rewardRise, 0.1);
});

test("length_limit trips when the share cut at the limit rises above its threshold, with the numbers", () => {
  const config = only("lengthLimit", { window: 1 });
  // 12% for 47 steps, then 34%
  const steps = stream(60, "clipped_fraction", (s) => (s < 57 ? 0.12 : 0.34));
  assert.deepEqual(trippedAt(steps, config), [57, 58, 59, 60]);
  const [alert] = alertsAtEnd(steps.slice(0, 57), config);
  assert.equal(alert.guard, "length_limit");
  assert.equal(
    alert.message.split(";")[0],
    "step 57: 34% of completions cut at 4096 tokens (12% at step 47)",
  );
  assert.equal(alert.value, 0.34);
  assert.equal(alert.action, "warn");
});

test("length_limit: no alert on noise around a flat line above the threshold, a slow drift, or in warm-up", () => {
  const config = GuardsConfig.parse({});
  const n = noise(1);
  // high but flat: no rise
  assert.deepEqual(
    trippedAt(
      stream(200, "clipped_fraction", () => 0.3 + 0.05 * n()),
      config,
    ),
    [],
  );
  // rising slowly, under the threshold
  assert.deepEqual(
    trippedAt(
      stream(200, "clipped_fraction", (s) => 0.05 + 0.0007 * s + 0.02 * n()),
      config,
    ),
    [],
  );
  // a sharp rise inside the warm-up
  const early = stream(10, "clipped_fraction", (s) => (s < 5 ? 0 : 0.9));
  assert.deepEqual(trippedAt(early, GuardsConfig.parse({ lengthLimit: { lookback: 2, window: 1 } })), []);
  // the same rise after it trips
  const later = stream(20, "clipped_fraction", (s) => (s < 15 ? 0 : 0.9));
  assert.deepEqual(trippedAt(later, only("lengthLimit", { lookback: 2, window: 1 })), [15, 16]);
});

const evalAt = (step: number, accuracy: number, half = 0.1, n = 100): GuardEvaluation => ({
  step,
  accuracy,
  ci95: [accuracy - half, accuracy + half],
  n,
});

test("heldout_drop trips when the best accuracy lies above the latest evaluation's interval", () => {
  const config = only("heldoutDrop");
  const steps = stream(150, "reward", () => 1);
  const evals = [evalAt(0, 0.5), evalAt(50, 0.72), evalAt(100, 0.66), evalAt(150, 0.45)];
  assert.deepEqual(trippedAt(steps, config, evals), [150]);
  const [alert] = alertsAtEnd(steps, config, evals);
  assert.equal(
    alert.message,
    "step 150: held-out accuracy 45% (95% CI 35%-55%, n=100) fell from its best, 72% at step 50, by more than its interval",
  );
  // a fall inside the interval: no alert
  assert.deepEqual(trippedAt(steps, config, [evalAt(0, 0.5), evalAt(50, 0.72), evalAt(150, 0.65)]), []);
  // a margin asks for more
  assert.deepEqual(trippedAt(steps, only("heldoutDrop", { margin: 0.2 }), evals), []);
  // no held-out set: inactive, not an error
  assert.deepEqual(trippedAt(steps, config, []), []);
  assert.deepEqual(trippedAt(steps, config, [evalAt(0, 0.5)]), []);
});

test("language_drift trips when the share of completions in other scripts climbs above its threshold", () => {
  const n = noise(2);
  const config = GuardsConfig.parse({});
  const drifting = stream(250, "non_english_fraction", (s) =>
    Math.max(0, (s < 150 ? 0.01 : 0.01 + (s - 150) * 0.004) + 0.01 * n()),
  );
  const at = trippedAt(drifting, config);
  assert.ok(at.length > 0 && at[0] > 170 && at[0] < 200, `tripped at ${at[0]}`);
  assert.match(
    alertsAtEnd(drifting.slice(0, at[0]), config)[0].message,
    /^step \d+: \d+% of completions not in English \(other scripts\) over steps \d+-\d+; alert above 10%$/,
  );
  // noise around 2%: no alert; no such metric: inactive
  assert.deepEqual(
    trippedAt(
      stream(250, "non_english_fraction", () => 0.02 + 0.02 * n()),
      config,
    ),
    [],
  );
  assert.deepEqual(
    trippedAt(
      stream(250, "reward", () => 1),
      config,
    ),
    [],
  );
});

test("format_collapse trips when the format share drops below its threshold or falls from its running best", () => {
  const n = noise(3);
  const config = GuardsConfig.parse({});
  // reward_format (the format term's mean): 95% falling to 60% from step 80
  const falling = stream(120, "reward_format", (s) => (s < 80 ? 0.95 : 0.6) + 0.02 * n());
  const at = trippedAt(falling, config);
  assert.ok(at[0] >= 80 && at[0] <= 84, `tripped at ${at[0]}`);
  assert.match(
    alertsAtEnd(falling.slice(0, at[0]), config)[0].message,
    /keep the format over steps \d+-\d+, down from 9\d% over steps \d+-\d+, a fall of more than 25 points$/,
  );
  // from the samples' share when there is no format term: dropping below the threshold (a fall under the margin)
  const below = stream(40, "format_ok_fraction", (s) => (s <= 20 ? 0.6 : 0.4));
  assert.equal(trippedAt(below, config)[0], 23);
  assert.equal(
    alertsAtEnd(below.slice(0, 23), config)[0].message,
    "step 23: 48% of completions keep the format over steps 19-23, below 50%",
  );
  // a run that never had the format (a weak start) has nothing to collapse: no alert
  assert.deepEqual(
    trippedAt(
      stream(60, "format_ok_fraction", (s) => 0.3 + 0.002 * s),
      config,
    ),
    [],
  );
  // noise around 90%, and a slow decline inside the margin: no alert
  assert.deepEqual(
    trippedAt(
      stream(200, "reward_format", () => 0.9 + 0.05 * n()),
      config,
    ),
    [],
  );
  assert.deepEqual(
    trippedAt(
      stream(200, "reward_format", (s) => 0.95 - 0.001 * s),
      config,
    ),
    [],
  );
});

test("kl_spike trips on a spike above k x the running median or the cap, not on a steady climb", () => {
  const n = noise(4);
  const config = GuardsConfig.parse({});
  const spiky = stream(100, "kl", (s) => (s === 70 ? 0.3 : 0.02 + 0.005 * n()));
  assert.deepEqual(trippedAt(spiky, config), [70]);
  assert.match(
    alertsAtEnd(spiky.slice(0, 70), config)[0].message,
    /^step 70: KL 0\.300 is 1\d\.\dx its median over steps 50-69/,
  );
  // KL growing tenfold over the run, with noise: no spike
  assert.deepEqual(
    trippedAt(
      stream(300, "kl", (s) => 0.005 + 0.0002 * s * (1 + 0.2 * n())),
      config,
    ),
    [],
  );
  // KL growing from 0 early in training is no spike, even at 100x its median: the median counts as at least the floor
  const growing = stream(40, "kl", (s) => (s < 20 ? 0.0001 * s : 0.03));
  assert.deepEqual(trippedAt(growing, config), []);
  const jump = stream(40, "kl", (s) => (s < 20 ? 0.0001 * s : 0.06));
  assert.equal(trippedAt(jump, config)[0], 20);
  assert.equal(
    alertsAtEnd(jump.slice(0, 20), config)[0].message,
    "step 20: KL 0.0600 is above 5x the floor 0.01 (its median over steps 1-19 is 0.00100)",
  );
  assert.deepEqual(
    trippedAt(
      stream(40, "kl", (s) => (s === 30 ? 0.005 : 0.00005)),
      config,
    ),
    [],
  );
  // skipped steps (KL 0, no update) do not drag the median down
  const skipping: GuardStep[] = stream(60, "kl", (s) => (s % 2 ? 0.02 : 0)).map((r) => ({
    ...r,
    skipped: r.step % 2 === 0,
  }));
  skipping.push({ step: 61, kl: 0.06 }); // 3x the median of the measured steps, 6x with the skipped ones
  assert.deepEqual(trippedAt(skipping, config), []);
  // the cap
  assert.deepEqual(
    trippedAt(
      stream(30, "kl", (s) => 0.01 * s),
      GuardsConfig.parse({ klSpike: { max: 0.2 } }),
    ),
    [21, 22, 23, 24, 25, 26, 27, 28, 29, 30],
  );
  // no reference (KL 0 throughout): inactive
  assert.deepEqual(
    trippedAt(
      stream(60, "kl", () => 0),
      config,
    ),
    [],
  );
});

test("reward_hacking trips when training reward rises while held-out accuracy falls", () => {
  const config = only("rewardHacking");
  const rising = stream(100, "reward", (s) => 1 + s / 100);
  const falling = [evalAt(0, 0.6), evalAt(50, 0.6), evalAt(100, 0.5)];
  assert.deepEqual(trippedAt(rising, config, falling), [100]);
  assert.match(
    alertsAtEnd(rising, config, falling)[0].message,
    /^step 100: training reward rose 1\.480 -> 1\.980 \(steps 46-50 -> steps 96-100\) while held-out accuracy fell 60% -> 50% \(step 50 -> 100\)$/,
  );
  // reward up and accuracy up, or accuracy down with a flat reward: no alert
  assert.deepEqual(trippedAt(rising, config, [evalAt(0, 0.5), evalAt(50, 0.55), evalAt(100, 0.6)]), []);
  assert.deepEqual(
    trippedAt(
      stream(100, "reward", () => 1.5),
      config,
      falling,
    ),
    [],
  );
  // against the evaluation before training: the first steps' reward
  assert.deepEqual(trippedAt(rising.slice(0, 50), config, [evalAt(0, 0.6), evalAt(50, 0.5)]), [50]);
  // without evaluations: inactive
  assert.deepEqual(trippedAt(rising, config, []), []);
});

test("the monitor reports a guard when it trips, not again while it holds, and again after it clears", () => {
  const monitor = new GuardMonitor(
    only("lengthLimit", { action: "stop", lookback: 1, window: 1, warmup: 0 }),
    {
      maxTokens: 12,
    },
  );
  const values = [0, 0.5, 0.9, 0.9, 0, 0.6];
  const reported = values.map((v, i) => monitor.addStep({ step: i + 1, clipped_fraction: v }));
  assert.deepEqual(
    reported.map((a) => a.map((x) => x.guard)),
    [[], ["length_limit"], [], [], [], ["length_limit"]],
  );
  assert.equal(reported[1][0].action, "stop");
  assert.match(reported[1][0].message, /cut at 12 tokens/);

  // held-out guards read the evaluation added before the step's record
  const held = new GuardMonitor(only("heldoutDrop"));
  held.addEvaluation(evalAt(0, 0.8, 0.05));
  assert.deepEqual(held.addStep({ step: 1 }), []);
  held.addEvaluation(evalAt(2, 0.4, 0.05));
  assert.equal(held.addStep({ step: 2 })[0].guard, "heldout_drop");
  // it holds until an evaluation says otherwise: not reported again while the accuracy stays down
  assert.deepEqual(held.addStep({ step: 3 }), []);
  held.addEvaluation(evalAt(4, 0.45, 0.05));
  assert.deepEqual(held.addStep({ step: 4 }), []);
  held.addEvaluation(evalAt(6, 0.8, 0.05));
  assert.deepEqual(held.addStep({ step: 6 }), []);
  held.addEvaluation(evalAt(8, 0.5, 0.05));
  assert.match(
    held.addStep({ step: 8 })[0].message,
    /^step 8: held-out accuracy 50% .* its best, 80% at step 0/,
  );

  // off: never reported
  const off = new GuardMonitor(GuardsConfig.parse({ lengthLimit: { action: "off", warmup: 0 } }));
  assert.deepEqual(
    values.flatMap((v, i) => off.addStep({ step: i + 1, clipped_fraction: v })),
    [],
  );
});
