/**
 * The guards of a run's GRPO stage (src/track/guards.ts: the rules) wired into
 * the run: the step's non-English and format shares added to its metrics, each
 * held-out evaluation and step record handed to the guards, each alert
 * reported (the caller's console and run store) and logged in metrics.jsonl as
 * a line of stage "guard", and a guard with `action: stop` ending the run
 * after the step that tripped it (not after the last step: the run ends there
 * anyway).
 *
 * A resumed run replays the records it logged up to its checkpoint, so a guard
 * that had tripped is not reported again unless it clears first; its guard
 * lines after the checkpoint are dropped, as the steps' are.
 */
import type { Accuracy } from "../eval/accuracy.ts";
import { type GuardAlert, GuardMonitor, type GuardStep, type GuardsConfig } from "../track/guards.ts";
import type { RolloutFlags, RolloutRow } from "../track/store.ts";
import { NON_LATIN_SHARE } from "../track/store-read.ts";
import type { RunFolder } from "../train/run-folder.ts";

/** A line of metrics.jsonl for a guard that tripped after step `step`. */
export interface GuardLine {
  stage: "guard";
  step: number;
  guard: GuardAlert["guard"];
  action: GuardAlert["action"];
  message: string;
  value: number;
  threshold: number;
}

/** What the guards of a GRPO stage need to know of the run. */
export interface RunGuardsOptions {
  config: GuardsConfig;
  /** The stage's last step: a stop there changes nothing. */
  steps: number;
  /** The completion token limit (in length_limit's message). */
  maxTokens: number;
  /** Shows or records an alert (console, run store). */
  report: (alert: GuardAlert) => void;
}

export class RunGuards {
  readonly #monitor: GuardMonitor;
  #stopAlert: GuardAlert | null = null;
  /** The alerts' metrics.jsonl lines, written in order behind the steps (flush waits for them). */
  #writes: Promise<void> = Promise.resolve();

  private constructor(
    readonly folder: RunFolder,
    readonly options: RunGuardsOptions,
  ) {
    this.#monitor = new GuardMonitor(options.config, { maxTokens: options.maxTokens });
  }

  /**
   * The guards of `folder`'s GRPO stage, after its evaluation before training was logged: they
   * replay the evaluations and steps logged up to the latest checkpoint (a resumed run).
   */
  static async open(folder: RunFolder, options: RunGuardsOptions): Promise<RunGuards> {
    const guards = new RunGuards(folder, options);
    const start = await folder.latestStep("grpo");
    await folder.truncateMetrics(["guard"], start);
    for (const line of await folder.readMetrics()) {
      const step = Number(line.step);
      if (!(step <= start)) continue;
      if (line.stage === "eval") guards.#monitor.addEvaluation({ step, ...(line.result as Accuracy) });
      else if (line.stage === "grpo") guards.#monitor.addStep(line as GuardStep);
    }
    return guards;
  }

  /** The alert that stops the run, once a guard with `action: stop` tripped before the last step. */
  get stopAlert(): GuardAlert | null {
    return this.#stopAlert;
  }

  /** True once the run is to stop after the current step. */
  get stopping(): boolean {
    return this.#stopAlert !== null;
  }

  /** A held-out evaluation after step `step` (before that step's record is added). */
  afterEvaluation(step: number, result: Accuracy): void {
    this.#monitor.addEvaluation({ step, ...result });
  }

  /** Step `record`'s guards: each new alert reported and logged; a stop alert ends the run. */
  afterStep(record: GuardStep): void {
    for (const alert of this.#monitor.addStep(record)) {
      this.options.report(alert);
      const { guard, step, action, message, value, threshold } = alert;
      const line: GuardLine = { stage: "guard", step, guard, action, message, value, threshold };
      this.#writes = this.#writes.then(() => this.folder.appendMetrics(line));
      if (action === "stop" && step < this.options.steps) this.#stopAlert ??= alert;
    }
  }

  /** Waits until every alert is in metrics.jsonl (a failed write throws here). */
  flush(): Promise<void> {
    return this.#writes;
  }
}

/**
 * Two metrics of a step's rollouts, for the guards and the dashboard's curves:
 * `non_english_fraction`, the share of completions the rollout browser's "non-English" filter
 * shows (letters of two scripts or more, or at least NON_LATIN_SHARE of them outside Latin),
 * and, when the rewards have no format term (whose mean `reward_format` is that share),
 * `format_ok_fraction`, the share that keeps the paper's format. Both by the run store's
 * rule of each completion (src/track/store.ts rolloutFlags), given with `flags` (computed once,
 * for the store too), so a step's share is that of its stored rollouts.
 */
export function rolloutShares(
  rows: ReadonlyArray<Pick<RolloutRow, "rewards"> & { flags: RolloutFlags }>,
): Record<string, number> {
  const share = (count: (f: RolloutFlags) => boolean) =>
    rows.filter((r) => count(r.flags)).length / Math.max(1, rows.length);
  const metrics: Record<string, number> = {
    non_english_fraction: share((f) => f.mixedScripts === 1 || f.langOther >= NON_LATIN_SHARE),
  };
  if (!rows.some((r) => typeof r.rewards.format === "number"))
    metrics.format_ok_fraction = share((f) => f.formatOk === 1);
  return metrics;
}
