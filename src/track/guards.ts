/**
 * Guards for the failure modes of GRPO on small models that Dang & Ngo (2025)
 * report: held-out accuracy peaks within 50-100 steps and then falls,
 * completions run into the length limit, outputs drift into other languages,
 * the format breaks. Each guard is a rule over the run's step records (the
 * lines of metrics.jsonl) and held-out evaluations, with its thresholds in the
 * recipe's `guards:` section, a warm-up (no alert before it), and an action:
 * `warn` (an alert on the console, in the run store and metrics.jsonl),
 * `stop` (the same, then the run stops after the step, its best checkpoint
 * kept) or `off`.
 *
 *   guard            reads                                  trips when
 *   length_limit     clipped_fraction                       its mean over `window` steps is above `threshold`
 *                                                           and above its mean `lookback` steps before by > `margin`
 *   heldout_drop     the evaluations (accuracy, ci95)       the best accuracy before lies above the latest
 *                                                           evaluation's 95% interval (by more than `margin`)
 *   language_drift   non_english_fraction                   its mean over `window` steps is above `threshold`
 *   format_collapse  reward_format, else format_ok_fraction its mean over `window` steps dropped below `threshold`
 *                                                           (from above it), or below its running best by more than `drop`
 *   kl_spike         kl                                     above `factor` x its median over the `window` steps
 *                                                           before (a median below `floor` counts as `floor`), or above `max`
 *   reward_hacking   reward and the evaluations             at an evaluation: the reward's mean over `window`
 *                                                           steps rose by >= `rewardRise` since the previous
 *                                                           evaluation while held-out accuracy fell >= `accuracyDrop`
 *
 * A guard whose data the run does not have (no held-out set, no KL reference,
 * no such metric) is inactive: it never trips. The held-out guards judge the
 * latest evaluation, so their condition holds from one evaluation to the next. The rules are pure functions of
 * the records (`checkGuards`); `GuardMonitor` feeds them a run's records as
 * they come and reports a guard when it trips, not again while it stays
 * tripped (it re-arms once its condition clears).
 */
import { z } from "zod";

/** What a guard does when it trips. */
export const GuardAction = z.enum(["warn", "stop", "off"]);
export type GuardAction = z.output<typeof GuardAction>;

const share = z.number().min(0).max(1);
const steps = z.number().int().positive();

/** The fields every guard has; `warmup` differs by guard. */
function guard<T extends z.ZodRawShape>(warmup: number, fields: T) {
  return z
    .object({
      /** warn: report it; stop: report it and stop the run after the step (best checkpoint kept); off. */
      action: GuardAction.default("warn"),
      /** No alert at or before this step. */
      warmup: z.number().int().nonnegative().default(warmup),
      ...fields,
    })
    .strict();
}

export const LengthLimitGuard = guard(10, {
  /** Share of completions cut at maxTokens (mean over `window` steps) above which the guard may trip. */
  threshold: share.default(0.2),
  /** ... and it must have risen by more than this since `lookback` steps before. */
  margin: share.default(0.1),
  lookback: steps.default(10),
  window: steps.default(5),
});

export const HeldoutDropGuard = guard(0, {
  /** Extra points (as a share) below the latest evaluation's 95% interval the best must lie. */
  margin: share.default(0),
});

export const LanguageDriftGuard = guard(10, {
  /** Share of completions with text in other scripts (mean over `window` steps) above which it trips. */
  threshold: share.default(0.1),
  window: steps.default(5),
});

export const FormatCollapseGuard = guard(10, {
  /** Share of completions with the format (mean over `window` steps) it trips on dropping below (once above it). */
  threshold: share.default(0.5),
  /** ... or its fall from the best such mean so far, above which it trips. */
  drop: share.default(0.25),
  window: steps.default(5),
});

export const KlSpikeGuard = guard(10, {
  /** Trips when the step's KL is above this many times its median over the `window` steps before. */
  factor: z.number().gt(1).default(5),
  window: steps.default(20),
  /** A median below this counts as this: early KL grows from 0, where ratios mean nothing. */
  floor: z.number().nonnegative().default(0.01),
  /** An absolute cap on the step's KL (none by default). */
  max: z.number().positive().optional(),
});

export const RewardHackingGuard = guard(0, {
  /** Rise of the mean training reward (in the reward's own units) between two evaluations. */
  rewardRise: z.number().positive().default(0.1),
  /** Fall of held-out accuracy (as a share) between the same two evaluations. */
  accuracyDrop: share.default(0.05),
  /** Steps the training reward is averaged over, ending at each evaluation. */
  window: steps.default(5),
});

/** The recipe's `guards:` section: every guard, each with its documented defaults. */
export const GuardsConfig = z
  .object({
    lengthLimit: LengthLimitGuard.default(LengthLimitGuard.parse({})),
    heldoutDrop: HeldoutDropGuard.default(HeldoutDropGuard.parse({})),
    languageDrift: LanguageDriftGuard.default(LanguageDriftGuard.parse({})),
    formatCollapse: FormatCollapseGuard.default(FormatCollapseGuard.parse({})),
    klSpike: KlSpikeGuard.default(KlSpikeGuard.parse({})),
    rewardHacking: RewardHackingGuard.default(RewardHackingGuard.parse({})),
  })
  .strict();
export type GuardsConfig = z.output<typeof GuardsConfig>;
export type GuardsConfigInput = z.input<typeof GuardsConfig>;

/** A guard's name in alerts, events and metrics.jsonl (snake_case), and its key in the recipe. */
export const GUARDS = {
  length_limit: "lengthLimit",
  heldout_drop: "heldoutDrop",
  language_drift: "languageDrift",
  format_collapse: "formatCollapse",
  kl_spike: "klSpike",
  reward_hacking: "rewardHacking",
} as const satisfies Record<string, keyof GuardsConfig>;
export type GuardName = keyof typeof GUARDS;

/** A training step's record, as in metrics.jsonl (only `step` is required; other metrics may be absent). */
export interface GuardStep {
  step: number;
  /** True when the step made no (or not every) optimizer update: its KL is not a measurement. */
  skipped?: boolean;
  [metric: string]: unknown;
}

/** A held-out evaluation after step `step` (0: before training). */
export interface GuardEvaluation {
  step: number;
  accuracy: number;
  /** 95% interval [low, high]. */
  ci95: readonly [number, number];
  n?: number;
}

/** What the rules read: the records so far, oldest first; the latest step is the one checked. */
export interface GuardInput {
  steps: readonly GuardStep[];
  evaluations: readonly GuardEvaluation[];
  /** The completion token limit (named in length_limit's message). */
  maxTokens?: number;
}

/** A guard's condition, true at the latest step. */
export interface GuardFinding {
  guard: GuardName;
  step: number;
  /** The figure that tripped it (a share, a KL, an accuracy). */
  value: number;
  /** What it was compared with. */
  threshold: number;
  /** One line with the numbers, e.g. "step 57: 34% of completions cut at 4096 tokens (...)". */
  message: string;
}

/** A finding of a guard that is not off, with what to do. */
export interface GuardAlert extends GuardFinding {
  action: "warn" | "stop";
}

// ---------------------------------------------------------------------------------------------
// helpers over the records

const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
const pointsOf = (x: number) => `${(100 * x).toFixed(0)} points`;
const span = (a: number, b: number) => (a === b ? `step ${a}` : `steps ${a}-${b}`);

/** A record's metric when it is a finite number. */
function metric(r: GuardStep, name: string): number | undefined {
  const v = r[name];
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** The points (step, value) of a metric, oldest first. */
function series(steps: readonly GuardStep[], name: string | ((r: GuardStep) => number | undefined)) {
  const read = typeof name === "string" ? (r: GuardStep) => metric(r, name) : name;
  return steps.flatMap((r) => {
    const value = read(r);
    return value === undefined ? [] : [{ step: r.step, value }];
  });
}
type Point = { step: number; value: number };

/** Mean of the points with step in (end - window, end], with the span they cover; null if none. */
function windowMean(points: readonly Point[], end: number, window: number) {
  const inside = points.filter((p) => p.step > end - window && p.step <= end);
  if (inside.length === 0) return null;
  const mean = inside.reduce((s, p) => s + p.value, 0) / inside.length;
  return { mean, from: inside[0].step, to: inside[inside.length - 1].step };
}

/** " over steps 53-57" for a window of several steps; nothing for one. */
const over = (w: { from: number; to: number }) => (w.from === w.to ? "" : ` over ${span(w.from, w.to)}`);
/** "12% at step 47" or "12% over steps 43-47". */
const at = (w: { mean: number; from: number; to: number }) =>
  w.from === w.to ? `${pct(w.mean)} at step ${w.to}` : `${pct(w.mean)}${over(w)}`;

/** The highest window mean ending at any point (the running best), in one pass; null without points. */
function bestWindowMean(points: readonly Point[], window: number) {
  let best: { mean: number; from: number; to: number } | null = null;
  let [first, sum] = [0, 0];
  for (let last = 0; last < points.length; last++) {
    const end = points[last].step;
    sum += points[last].value;
    while (points[first].step <= end - window) sum -= points[first++].value;
    const mean = sum / (last - first + 1);
    if (!best || mean > best.mean) best = { mean, from: points[first].step, to: end };
  }
  return best;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * The latest evaluation, made after step 1 or later: the held-out guards judge it, so their
 * condition holds (or not) from that evaluation to the next.
 */
function latestEvaluation(input: GuardInput): GuardEvaluation | null {
  const last = input.evaluations.at(-1);
  return last && last.step > 0 ? last : null;
}

// ---------------------------------------------------------------------------------------------
// the rules: each gives its finding at the latest step, or null (not tripped, warming up, inactive)

type Rule<C> = (input: GuardInput, c: C, now: number) => GuardFinding | null;

const lengthLimit: Rule<z.output<typeof LengthLimitGuard>> = (input, c, now) => {
  const points = series(input.steps, "clipped_fraction");
  const recent = windowMean(points, now, c.window);
  const before = windowMean(points, now - c.lookback, c.window);
  if (!recent || !before || recent.to !== now) return null;
  if (!(recent.mean > c.threshold && recent.mean - before.mean > c.margin)) return null;
  const limit = input.maxTokens ? `${input.maxTokens} tokens` : "the token limit";
  return {
    guard: "length_limit",
    step: now,
    value: recent.mean,
    threshold: c.threshold,
    message:
      `step ${now}: ${pct(recent.mean)} of completions cut at ${limit}${over(recent)} (${at(before)}); ` +
      `alert above ${pct(c.threshold)} and a rise of more than ${pointsOf(c.margin)}`,
  };
};

const heldoutDrop: Rule<z.output<typeof HeldoutDropGuard>> = (input, c, now) => {
  const latest = latestEvaluation(input);
  if (!latest) return null;
  const earlier = input.evaluations.slice(0, -1);
  if (earlier.length === 0) return null;
  const best = earlier.reduce((b, e) => (e.accuracy > b.accuracy ? e : b));
  if (!(best.accuracy > latest.ci95[1] + c.margin)) return null;
  const n = latest.n === undefined ? "" : `, n=${latest.n}`;
  return {
    guard: "heldout_drop",
    step: now,
    value: latest.accuracy,
    threshold: latest.ci95[1] + c.margin,
    message:
      `step ${latest.step}: held-out accuracy ${pct(latest.accuracy)} (95% CI ${pct(latest.ci95[0])}-${pct(latest.ci95[1])}${n}) ` +
      `fell from its best, ${pct(best.accuracy)} at step ${best.step}, by more than its interval`,
  };
};

const languageDrift: Rule<z.output<typeof LanguageDriftGuard>> = (input, c, now) => {
  const recent = windowMean(series(input.steps, "non_english_fraction"), now, c.window);
  if (!recent || recent.to !== now || !(recent.mean > c.threshold)) return null;
  return {
    guard: "language_drift",
    step: now,
    value: recent.mean,
    threshold: c.threshold,
    message: `step ${now}: ${pct(recent.mean)} of completions not in English (other scripts)${over(recent)}; alert above ${pct(c.threshold)}`,
  };
};

/** The share of completions with the format: the format term's mean, else the samples' share by its rule. */
const formatShare = (r: GuardStep) => metric(r, "reward_format") ?? metric(r, "format_ok_fraction");

const formatCollapse: Rule<z.output<typeof FormatCollapseGuard>> = (input, c, now) => {
  const points = series(input.steps, formatShare);
  const recent = windowMean(points, now, c.window);
  if (!recent || recent.to !== now) return null;
  const best = bestWindowMean(points, c.window) ?? recent;
  // below the threshold counts once the share was above it: a run that never had the format has none to lose
  const below = recent.mean < c.threshold && best.mean >= c.threshold;
  const fell = best.mean - recent.mean > c.drop;
  if (!below && !fell) return null;
  const why = below
    ? `below ${pct(c.threshold)}`
    : `down from ${at(best)}, a fall of more than ${pointsOf(c.drop)}`;
  return {
    guard: "format_collapse",
    step: now,
    value: recent.mean,
    threshold: below ? c.threshold : best.mean - c.drop,
    message: `step ${now}: ${pct(recent.mean)} of completions keep the format${over(recent)}, ${why}`,
  };
};

const klSpike: Rule<z.output<typeof KlSpikeGuard>> = (input, c, now) => {
  const measured = input.steps.filter((r) => !r.skipped);
  const last = measured.at(-1);
  const kl = last && last.step === now ? metric(last, "kl") : undefined;
  if (kl === undefined) return null;
  if (c.max !== undefined && kl > c.max)
    return {
      guard: "kl_spike",
      step: now,
      value: kl,
      threshold: c.max,
      message: `step ${now}: KL ${kl.toPrecision(3)} above the cap ${c.max}`,
    };
  const before = series(measured.slice(0, -1), "kl").slice(-c.window);
  if (before.length === 0) return null;
  const m = median(before.map((p) => p.value));
  // a median below the floor counts as the floor: early in training KL grows from 0, where ratios mean nothing
  const base = Math.max(m, c.floor);
  if (!(kl > c.factor * base)) return null;
  const where = `its median over ${span(before[0].step, before.at(-1)?.step ?? 0)}`;
  return {
    guard: "kl_spike",
    step: now,
    value: kl,
    threshold: c.factor * base,
    message:
      m >= c.floor
        ? `step ${now}: KL ${kl.toPrecision(3)} is ${(kl / m).toFixed(1)}x ${where} (${m.toPrecision(3)}); alert above ${c.factor}x`
        : `step ${now}: KL ${kl.toPrecision(3)} is above ${c.factor}x the floor ${c.floor} (${where} is ${m.toPrecision(3)})`,
  };
};

const rewardHacking: Rule<z.output<typeof RewardHackingGuard>> = (input, c, now) => {
  const latest = latestEvaluation(input);
  const previous = input.evaluations.at(-2);
  if (!latest || !previous) return null;
  const rewards = series(input.steps, "reward");
  // the reward around the previous evaluation: the window ending at it (the first steps, for the one before training)
  const then = windowMean(rewards, Math.max(previous.step, c.window), c.window);
  const recent = windowMean(rewards, latest.step, c.window);
  if (!then || !recent) return null;
  const rise = recent.mean - then.mean;
  const fall = previous.accuracy - latest.accuracy;
  if (!(rise >= c.rewardRise && fall >= c.accuracyDrop)) return null;
  return {
    guard: "reward_hacking",
    step: now,
    value: rise,
    threshold: c.rewardRise,
    message:
      `step ${latest.step}: training reward rose ${then.mean.toFixed(3)} -> ${recent.mean.toFixed(3)} ` +
      `(${span(then.from, then.to)} -> ${span(recent.from, recent.to)}) while held-out accuracy fell ` +
      `${pct(previous.accuracy)} -> ${pct(latest.accuracy)} (step ${previous.step} -> ${latest.step})`,
  };
};

const RULES: { [G in GuardName]: Rule<GuardsConfig[(typeof GUARDS)[G]]> } = {
  length_limit: lengthLimit,
  heldout_drop: heldoutDrop,
  language_drift: languageDrift,
  format_collapse: formatCollapse,
  kl_spike: klSpike,
  reward_hacking: rewardHacking,
};

/**
 * Every guard that is not off and past its warm-up whose condition holds at the latest step of
 * `input` (none without steps), in the order of GUARDS.
 */
export function checkGuards(input: GuardInput, config: GuardsConfig): GuardAlert[] {
  const now = input.steps.at(-1)?.step;
  if (now === undefined) return [];
  const alerts: GuardAlert[] = [];
  for (const name of Object.keys(GUARDS) as GuardName[]) {
    const c = config[GUARDS[name]];
    if (c.action === "off" || now <= c.warmup) continue;
    const finding = (RULES[name] as Rule<typeof c>)(input, c, now);
    if (finding) alerts.push({ ...finding, action: c.action });
  }
  return alerts;
}

/**
 * A run's guards as its records come: `addEvaluation` after each held-out evaluation (before
 * the step's record it belongs to), `addStep` after each step, which gives the alerts of the
 * guards that tripped at that step. A guard is reported when it trips, not again while its
 * condition holds; once it clears it may trip (and be reported) again. Replaying a resumed
 * run's records (ignoring the alerts) restores that state.
 */
export class GuardMonitor {
  readonly #steps: GuardStep[] = [];
  readonly #evaluations: GuardEvaluation[] = [];
  readonly #tripped = new Set<GuardName>();

  constructor(
    readonly config: GuardsConfig,
    readonly context: { maxTokens?: number } = {},
  ) {}

  addEvaluation(evaluation: GuardEvaluation): void {
    this.#evaluations.push(evaluation);
  }

  /** Adds step `record`; returns the alerts of the guards that tripped at it. */
  addStep(record: GuardStep): GuardAlert[] {
    this.#steps.push(record);
    const input = { steps: this.#steps, evaluations: this.#evaluations, ...this.context };
    const holding = checkGuards(input, this.config);
    const fresh = holding.filter((a) => !this.#tripped.has(a.guard));
    this.#tripped.clear();
    for (const a of holding) this.#tripped.add(a.guard);
    return fresh;
  }
}
