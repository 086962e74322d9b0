/**
 * What the GRPO and SFT loops share around their steps: a stage of a run
 * folder (run-folder.ts), with its checkpoints in `checkpoints/<stage>/` and
 * its lines in `metrics.jsonl`.
 *
 * Opening a stage resumes it: the optimizer's parameters and moments are
 * restored from the latest checkpoint, and the metrics lines written after
 * that checkpoint (by a run that was stopped before its next one) are dropped,
 * so the resumed run writes them again exactly once. After each step the loop
 * hands the step's record to `endStep`, which appends it, shows it, asks
 * whether to stop, and saves a checkpoint at the last step, when stopping, and
 * every `checkpointEvery` steps.
 */
import { mkdir } from "node:fs/promises";
import type { AdamW, Tensor } from "../engine/index.ts";
import { listCheckpoints, loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";
import type { RunFolder } from "./run-folder.ts";

/** Where a stage lives and how often it saves. */
export interface TrainingStageOptions {
  /** The run folder. */
  run: RunFolder;
  /** The stage's name: its checkpoint folder, e.g. "grpo" or "sft". */
  name: string;
  /** The `stage` values of the metrics lines this loop writes (e.g. ["grpo", "eval"]). */
  metricStages: readonly string[];
  /** The step the stage ends at. */
  steps: number;
  checkpointEvery: number;
  /** Checkpoints kept (the oldest are removed). */
  keepLast: number;
}

/** What a training loop's caller sees of its steps. */
export interface StepHooks<R> {
  /** Sees each step's record (progress display). */
  onStep?: (record: R) => void;
  /** Returning true ends the loop after the current step, with a checkpoint. */
  stop?: () => boolean;
}

/** A stage of a run folder, opened where its latest checkpoint left it. */
export class TrainingStage {
  readonly #checkpoints: string;
  readonly #tensors: ReadonlyArray<readonly [string, Tensor]>;

  private constructor(
    readonly options: TrainingStageOptions,
    readonly optimizer: AdamW,
    /** The step to go on from: 0 for a fresh run, else the latest checkpoint's. */
    readonly start: number,
  ) {
    this.#checkpoints = options.run.checkpointsOf(options.name);
    this.#tensors = namedParameters(optimizer);
  }

  /** Opens the stage, restoring `optimizer` (and the tensors it trains) from the latest checkpoint. */
  static async open(options: TrainingStageOptions, optimizer: AdamW): Promise<TrainingStage> {
    const dir = options.run.checkpointsOf(options.name);
    await mkdir(dir, { recursive: true });
    const latest = (await listCheckpoints(dir)).at(-1);
    const start = latest ? (await loadCheckpoint(latest, namedParameters(optimizer), optimizer)).step : 0;
    await options.run.truncateMetrics(options.metricStages, start);
    return new TrainingStage(options, optimizer, start);
  }

  /**
   * Ends step `step` (1-based): appends its record to metrics.jsonl, shows it to `hooks.onStep`,
   * asks `hooks.stop`, and saves a checkpoint if this is the last step, the loop is stopping, or
   * one is due. Returns true when the loop is to stop.
   */
  async endStep<R extends object>(step: number, record: R, hooks: StepHooks<R>): Promise<boolean> {
    await this.options.run.appendMetrics(record);
    hooks.onStep?.(record);
    const stopping = hooks.stop?.() ?? false;
    const { steps, checkpointEvery, keepLast } = this.options;
    if (step === steps || stopping || step % checkpointEvery === 0)
      await saveCheckpoint(
        this.#checkpoints,
        this.#tensors,
        this.optimizer,
        { step, extra: {} },
        { keepLast },
      );
    return stopping;
  }
}

/** The optimizer's parameters under the names checkpoints keep them by ("<index>:<name>"). */
function namedParameters(optimizer: AdamW): ReadonlyArray<readonly [string, Tensor]> {
  return optimizer.parameters.map((t, i) => [`${i}:${t.name}`, t] as const);
}
