/** Progress output: plain lines on stderr without a terminal, nothing when quiet, stdout untouched. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ProgressBar, progressHooks } from "../../src/cli/progress.ts";

/** Runs `f` with console.log and console.error recorded (the test runs without a terminal). */
function captured(f: () => void): { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    f();
  } finally {
    console.log = log;
    console.error = error;
  }
  return { out, err };
}

test("without a terminal a bar prints plain lines to stderr, throttled, the last always", () => {
  assert.equal(process.stderr.isTTY, undefined, "the test runs with stderr piped");
  const { out, err } = captured(() => {
    const bar = new ProgressBar({ plainEveryMs: 60_000 });
    bar.start("eval", 3);
    bar.update(1, "aime24");
    bar.update(2, "aime24"); // within the interval: not printed
    bar.log("a note");
    bar.update(3, "amc23"); // the last: printed
    bar.done();
  });
  assert.deepEqual(out, []);
  assert.deepEqual(err, ["eval 1/3  aime24", "a note", "eval 3/3  amc23"]);
});

test("quiet prints nothing but warnings", () => {
  const { out, err } = captured(() => {
    const bar = new ProgressBar({ quiet: true });
    bar.start("eval", 2);
    bar.update(2, "x");
    bar.log("a note");
    bar.warn("warning: careful");
  });
  assert.deepEqual(out, []);
  assert.deepEqual(err, ["warning: careful"]);
});

test("a run's hooks report GRPO steps and evaluations on stderr", () => {
  const { out, err } = captured(() => {
    const hooks = progressHooks(false);
    hooks.onStage("grpo", 2, 0);
    hooks.onEval(0, { accuracy: 0.5, ci95: [0.4, 0.6], n: 100 } as never);
    hooks.onGrpoStep({
      step: 1,
      reward: 0.25,
      train_accuracy: 0.5,
      completion_length: 12,
      kl: 0.001,
    } as never);
    hooks.done();
  });
  assert.deepEqual(out, []);
  assert.match(err[0], /^eval before GRPO: held-out accuracy 50\.0% \(95% CI 40\.0-60\.0, n=100\)$/);
  assert.match(err[1], /^grpo 1\/2 {2}reward 0\.250 {2}acc 0\.500 {2}len 12\.0 {2}kl 0\.0010/);
  const quiet = captured(() => progressHooks(true).log("hidden"));
  assert.deepEqual(quiet, { out: [], err: [] });
});
