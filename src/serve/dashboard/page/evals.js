// Evaluations: the paper-style table of eval folders (one, or several compared as
// `reasonrl eval compare` does; the server computes it with src/eval), the held-out evaluations
// of training runs with their 95% intervals, and every evaluation's samples.
import { fill, getJson, h, num, options, pct, showError } from "./dom.js";

const $ = (id) => document.getElementById(id);

export class EvalView {
  constructor() {
    this.metric = "";
    this.request = 0;
    for (const id of ["es-set", "es-correct"])
      $(id).addEventListener("change", () => this.loadSamples().catch(showError));
    $("es-run").addEventListener("change", () => this.loadSets().catch(showError));
    let typing;
    $("es-search").addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => this.loadSamples().catch(showError), 250);
    });
  }

  /** Shows the ticked runs (`listings`: their /api/runs entries) and `data` (id -> { evals }). */
  async render(listings, data) {
    const withResults = listings.filter((r) => r.has_results).map((r) => r.id);
    await this.renderTable(withResults);
    fill(
      $("ev-heldout"),
      listings
        .filter((r) => data.get(r.id)?.evals.size)
        .map((r) => heldoutTable(r.id, [...data.get(r.id).evals.values()])),
    );
    const keep = $("es-run").value;
    options(
      $("es-run"),
      listings.map((r) => [r.id, r.id]),
      keep,
    );
    if ($("es-run").value !== keep || $("es-set").options.length === 0) await this.loadSets();
  }

  async renderTable(runs) {
    if (runs.length === 0) return fill($("ev-table"));
    const t = await getJson("/api/eval-table", { runs: runs.join(","), metric: this.metric });
    const picker = h("select", {
      onchange: (e) => {
        this.metric = e.target.value;
        this.renderTable(runs).catch(showError);
      },
    });
    options(
      picker,
      t.metrics.map((m) => [m, m]),
      t.metric,
    );
    fill(
      $("ev-table"),
      h("h3", {}, runs.length > 1 ? "Eval compare" : "Eval results", " · ", picker),
      h(
        "table",
        { className: "paper" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", {}, "model"),
            t.columns.map((c) => h("th", { className: "num" }, c.title)),
            h("th", { className: "num" }, "Avg"),
          ),
        ),
        h(
          "tbody",
          {},
          t.rows.map((r) =>
            h(
              "tr",
              {},
              h("td", { title: r.run }, r.model),
              r.cells.map((c) => h("td", { className: "num" }, c.text)),
              h("td", { className: "num" }, r.avg.text),
            ),
          ),
        ),
      ),
      h("p", { className: "muted" }, "Percent with the 95% interval over problems."),
      t.settings && h("p", { className: "muted" }, `Settings: ${t.settings}.`),
      t.differences.length > 0 &&
        h(
          "div",
          { className: "alert warn" },
          h("b", {}, "Settings differ between rows: "),
          t.differences.join("; "),
        ),
      t.notes.map((n) => h("p", { className: "muted" }, n)),
      h("details", {}, h("summary", {}, "as markdown"), h("pre", {}, t.markdown)),
    );
  }

  async loadSets() {
    const run = $("es-run").value;
    if (!run) return;
    const { sets } = await getJson("/api/eval-sets", { run });
    options(
      $("es-set"),
      sets.map((s) => [`${s.step}|${s.benchmark}`, `step ${s.step} · ${s.benchmark} (${s.samples} samples)`]),
    );
    await this.loadSamples();
  }

  async loadSamples() {
    const run = $("es-run").value;
    const set = $("es-set").value;
    if (!run || !set) {
      fill($("es-samples"));
      return fill($("es-summary"), run ? `${run} kept no evaluation samples` : "");
    }
    const [step, benchmark] = [set.slice(0, set.indexOf("|")), set.slice(set.indexOf("|") + 1)];
    const request = ++this.request;
    const { samples, total, limit } = await getJson("/api/eval-samples", {
      run,
      step,
      benchmark,
      correct: $("es-correct").value,
      q: $("es-search").value,
    });
    if (request !== this.request) return;
    const right = samples.filter((s) => s.correct).length;
    fill(
      $("es-summary"),
      `${total} sample(s)${total > limit ? `, the first ${limit} shown` : ""}, ${right} of those shown correct`,
    );
    fill($("es-samples"), problems(samples));
  }
}

/** A training run's held-out evaluations. */
function heldoutTable(run, evals) {
  return h(
    "div",
    {},
    h("h3", {}, `Held-out accuracy · ${run}`),
    h(
      "table",
      { className: "heldout" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["step", "accuracy", "95% interval", "problems"].map((t) => h("th", {}, t)),
        ),
      ),
      h(
        "tbody",
        {},
        evals.map((e) =>
          h(
            "tr",
            {},
            h("td", { className: "num" }, e.step),
            h("td", { className: "num" }, pct(e.accuracy)),
            h("td", { className: "num" }, `${pct(e.ci_low)} – ${pct(e.ci_high)}`),
            h("td", { className: "num" }, e.n),
          ),
        ),
      ),
    ),
  );
}

/** Samples grouped by problem: the prompt once, then each sample with its answer and the gold. */
function problems(samples) {
  const byProblem = new Map();
  for (const s of samples) {
    if (!byProblem.has(s.problem)) byProblem.set(s.problem, []);
    byProblem.get(s.problem).push(s);
  }
  return [...byProblem.entries()].map(([problem, list]) =>
    h(
      "div",
      { className: "group" },
      h(
        "div",
        { className: "prompt" },
        h("span", { className: "label" }, `problem ${problem} · gold ${list[0].gold}`),
        h("pre", {}, list[0].prompt),
      ),
      h(
        "div",
        { className: "completions" },
        list.map((s) =>
          h(
            "div",
            { className: `completion ${s.correct ? "is-ok" : "is-bad"}` },
            h(
              "div",
              { className: "figures" },
              h("b", {}, `sample ${s.sample}`),
              ` answer ${s.answer ?? "none"} · ${num(s.tokens)} tokens (${s.finish_reason ?? "?"})`,
            ),
            h(
              "div",
              { className: "badges" },
              h("span", { className: `badge ${s.correct ? "ok" : "bad"}` }, s.correct ? "correct" : "wrong"),
            ),
            h("pre", { className: "text" }, s.completion),
          ),
        ),
      ),
    ),
  );
}
