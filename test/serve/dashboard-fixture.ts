/**
 * Run stores for the dashboard's tests, written with the run store's own writer
 * (src/track/store.ts): a finished training run, a run that grows while a test
 * watches, and an eval output folder. Completions carry the cases the rollout
 * browser filters: right and wrong, cut at the limit, another script, a broken
 * format, and markup that must show as text.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { RunStore, STORE_FILE } from "../../src/track/store.ts";

/** A completion that must appear as text on the page, never as markup. */
export const MARKUP = `I think it is 7 <img src=x onerror="window.__xss=1"><script>window.__xss=1</script>`;

/** GRPO step `step`'s metrics, rollouts (2 groups of 4) and, every 3rd step, a guard event. */
export function writeStep(store: RunStore, step: number): void {
  const rollouts = [0, 1].flatMap((group) => {
    const sum = group + 2 + step;
    const cases = [
      {
        text: `<think>${group + 2} + ${step} = ${sum}</think>\n<answer>${sum}</answer>`,
        accuracy: 1,
        format: 1,
      },
      { text: `<think>${MARKUP}</think>\n<answer>7</answer>`, accuracy: 0, format: 1 },
      { text: "1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1", accuracy: 0, format: 0, cut: true },
      { text: `<think>答案是 ${sum}，因为加法</think>\n<answer>${sum}</answer>`, accuracy: 1, format: 1 },
    ];
    return cases.map((c, index) => ({
      group,
      index,
      round: 0,
      prompt: `What is ${group + 2} + ${step}?`,
      completion: c.text,
      tokens: c.cut ? 32 : 12,
      finishReason: c.cut ? "length" : "stop",
      rewards: { accuracy: c.accuracy, format: c.format },
      reward: c.accuracy + c.format,
      advantage: c.accuracy ? 0.9 : -0.9,
    }));
  });
  const metrics = {
    stage: "grpo",
    step,
    reward: 0.5 + 0.1 * step,
    reward_accuracy: 0.4 + 0.05 * step,
    reward_format: 0.9,
    train_accuracy: 0.4 + 0.05 * step,
    completion_length: 20 + step,
    completion_length_max: 32,
    clipped_fraction: 0.125,
    kl: 0.01 * step,
    entropy: 0.5,
    clip_ratio: 0,
    loss: -0.1,
    grad_norm: 0.8,
    lr: 1e-3,
    generate_s: 0.6,
    reward_s: 0.05,
    train_s: 1.2,
  };
  const events =
    step % 3 === 0
      ? [
          {
            step,
            kind: "guard",
            name: "length_limit",
            level: "warn" as const,
            message: `step ${step}: 12% cut at 32 tokens`,
          },
        ]
      : [];
  store.writeStep({ stage: "grpo", step, metrics, rollouts, events });
  if (step % 4 === 0) {
    const accuracy = 0.5 + 0.02 * step;
    store.writeEval(
      step,
      { accuracy, n: 50, ci95: [accuracy - 0.1, accuracy + 0.1] },
      evalSamples("heldout", 3),
    );
  }
}

/** An evaluation's graded samples: per problem one right and one wrong (with markup) sample. */
function evalSamples(benchmark: string, problems: number) {
  return Array.from({ length: problems }, (_, problem) =>
    [0, 1].map((sample) => ({
      benchmark,
      problem,
      sample,
      prompt: `Problem ${problem}: what is ${problem} * 2?`,
      completion: sample === 0 ? `\\boxed{${2 * problem}}` : `<b>${problem}</b>`,
      answer: sample === 0 ? `${2 * problem}` : `${problem}`,
      gold: `${2 * problem}`,
      correct: sample === 0 || problem === 0,
      tokens: 8,
      finishReason: "stop",
    })),
  ).flat();
}

/** Opens (makes) the store of a training run in `dir`. */
export function openTrainStore(dir: string, name: string): RunStore {
  return RunStore.open(join(dir, STORE_FILE), { kind: "train", name, model: "tiny" });
}

/** A finished training run of `steps` GRPO steps in `dir`, with summary.json. */
export async function finishedRun(dir: string, name: string, steps: number): Promise<void> {
  const store = openTrainStore(dir, name);
  for (let s = 1; s <= steps; s++) writeStep(store, s);
  store.close();
  await writeFile(join(dir, "summary.json"), JSON.stringify({ name, stopped: false, grpo_steps: steps }));
}

/** An eval output folder: its store (step 0 samples) and results.json as `reasonrl eval` writes them. */
export async function evalFolder(dir: string, model: string, accuracy: number): Promise<void> {
  const store = RunStore.open(join(dir, STORE_FILE), { kind: "eval", name: model, model });
  store.writeEvalSamples(0, evalSamples("math500", 4));
  store.close();
  const estimate = { value: accuracy, stderr: 0.05, ci95: [accuracy - 0.1, accuracy + 0.1] };
  const settings = {
    prompt: "lighteval",
    system: null,
    n: 2,
    k: [1],
    temperature: 0.6,
    top_p: 0.95,
    max_tokens: 64,
    seed: 0,
    limit: null,
  };
  const benchmark = {
    name: "math500",
    title: "MATH-500",
    source: "test",
    problems: 4,
    skipped_rows: 0,
    metrics: { "pass@1": estimate },
    truncated: 0,
    mean_tokens: 8,
    unknown_tokens: 0,
    unknown_finish: 0,
    grading_failures: 0,
    failed_samples: 0,
  };
  const results = {
    version: 1,
    model,
    target: `local ${model}`,
    settings,
    benchmarks: [benchmark],
    average: { "pass@1": estimate },
    truncated: 0,
    mean_tokens: 8,
    unknown_tokens: 0,
    unknown_finish: 0,
    failed_samples: 0,
    failures: [],
    run: {},
    created: new Date().toISOString(),
  };
  await writeFile(join(dir, "results.json"), JSON.stringify(results));
}

/** A JSON value as the tests read it: its fields are checked by the assertions. */
// biome-ignore lint/suspicious/noExplicitAny: response bodies are read field by field and asserted on
export type Json = any;
