/**
 * The fields that differ between two configs (plain JSON-like values: a recipe
 * as run and the recipe given now), by dotted path, and how to print them:
 *
 *     grpo.steps: 8 -> 12
 *     model.lora: (absent) -> {rank: 8, alpha: 16}
 */

/** One field that differs: its dotted path, its value before and after (undefined: absent). */
export interface FieldChange {
  path: string;
  from: unknown;
  to: unknown;
}

const isMapping = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Every leaf where `before` and `after` differ, in key order. Mappings are compared key by key
 * (a key missing on one side is a change to or from undefined); lists of the same length item by
 * item (paths "a.0.b"); anything else, or lists of different lengths, as a whole.
 */
export function diffConfig(before: unknown, after: unknown, prefix = ""): FieldChange[] {
  const at = (key: string | number) => (prefix ? `${prefix}.${key}` : `${key}`);
  if (isMapping(before) && isMapping(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    return keys.flatMap((k) => diffConfig(before[k], after[k], at(k)));
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length)
    return before.flatMap((v, i) => diffConfig(v, after[i], at(i)));
  return sameValue(before, after) ? [] : [{ path: prefix, from: before, to: after }];
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A value as one short line: numbers and strings as they are, structures in a YAML-like flow. */
export function formatValue(value: unknown): string {
  if (value === undefined) return "(absent)";
  if (typeof value === "string")
    return /^[\w./:+-]*$/.test(value) && value !== "" ? value : JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(formatValue).join(", ")}]`;
  if (isMapping(value))
    return `{${Object.entries(value)
      .map(([k, v]) => `${k}: ${formatValue(v)}`)
      .join(", ")}}`;
  return String(value);
}

/** "path: old -> new". */
export function formatChange(c: FieldChange): string {
  return `${c.path}: ${formatValue(c.from)} -> ${formatValue(c.to)}`;
}

/**
 * Sets the value at dotted `path` in `target` (mappings and list indexes on the way are made as
 * needed; undefined deletes the key). Returns `target`.
 */
export function setPath(
  target: Record<string, unknown>,
  path: string,
  value: unknown,
): Record<string, unknown> {
  const keys = path.split(".");
  let node: Record<string, unknown> = target;
  for (const key of keys.slice(0, -1)) {
    if (!isMapping(node[key]) && !Array.isArray(node[key])) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = keys[keys.length - 1];
  if (value === undefined) delete node[last];
  else node[last] = value;
  return target;
}
