// The curves: one uPlot chart per group of metrics, one line per run and metric, all runs on the
// same axes. Charts are rebuilt when their lines change (a run ticked, a new reward term) and
// otherwise just given the new data as steps land.
import uPlot from "/uplot.js";
import { h, num } from "./dom.js";

/** The charts, in order: a title and the metrics drawn in it (a function of the metrics present). */
const GROUPS = [
  { title: "Reward (total and each term)", metrics: (keys) => ["reward", ...keys.filter(isRewardTerm)] },
  {
    title: "Accuracy: training samples, held-out (95% interval)",
    metrics: () => ["train_accuracy"],
    heldout: true,
  },
  { title: "Completion length (tokens)", metrics: () => ["completion_length", "completion_length_max"] },
  { title: "Share cut at the length limit", metrics: () => ["clipped_fraction"] },
  {
    title: "Language and format (share of completions)",
    metrics: () => ["non_english_fraction", "format_ok_fraction"],
  },
  { title: "KL to the reference", metrics: () => ["kl"] },
  { title: "Entropy", metrics: () => ["entropy"] },
  { title: "Clip ratio", metrics: () => ["clip_ratio"] },
  { title: "Grad norm", metrics: () => ["grad_norm"] },
  { title: "Learning rate", metrics: () => ["lr"] },
  { title: "Seconds per step", metrics: () => ["generate_s", "reward_s", "train_s", "step_s"] },
  { title: "Loss", metrics: () => ["loss"] },
];

/** Record fields that are not curves. */
const NOT_METRICS = new Set(["stage", "step", "time", "skipped", "reward_std"]);

function isRewardTerm(key) {
  return key.startsWith("reward_") && key !== "reward_std" && key !== "reward_s";
}

const COLORS = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#db2777", "#0891b2", "#65a30d"];
const DASHES = [[], [6, 3], [2, 3], [10, 3, 2, 3], [1, 2]];

export class Charts {
  /** `onPick(step)`: a point was clicked. */
  constructor(container, onPick) {
    this.container = container;
    this.onPick = onPick;
    this.charts = new Map(); // title -> { plot, signature }
    this.alerts = []; // the guards' alerts of the runs drawn: [{ step, level }]
    window.addEventListener("resize", () => this.resize());
  }

  /**
   * Draws `stage` of `runs` (ids in order) from `data` (id -> { steps: Map(stage -> Map(step -> record)),
   * evals: Map(step -> eval), events }). The runs' GRPO alerts are drawn as vertical lines at their steps.
   */
  render(data, runs, stage) {
    this.alerts = stage === "grpo" ? runs.flatMap((r) => data.get(r)?.events ?? []) : [];
    const keys = metricKeys(data, runs, stage);
    const wanted = new Map();
    const covered = new Set();
    for (const g of GROUPS) {
      const metrics = g.metrics([...keys]).filter((m) => keys.has(m));
      for (const m of metrics) covered.add(m);
      const heldout = g.heldout && stage === "grpo" && runs.some((r) => data.get(r)?.evals.size);
      if (metrics.length || heldout) wanted.set(g.title, { metrics, heldout });
    }
    // Metrics no group names (a new one, a guard's): a chart each, so nothing logged is hidden.
    for (const m of [...keys].sort()) if (!covered.has(m)) wanted.set(m, { metrics: [m], heldout: false });

    for (const [title, chart] of this.charts)
      if (!wanted.has(title)) {
        chart.plot.destroy();
        chart.box.remove();
        this.charts.delete(title);
      }
    for (const [title, spec] of wanted) this.draw(title, spec, data, runs, stage);
    // Keep the order of `wanted`.
    for (const title of wanted.keys()) this.container.append(this.charts.get(title).box);
  }

  draw(title, spec, data, runs, stage) {
    const { series, columns, bands } = lines(spec, data, runs, stage);
    const signature = JSON.stringify(series.map((s) => s.label));
    const existing = this.charts.get(title);
    if (existing && existing.signature === signature) {
      existing.plot.setData(columns);
      markSteps(existing.box, columns[0]);
      return;
    }
    if (existing) {
      existing.plot.destroy();
      existing.box.remove();
    }
    const box = h("div", { className: "chart", dataset: { title } }, h("h3", {}, title));
    this.container.append(box);
    const plot = new uPlot(
      {
        width: this.chartWidth(),
        height: 190,
        series: [{ label: "step", value: (_u, v) => (v === null ? "–" : String(v)) }, ...series],
        bands,
        scales: { x: { time: false }, y: { range: yRange } },
        axes: [{}, { values: (_u, vals) => vals.map((v) => num(v, 2)), size: 56 }],
        cursor: { drag: { x: true, y: false } },
        legend: { live: true },
        hooks: { draw: [(u) => drawAlerts(u, this.alerts)] },
      },
      columns,
      box,
    );
    plot.over.addEventListener("click", () => {
      const i = plot.cursor.idx;
      if (i !== null && i !== undefined) this.onPick(plot.data[0][i]);
    });
    markSteps(box, columns[0]);
    this.charts.set(title, { plot, box, signature });
  }

  chartWidth() {
    const width = this.container.clientWidth || 900;
    const columns = width > 1100 ? 3 : width > 700 ? 2 : 1;
    return Math.floor(width / columns) - 24;
  }

  resize() {
    const width = this.chartWidth();
    for (const { plot } of this.charts.values()) plot.setSize({ width, height: 190 });
  }
}

/** A guard's alert as a vertical line at its step: amber for a warning, red for a stop. */
function drawAlerts(u, alerts) {
  const ctx = u.ctx;
  ctx.save();
  ctx.lineWidth = 1.5 * devicePixelRatio;
  ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
  for (const a of alerts) {
    const x = u.valToPos(a.step, "x", true);
    if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
    ctx.strokeStyle = a.level === "stop" ? "#dc2626cc" : "#d97706aa";
    ctx.beginPath();
    ctx.moveTo(x, u.bbox.top);
    ctx.lineTo(x, u.bbox.top + u.bbox.height);
    ctx.stroke();
  }
  ctx.restore();
}

/** The y range: uPlot's, but a flat line at 0 (nothing cut, no drift) gets 0..1 rather than 0..100. */
function yRange(_u, min, max) {
  if (min === null || max === null) return [0, 1];
  if (min === max) return [Math.min(0, min), Math.max(1, max)];
  return uPlot.rangeNum(min, max, 0.1, true);
}

/** The steps a chart draws, on its box (data-steps, data-last): what a reader or a test can check. */
function markSteps(box, xs) {
  box.dataset.steps = String(xs.length);
  box.dataset.last = xs.length ? String(xs[xs.length - 1]) : "";
}

/** The metric names logged in `stage` of the runs. */
function metricKeys(data, runs, stage) {
  const keys = new Set();
  for (const r of runs)
    for (const record of data.get(r)?.steps.get(stage)?.values() ?? [])
      for (const [k, v] of Object.entries(record))
        if (typeof v === "number" && !NOT_METRICS.has(k)) keys.add(k);
  return keys;
}

/** uPlot's series, data columns (steps, then one per series) and interval bands for a chart. */
function lines(spec, data, runs, stage) {
  const steps = new Set();
  for (const r of runs) {
    for (const s of data.get(r)?.steps.get(stage)?.keys() ?? []) steps.add(s);
    if (spec.heldout) for (const s of data.get(r)?.evals.keys() ?? []) steps.add(s);
  }
  const xs = [...steps].sort((a, b) => a - b);
  const series = [];
  const columns = [xs];
  const bands = [];
  runs.forEach((run, ri) => {
    const color = COLORS[ri % COLORS.length];
    const prefix = runs.length > 1 ? `${run}: ` : "";
    const records = data.get(run)?.steps.get(stage) ?? new Map();
    spec.metrics.forEach((m, mi) => {
      // One run: a colour per metric. Several: a colour per run, a dash pattern per metric.
      const stroke = runs.length > 1 ? color : COLORS[mi % COLORS.length];
      const dash = runs.length > 1 ? DASHES[mi % DASHES.length] : [];
      series.push({ label: `${prefix}${m}`, stroke, dash, width: 1.5 });
      columns.push(xs.map((x) => records.get(x)?.[m] ?? null));
    });
    const evals = data.get(run)?.evals;
    if (spec.heldout && evals?.size) {
      const color =
        runs.length > 1 ? COLORS[ri % COLORS.length] : COLORS[spec.metrics.length % COLORS.length];
      const at = (x, key) => evals.get(x)?.[key] ?? null;
      const dots = { show: true, size: 6, fill: color };
      series.push({ label: `${prefix}held-out`, stroke: color, width: 2, spanGaps: true, points: dots });
      series.push({
        label: `${prefix}95% high`,
        stroke: `${color}55`,
        width: 1,
        spanGaps: true,
        points: { show: false },
      });
      series.push({
        label: `${prefix}95% low`,
        stroke: `${color}55`,
        width: 1,
        spanGaps: true,
        points: { show: false },
      });
      for (const key of ["accuracy", "ci_high", "ci_low"]) columns.push(xs.map((x) => at(x, key)));
      const hi = series.length - 1; // uPlot counts the step series first: this is "95% high", hi + 1 "95% low"
      bands.push({ series: [hi, hi + 1], fill: `${color}1f` });
    }
  });
  return { series, columns, bands };
}
