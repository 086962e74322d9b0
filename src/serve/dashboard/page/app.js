// The dashboard page: the run list, the ticked runs' data kept up to date by the live stream
// (/api/live, server-sent events), and the tabs that show it (curves, rollouts, evaluations,
// events). What is ticked and which tab is open live in the address (#runs=a,b&tab=curves), so a
// view can be bookmarked or shared.
import { Charts } from "./charts.js";
import { fill, getJson, h, num, options, pct, showError } from "./dom.js";
import { EvalView } from "./evals.js";
import { RolloutBrowser } from "./rollouts.js";

const $ = (id) => document.getElementById(id);

const state = {
  /** /api/runs entries by id. */
  listings: new Map(),
  /** The ticked runs, in the order ticked. */
  ticked: [],
  /** id -> { steps: Map(stage -> Map(step -> record)), evals: Map(step -> eval), events: [] } */
  data: new Map(),
  tab: "curves",
  stage: "",
  source: null,
};

const charts = new Charts($("charts"), (step) => showStep(step));
const rollouts = new RolloutBrowser();
const evals = new EvalView();

/** The address's view: #runs=a,b&tab=rollouts&step=12 */
function readHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  return { runs: (p.get("runs") ?? "").split(",").filter(Boolean), tab: p.get("tab"), step: p.get("step") };
}

function writeHash() {
  const p = new URLSearchParams({ runs: state.ticked.join(","), tab: state.tab });
  history.replaceState(null, "", `#${p}`);
}

function setTab(tab) {
  state.tab = tab;
  for (const b of document.querySelectorAll("#tabs button"))
    b.classList.toggle("active", b.dataset.tab === tab);
  for (const s of document.querySelectorAll("section.tab")) s.hidden = s.id !== `tab-${tab}`;
  writeHash();
  if (tab === "curves") charts.resize();
  if (tab === "evals") evals.render(tickedListings(), state.data).catch(showError);
}

/** A chart's point was clicked: that step in the rollout browser. */
function showStep(step) {
  const run =
    state.ticked.find((r) => state.data.get(r)?.steps.get(state.stage)?.has(step)) ?? state.ticked[0];
  setTab("rollouts");
  rollouts.open(run, step).catch(showError);
}

const tickedListings = () => state.ticked.map((id) => state.listings.get(id)).filter(Boolean);

function renderRunList() {
  const rows = [...state.listings.values()].map((r) => {
    if (r.error)
      return h("tr", { className: "error" }, h("td"), h("td", { colspan: 5 }, `${r.id}: ${r.error}`));
    const box = h("input", {
      type: "checkbox",
      checked: state.ticked.includes(r.id),
      onchange: () => tick(r.id, box.checked),
    });
    return h(
      "tr",
      { dataset: { run: r.id } },
      h("td", {}, box),
      h(
        "td",
        { title: `${r.kind}${r.model ? ` · ${r.model}` : ""}` },
        h("b", {}, r.id === "." ? r.name : r.id),
        h("div", { className: "muted" }, r.kind),
      ),
      h("td", {}, h("span", { className: `status ${r.status}` }, r.status)),
      h("td", { className: "num" }, r.steps),
      h("td", { className: "num" }, num(r.last_reward)),
      h(
        "td",
        { className: "num" },
        r.best_accuracy === null
          ? "–"
          : r.best_accuracy === r.last_accuracy
            ? pct(r.last_accuracy)
            : `${pct(r.last_accuracy)} (best ${pct(r.best_accuracy)})`,
      ),
    );
  });
  fill($("runs").tBodies[0], rows);
}

function tick(id, on) {
  state.ticked = on ? [...state.ticked.filter((r) => r !== id), id] : state.ticked.filter((r) => r !== id);
  writeHash();
  listen();
}

/** (Re)opens the live stream for the ticked runs; its first update per run carries all of it. */
function listen() {
  state.source?.close();
  for (const id of [...state.data.keys()]) if (!state.ticked.includes(id)) state.data.delete(id);
  rollouts.setRuns(state.ticked).catch(showError);
  redraw();
  const source = new EventSource(`/api/live?runs=${encodeURIComponent(state.ticked.join(","))}`);
  state.source = source;
  source.addEventListener("open", () => setLive(true));
  source.addEventListener("error", () => setLive(false));
  source.addEventListener("runs", (e) => {
    state.listings = new Map(JSON.parse(e.data).runs.map((r) => [r.id, r]));
    renderRunList();
  });
  source.addEventListener("update", (e) => merge(JSON.parse(e.data)));
}

function setLive(on) {
  const el = $("live");
  el.className = `live ${on ? "on" : "off"}`;
  el.textContent = on ? "live" : "reconnecting";
}

/** New rows of a run, from the live stream. */
function merge(update) {
  if (!state.ticked.includes(update.run)) return;
  if (update.reset) state.data.delete(update.run); // the run started afresh
  const d = state.data.get(update.run) ?? { steps: new Map(), evals: new Map(), events: [] };
  state.data.set(update.run, d);
  for (const s of update.steps) {
    if (!d.steps.has(s.stage)) d.steps.set(s.stage, new Map());
    d.steps.get(s.stage).set(s.step, s);
  }
  if (update.evals) d.evals = new Map(update.evals.map((e) => [e.step, e]));
  d.events.push(...update.events);
  redraw();
  if (update.steps.length && rollouts.run === update.run)
    rollouts
      .refreshSteps()
      .then((moved) => moved && rollouts.load())
      .catch(showError);
}

function redraw() {
  const stages = new Set();
  for (const id of state.ticked) for (const s of state.data.get(id)?.steps.keys() ?? []) stages.add(s);
  const list = [...stages];
  if (!list.includes(state.stage)) state.stage = list.includes("grpo") ? "grpo" : (list[0] ?? "");
  options(
    $("stage"),
    list.map((s) => [s, s]),
    state.stage,
  );
  charts.render(state.data, state.ticked, state.stage);
  $("no-curves").hidden = list.length > 0;
  renderEvents();
  if (state.tab === "evals") evals.render(tickedListings(), state.data).catch(showError);
}

function renderEvents() {
  const all = state.ticked.flatMap((run) => (state.data.get(run)?.events ?? []).map((e) => ({ run, ...e })));
  all.sort((a, b) => a.time - b.time);
  fill($("event-count"), all.length ? String(all.length) : "");
  const row = (e) =>
    h(
      "tr",
      { className: `level-${e.level}` },
      h("td", {}, e.run),
      h("td", { className: "num" }, e.step),
      h("td", {}, h("span", { className: `badge ${e.level === "stop" ? "bad" : "warn"}` }, e.level)),
      h("td", {}, e.name),
      h("td", {}, e.message),
    );
  fill($("events").tBodies[0], all.map(row));
  // The latest alerts stay in sight beside the run list.
  fill(
    $("alerts"),
    all
      .slice(-3)
      .reverse()
      .map((e) =>
        h(
          "div",
          { className: `alert ${e.level === "stop" ? "bad" : "warn"}` },
          h("b", {}, `${e.run} · ${e.name}`),
          " ",
          e.message,
        ),
      ),
  );
}

async function start() {
  for (const b of document.querySelectorAll("#tabs button"))
    b.addEventListener("click", () => setTab(b.dataset.tab));
  $("stage").addEventListener("change", () => {
    state.stage = $("stage").value;
    charts.render(state.data, state.ticked, state.stage);
  });
  const { dir, runs } = await getJson("/api/runs");
  fill($("dir"), dir);
  state.listings = new Map(runs.map((r) => [r.id, r]));
  const view = readHash();
  state.ticked = view.runs.filter((id) => state.listings.has(id));
  if (state.ticked.length === 0) {
    // Nothing asked for: a running run, else the newest.
    const newest = (a, b) => (b.created_at ?? "").localeCompare(a.created_at ?? "");
    const ok = runs.filter((r) => !r.error);
    const latest = ok.filter((r) => r.status === "running").sort(newest)[0] ?? ok.sort(newest)[0];
    if (latest) state.ticked = [latest.id];
  }
  renderRunList();
  listen();
  setTab(view.tab ?? "curves");
  if (view.step !== null && state.ticked.length) showStep(Number(view.step));
}

start().catch(showError);
