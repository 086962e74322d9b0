/**
 * A candidate answer of extraction (extract.ts): where it matched, at which
 * priority, and how its text becomes a parsed answer. Also the reading of one
 * matched text: normalisation, parsing (with Math-Verify's retry on the last
 * "="), percent signs, chains of several environments and choice letters.
 */
import type { Node } from "./ast.ts";
import type { ExtractionConfig } from "./config.ts";
import { normalizeAnswer } from "./normalize.ts";
import { ParseError, parseMath } from "./parser.ts";
import type { PlainMatch } from "./plain-numbers.ts";

/** One match of an extraction pattern. */
export interface Candidate {
  priority: number;
  start: number;
  end: number;
  via: string;
  /** Parses the match: `node` is the answer, `also` an alternative reading (a choice letter). */
  run: () => { node: Node | null; text: string; also?: Node };
}

/** Parses one normalised answer string; retries with the part after the last "=" (Math-Verify's get_last_eq). */
export function parseNormalized(text: string): Node | null {
  if (text.length === 0 || text.length > 50_000) return null;
  try {
    return parseMath(text);
  } catch (e) {
    if (!(e instanceof ParseError) && !(e instanceof RangeError)) throw e;
    if (!text.includes(",") && !text.includes(";")) {
      const parts = text.split(/(?<![\\<>!])=/);
      if (parts.length > 2) {
        try {
          return parseMath(parts[parts.length - 1].trim());
        } catch {
          return null;
        }
      }
    }
    return null;
  }
}

export function latexPieces(
  contents: { text: string; percent: boolean }[],
  cfg: ExtractionConfig,
  boxed: "last" | "all",
) {
  const nodes: (Node | null)[] = [];
  const texts: string[] = [];
  for (const c of contents) {
    const text = normalizeAnswer(c.text, { boxed, units: cfg.units });
    let node = parseNormalized(text);
    if (node && c.percent) node = { type: "percent", arg: node };
    nodes.push(node);
    texts.push(text);
  }
  if (nodes.length > 1 && nodes.every((n) => n !== null)) {
    const items = (nodes as Node[]).flatMap((n) => (n.type === "list" || n.type === "set" ? n.items : [n]));
    return { node: { type: "list", items } as Node, text: texts.join(" and ") };
  }
  const text = texts[0] ?? "";
  const choice = CHOICE_PREFIX.exec(text);
  if (choice) {
    // "(B) 12" or "\text{(B)} 12": the letter, or the value after it
    const rest = parseNormalized(choice[2]);
    const letter: Node = { type: "text", value: choice[1] };
    return rest ? { node: rest, text, also: letter } : { node: letter, text };
  }
  return { node: nodes[0] ?? null, text };
}

/** A multiple-choice letter in front of a value: "(B) 12", "\textbf{(B)} 12", "\text{(B) } 12". */
const CHOICE_PREFIX = /^(?:\\text(?:bf|rm|normal)?\s*\{\s*)?\(([A-E])\)\s*\}?\s*([^\s+\-*/=^<>,;:}].*)$/;

export function plainValue(m: PlainMatch): { node: Node | null; text: string } {
  let node = parseNormalized(m.value);
  if (node && m.percent) node = { type: "percent", arg: node };
  return { node, text: m.value };
}

/** A source of candidates at one priority, computed only when that priority is reached. */
export interface Producer {
  priority: number;
  make: () => Candidate[];
}

export function once<T>(f: () => T): () => T {
  let done = false;
  let v: T;
  return () => {
    if (!done) {
      v = f();
      done = true;
    }
    return v;
  };
}
