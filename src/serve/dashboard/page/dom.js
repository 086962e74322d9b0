// DOM helpers. Every text goes in as a text node: completions and prompts are model output and
// must never be parsed as HTML, so nothing on this page sets innerHTML.

/** An element: h("td", { className: "num" }, "1.5", child). Strings and numbers become text nodes. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "className" || key === "title" || key === "value" || key === "checked" || key === "type")
      el[key] = value;
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** The JSON of a GET; an error response throws its message. */
export async function getJson(path, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== ""));
  const res = await fetch(`${path}${query.size ? `?${query}` : ""}`);
  const body = await res.json();
  if (!res.ok) throw new Error(body.error ?? `${res.status} ${res.statusText}`);
  return body;
}

/** A number for a table: a few significant digits, "–" when missing. */
export function num(x, digits = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  if (Number.isInteger(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? x.toExponential(2) : x.toPrecision(digits).replace(/\.?0+$/, "");
}

/** A share as percent ("70.8%"). */
export function pct(x) {
  return x === null || x === undefined ? "–" : `${(100 * x).toFixed(1)}%`;
}

/** Fills a <select> with options [value, label], keeping the choice when it is still there. */
export function options(select, items, keep = select.value) {
  fill(
    select,
    items.map(([value, label]) => h("option", { value: String(value) }, label)),
  );
  if (items.some(([v]) => String(v) === keep)) select.value = keep;
  return select;
}

/** A request that failed: its message in the header (the server's error names what was wrong). */
export function showError(err) {
  console.warn(err);
  fill(document.getElementById("error"), String(err?.message ?? err));
}
