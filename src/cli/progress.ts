/**
 * Progress display of a run: one bar per stage (SFT, GRPO, evaluation) with the
 * step's key numbers, on a terminal; plain log lines otherwise (CI, pipes).
 */
import cliProgress from "cli-progress";
import type { RunHooks } from "../rl/run.ts";

const fmt = (x: unknown, digits = 3) =>
  typeof x === "number" && Number.isFinite(x) ? x.toFixed(digits) : "-";

/** Hooks that draw the run's progress; `quiet` prints nothing (for --json). */
export function progressHooks(quiet: boolean): Required<
  Pick<RunHooks, "log" | "onStage" | "onSftStep" | "onGrpoStep" | "onEval">
> & {
  done(): void;
} {
  const tty = process.stderr.isTTY && !quiet;
  let bar: cliProgress.SingleBar | null = null;
  let stage = "";
  let total = 0;
  const stopBar = () => {
    bar?.stop();
    bar = null;
  };
  const line = (text: string) => {
    if (quiet) return;
    if (bar) bar.stop();
    console.log(text);
    if (bar) bar = null;
  };
  const start = (name: string, n: number, done: number) => {
    stopBar();
    stage = name;
    total = n;
    if (!tty) return;
    bar = new cliProgress.SingleBar(
      {
        format: `${name.padEnd(4)} [{bar}] {value}/{total} {info}`,
        stream: process.stderr,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(n, done, { info: "" });
  };
  return {
    log: line,
    onStage: (name, n, done) => {
      if (name !== "eval") start(name, n, done);
    },
    onSftStep: (r) => {
      const info = `loss ${fmt(r.loss)} lr ${r.lr.toExponential(1)}`;
      if (bar) bar.update(r.step, { info });
      else if (!quiet && (r.step % 25 === 0 || r.step === total))
        console.log(`sft  ${r.step}/${total}  ${info}`);
    },
    onGrpoStep: (r) => {
      const info = [
        `reward ${fmt(r.reward)}`,
        `acc ${fmt(r.accuracy)}`,
        `len ${fmt(r.completion_length, 1)}`,
        `kl ${fmt(r.kl, 4)}`,
        `gen/score/train ${fmt(r.generate_s, 1)}/${fmt(r.score_s, 1)}/${fmt(r.train_s, 1)} s`,
      ].join("  ");
      if (bar) bar.update(r.step, { info });
      else if (!quiet) console.log(`grpo ${r.step}/${total}  ${info}`);
    },
    onEval: (step, a) => {
      const when = step === 0 ? "before GRPO" : `after GRPO step ${step}`;
      const text = `eval ${when}: held-out accuracy ${(100 * a.accuracy).toFixed(1)}% (95% CI ${(100 * a.ci95[0]).toFixed(1)}-${(100 * a.ci95[1]).toFixed(1)}, n=${a.n})`;
      if (bar) {
        bar.stop();
        if (!quiet) console.log(text);
        const resumeAt = step;
        bar = null;
        start(stage, total, resumeAt);
      } else line(text);
    },
    done: stopBar,
  };
}
