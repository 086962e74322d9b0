// The rollout browser: one step of one run, each prompt's group of completions side by side with
// their reward terms, total and advantage; filters and a text search, answered by the server.
import { fill, getJson, h, num, options, showError } from "./dom.js";

const $ = (id) => document.getElementById(id);

export class RolloutBrowser {
  constructor() {
    this.run = null;
    this.steps = [];
    this.request = 0;
    for (const id of ["ro-step", "ro-group", "ro-correct", "ro-wrong", "ro-cut", "ro-lang", "ro-format"])
      $(id).addEventListener("change", () => this.load().catch(showError));
    let typing;
    $("ro-search").addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => this.load().catch(showError), 250);
    });
    $("ro-run").addEventListener("change", () => this.open($("ro-run").value).catch(showError));
    $("ro-prev").addEventListener("click", () => this.move(-1));
    $("ro-next").addEventListener("click", () => this.move(1));
  }

  /** The runs to choose from (the ticked ones); opens the first when the current one is gone. */
  async setRuns(runs) {
    options(
      $("ro-run"),
      runs.map((r) => [r, r]),
      this.run ?? "",
    );
    if (runs.includes(this.run)) return;
    if (runs.length) await this.open(runs[0]);
    else this.clear();
  }

  clear() {
    this.run = null;
    fill($("ro-groups"));
    fill($("ro-summary"), "no run ticked");
  }

  /** Shows run `run` at `step` (default: the step shown, else the last with rollouts). */
  async open(run, step) {
    this.run = run;
    $("ro-run").value = run;
    await this.refreshSteps();
    if (step !== undefined) $("ro-step").value = String(this.nearest(step));
    await this.load();
  }

  /**
   * New steps of a live run appear in the step list. The step shown stays, unless it was the last:
   * then the new last step is shown. Says whether the step shown changed.
   */
  async refreshSteps() {
    if (this.run === null) return false;
    const { steps } = await getJson("/api/rollout-steps", { run: this.run });
    const shown = $("ro-step").value;
    const follow = shown === "" || Number(shown) === this.steps.at(-1);
    this.steps = steps;
    options(
      $("ro-step"),
      steps.map((s) => [s, s]),
    );
    if (follow && steps.length) $("ro-step").value = String(steps.at(-1));
    return $("ro-step").value !== shown;
  }

  nearest(step) {
    return this.steps.reduce(
      (best, s) => (Math.abs(s - step) < Math.abs(best - step) ? s : best),
      this.steps[0] ?? step,
    );
  }

  move(delta) {
    const i = this.steps.indexOf(Number($("ro-step").value)) + delta;
    if (i < 0 || i >= this.steps.length) return;
    $("ro-step").value = String(this.steps[i]);
    this.load().catch(showError);
  }

  /** The filters as the API's parameters. */
  params() {
    const correct = $("ro-correct").checked,
      wrong = $("ro-wrong").checked;
    return {
      run: this.run,
      step: $("ro-step").value,
      group: $("ro-group").value,
      correct: correct === wrong ? "" : correct ? "1" : "0",
      cut: $("ro-cut").checked ? "1" : "",
      non_english: $("ro-lang").checked ? "1" : "",
      format_broken: $("ro-format").checked ? "1" : "",
      q: $("ro-search").value,
    };
  }

  async load() {
    if (this.run === null) return;
    if ($("ro-step").value === "") {
      fill($("ro-groups"));
      fill($("ro-summary"), `${this.run} has no rollouts yet`);
      return;
    }
    const request = ++this.request;
    const body = await getJson("/api/rollouts", this.params());
    if (request !== this.request) return; // a newer request is on its way
    if ($("ro-group").value === "") {
      const groups = body.groups.map((g) => g.grp);
      options($("ro-group"), [["", "all"], ...groups.map((g) => [g, g])], "");
    }
    fill(
      $("ro-summary"),
      `step ${body.step}: ${body.shown} of ${body.total} completions shown, ${body.groups.length} group(s)`,
    );
    fill($("ro-groups"), body.groups.map(groupView));
  }
}

function groupView(g) {
  return h(
    "div",
    { className: "group", dataset: { group: String(g.grp) } },
    h(
      "div",
      { className: "prompt" },
      h("span", { className: "label" }, `group ${g.grp}`),
      h("pre", {}, g.prompt),
    ),
    h("div", { className: "completions" }, g.completions.map(completionView)),
  );
}

function completionView(c) {
  const badges = [
    c.correct === 1 && h("span", { className: "badge ok" }, "correct"),
    c.correct === 0 && h("span", { className: "badge bad" }, "wrong"),
    c.finish_reason === "length" && h("span", { className: "badge warn" }, "cut at limit"),
    (c.mixed_scripts === 1 || c.lang_other >= 0.05) &&
      h("span", { className: "badge warn" }, `other script ${Math.round(100 * c.lang_other)}%`),
    c.format_ok === 0 && h("span", { className: "badge warn" }, "format broken"),
    c.advantage === null && h("span", { className: "badge" }, "not trained on"),
  ];
  const terms = Object.entries(c.rewards).map(([name, v]) =>
    h("span", { className: "term" }, `${name} ${num(v)}`),
  );
  return h(
    "div",
    {
      className: `completion ${c.correct === 1 ? "is-ok" : c.correct === 0 ? "is-bad" : ""}`,
      dataset: { index: String(c.idx) },
    },
    h(
      "div",
      { className: "figures" },
      h("b", {}, `#${c.idx}`),
      ` reward ${num(c.reward)} · advantage ${num(c.advantage)} · ${c.tokens} tokens (${c.finish_reason})`,
      c.round > 0 ? ` · round ${c.round}` : "",
    ),
    h("div", { className: "terms" }, terms),
    h("div", { className: "badges" }, badges),
    h("pre", { className: "text" }, c.completion),
  );
}
