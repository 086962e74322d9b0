/**
 * \boxed{...} and \fbox{...}: finding them with balanced braces, and choosing
 * which to keep when an output has several ("last" keeps the final box plus any
 * boxes just before it that read as one answer, e.g. "\boxed{2} and \boxed{3}";
 * "all" keeps every box).
 */

/** One \boxed{...} occurrence: `start` at the backslash, `end` after the closing brace. */
export interface Box {
  start: number;
  end: number;
  content: string;
}

const BOX_RE = /\\(?:boxed|fbox)\s*\{/g;

/**
 * Every top-level box in `text`, left to right. A box without its closing brace
 * runs to the end of the text (models often stop inside one). Nested boxes are
 * unwrapped into their content.
 */
export function findBoxes(text: string, nesting = 0): Box[] {
  const boxes: Box[] = [];
  BOX_RE.lastIndex = 0;
  for (let m = BOX_RE.exec(text); m !== null; m = BOX_RE.exec(text)) {
    const open = m.index + m[0].length - 1;
    let depth = 0;
    let close = -1;
    for (let i = open; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 92 /* \ */) {
        i++; // skip escaped char, e.g. \{ or \}
        continue;
      }
      if (c === 123 /* { */) depth++;
      else if (c === 125 /* } */) {
        depth--;
        if (depth === 0) {
          close = i;
          break;
        }
      }
    }
    const end = close < 0 ? text.length : close + 1;
    let content = text.slice(open + 1, close < 0 ? text.length : close).trim();
    if (nesting < 8 && /\\(?:boxed|fbox)\s*\{/.test(content))
      content = boxedContent(content, "last", nesting + 1) ?? content;
    boxes.push({ start: m.index, end, content });
    BOX_RE.lastIndex = end;
  }
  return boxes;
}

const SEPARATOR = /\b(?:and|or)\b|[,;]/;

/**
 * The boxed answer of `text`: with "last", the final box and the boxes just
 * before it that are close (under 10 characters apart) or joined by a separator
 * ("and", "or", ",", ";" within 70 characters) and differ from it; with "all",
 * every box. Several contents are joined with ",". Returns null without a box.
 */
export function boxedContent(text: string, mode: "last" | "all", nesting = 0): string | null {
  const boxes = findBoxes(text, nesting);
  if (boxes.length === 0) return null;
  let chosen: Box[];
  if (mode === "all") chosen = boxes;
  else {
    chosen = [boxes[boxes.length - 1]];
    for (let i = boxes.length - 2; i >= 0; i--) {
      const b = boxes[i];
      const next = chosen[0];
      const between = text.slice(b.end, next.start);
      const close = between.length < 10;
      const joined = between.length < 70 && SEPARATOR.test(between) && b.content !== next.content;
      if (!close && !joined) break;
      chosen.unshift(b);
    }
  }
  const contents: string[] = [];
  for (const b of chosen) if (contents[contents.length - 1] !== b.content) contents.push(b.content);
  return contents.join(",");
}
