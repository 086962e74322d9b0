/**
 * Overrides of a recipe by dotted paths: "grpo.steps=20", "sources.math.limit=100",
 * "grpo.rewards.rewards.0.weight=1", "steps.dedupe.threshold=0.9". The one
 * implementation behind `--set` of every recipe (training recipes in src/rl,
 * curation recipes in src/data/curate).
 *
 * - A value is read as YAML: numbers, booleans, null, [lists], {maps}, or strings.
 * - A key into a mapping creates missing mappings on the way.
 * - A key into a list is an index (0-based; one past the end appends, as the
 *   last key), or the name of one of its items (see `itemName`).
 */
import { parse as parseYaml } from "yaml";

export interface OverrideOptions {
  /**
   * The name a list item answers to, for keys that are not indexes. Default: its
   * `name` field. Curation recipes also answer to a step's type (`step`).
   */
  itemName?: (item: Record<string, unknown>) => unknown;
}

const defaultItemName = (item: Record<string, unknown>) => item.name;

/** Splits "a.b.c=value" into its keys and its YAML-parsed value. */
export function parseOverride(set: string): { keys: string[]; value: unknown } {
  const eq = set.indexOf("=");
  if (eq <= 0) throw new Error(`override "${set}": expected key.path=value`);
  const keys = set.slice(0, eq).split(".");
  if (keys.some((k) => k === "" || k === "__proto__" || k === "constructor" || k === "prototype"))
    throw new Error(`override "${set}": "${set.slice(0, eq)}" is not a valid key path`);
  let value: unknown;
  try {
    value = parseYaml(set.slice(eq + 1));
  } catch (err) {
    throw new Error(`override "${set}": the value is not valid YAML (${(err as Error).message})`);
  }
  return { keys, value };
}

/** Returns a copy of `raw` with each override applied, in order; `raw` is not changed. */
export function applyOverrides(
  raw: Record<string, unknown>,
  sets: readonly string[],
  options: OverrideOptions = {},
): Record<string, unknown> {
  const itemName = options.itemName ?? defaultItemName;
  const out = structuredClone(raw);
  for (const set of sets) {
    const { keys, value } = parseOverride(set);
    let node: unknown = out;
    keys.forEach((key, k) => {
      const last = k === keys.length - 1;
      if (Array.isArray(node)) {
        const list = node as unknown[];
        const index = /^\d+$/.test(key)
          ? Number(key)
          : list.findIndex((item) => isMapping(item) && itemName(item) === key);
        if (index < 0 || index >= list.length + (last ? 1 : 0))
          throw new Error(`override "${set}": no item "${key}" in the list ${keys.slice(0, k).join(".")}`);
        if (last) list[index] = value;
        else {
          list[index] ??= {};
          node = list[index];
        }
        return;
      }
      if (!isMapping(node))
        throw new Error(`override "${set}": "${keys.slice(0, k).join(".")}" is not a section`);
      if (last) node[key] = value;
      else {
        node[key] ??= {};
        node = node[key];
      }
    });
  }
  return out;
}

function isMapping(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}
