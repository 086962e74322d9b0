/**
 * Progress output of long commands, always on stderr (results own stdout, see
 * output.ts): a bar on a terminal, plain lines otherwise (CI, pipes, logs),
 * nothing when quiet (--json). `ProgressBar` is the one display; the run's
 * hooks (train, demo) and eval's hooks are built on it.
 */
import cliProgress from "cli-progress";
import type { RunHooks } from "../rl/run.ts";

/** How a ProgressBar shows itself. */
export interface ProgressBarOptions {
  /** Print nothing at all (for --json). */
  quiet?: boolean;
  /** The bar's layout after its label: cli-progress tokens {bar} {value} {total} {info} {eta_formatted}... */
  format?: string;
  /** Without a terminal, at most one plain line per this many ms (default: every update). */
  plainEveryMs?: number;
}

/**
 * One progress bar on stderr. On a terminal it redraws in place; otherwise
 * `update` prints "label value/total info" lines (throttled by plainEveryMs;
 * the last update always prints). `log` prints a line above the bar.
 */
export class ProgressBar {
  readonly #quiet: boolean;
  readonly #tty: boolean;
  readonly #format: string;
  readonly #plainEveryMs: number;
  #bar: cliProgress.SingleBar | null = null;
  #label = "";
  #total = 0;
  #value = 0;
  #lastLine = Number.NEGATIVE_INFINITY;

  constructor(options: ProgressBarOptions = {}) {
    this.#quiet = options.quiet ?? false;
    this.#tty = Boolean(process.stderr.isTTY) && !this.#quiet;
    this.#format = options.format ?? "[{bar}] {value}/{total} {info}";
    this.#plainEveryMs = options.plainEveryMs ?? 0;
  }

  /** The total of the bar now shown (0 before start). */
  get total(): number {
    return this.#total;
  }

  /** Starts a bar `label` of `total` units, `done` of them done already. */
  start(label: string, total: number, done = 0): void {
    this.done();
    this.#label = label;
    this.#total = total;
    this.#value = done;
    if (!this.#tty) return;
    this.#bar = new cliProgress.SingleBar(
      { format: `${label} ${this.#format}`, stream: process.stderr, hideCursor: true, etaBuffer: 50 },
      cliProgress.Presets.shades_classic,
    );
    this.#bar.start(total, done, { info: "" });
  }

  /** Moves the bar to `value`, with a short text of the latest numbers. */
  update(value: number, info = ""): void {
    this.#value = value;
    if (this.#bar) {
      this.#bar.update(value, { info });
      return;
    }
    if (this.#quiet) return;
    const now = performance.now();
    if (value < this.#total && now - this.#lastLine < this.#plainEveryMs) return;
    this.#lastLine = now;
    console.error(`${this.#label} ${value}/${this.#total}${info ? `  ${info}` : ""}`);
  }

  /** Prints a line (above the bar on a terminal); nothing when quiet. */
  log(line: string): void {
    if (!this.#quiet) this.warn(line);
  }

  /** Prints a line (above the bar on a terminal), even when quiet: warnings. */
  warn(line: string): void {
    const bar = this.#bar;
    if (bar) bar.stop();
    console.error(line);
    if (bar) this.start(this.#label, this.#total, this.#value);
  }

  /** Removes the bar (the terminal's line is kept). */
  done(): void {
    this.#bar?.stop();
    this.#bar = null;
  }
}

const fmt = (x: unknown, digits = 3) =>
  typeof x === "number" && Number.isFinite(x) ? x.toFixed(digits) : "-";

/** Hooks that draw a training run's progress (train, demo); `quiet` prints nothing (for --json). */
export function progressHooks(quiet: boolean): Required<
  Pick<RunHooks, "log" | "onStage" | "onSftStep" | "onGrpoStep" | "onEval">
> & {
  done(): void;
} {
  const bar = new ProgressBar({ quiet });
  return {
    log: (line) => bar.log(line),
    onStage: (name, n, done) => {
      if (name !== "eval") bar.start(name.padEnd(4), n, done);
    },
    onSftStep: (r) => {
      // Without a terminal, SFT (hundreds of short steps) prints every 25th step.
      if (r.step % 25 === 0 || r.step === bar.total || process.stderr.isTTY)
        bar.update(r.step, `loss ${fmt(r.loss)} lr ${r.lr.toExponential(1)}`);
    },
    onGrpoStep: (r) => {
      const info = [
        `reward ${fmt(r.reward)}`,
        `acc ${fmt(r.train_accuracy)}`,
        `len ${fmt(r.completion_length, 1)}`,
        `kl ${fmt(r.kl, 4)}`,
        `gen/reward/train ${fmt(r.generate_s, 1)}/${fmt(r.reward_s, 1)}/${fmt(r.train_s, 1)} s`,
      ].join("  ");
      bar.update(r.step, info);
    },
    onEval: (step, a) => {
      const when = step === 0 ? "before GRPO" : `after GRPO step ${step}`;
      bar.log(
        `eval ${when}: held-out accuracy ${(100 * a.accuracy).toFixed(1)}% (95% CI ${(100 * a.ci95[0]).toFixed(1)}-${(100 * a.ci95[1]).toFixed(1)}, n=${a.n})`,
      );
    },
    done: () => bar.done(),
  };
}
