/**
 * Tokens of a normalised LaTeX answer: numbers, single letters, commands
 * (\frac, \{, \\), environment brackets (\begin{pmatrix}) and one-character
 * operators. Linear time; never throws.
 */

/** Raised for input that is not a readable math expression. */
export class ParseError extends Error {}

export type Token =
  | { kind: "num"; text: string; space: boolean }
  | { kind: "letter"; text: string; space: boolean }
  /** A command without its backslash: "frac", "{" for \{, "\\" for a row break. */
  | { kind: "cmd"; text: string; space: boolean }
  | { kind: "begin" | "end"; text: string; space: boolean }
  /** One character, or "<=", ">=", "!=". */
  | { kind: "op"; text: string; space: boolean }
  | { kind: "eof"; text: ""; space: boolean };

const isDigit = (c: string) => c >= "0" && c <= "9";
const isAsciiLetter = (c: string) => (c >= "a" && c <= "z") || (c >= "A" && c <= "Z");

/** Splits `src` into tokens; the last token is always `eof`. */
export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let space = false;
  const n = src.length;
  while (i < n) {
    const c = src[i];
    if (c === " " || c === "\n" || c === "\t" || c === "\r") {
      space = true;
      i++;
      continue;
    }
    if (isDigit(c) || (c === "." && i + 1 < n && isDigit(src[i + 1]))) {
      let j = i;
      while (j < n && isDigit(src[j])) j++;
      if (src[j] === "." && j + 1 < n && isDigit(src[j + 1])) {
        j++;
        while (j < n && isDigit(src[j])) j++;
      } else if (src[j] === "." && j > i && /^\.(?:$|[/)*+\-\]\s])/.test(src.slice(j, j + 2))) {
        j++; // "1./3": a float literal with a bare point
      }
      // scientific notation: 3.61e2, 1e-5 (the exponent must be digits)
      const sci = /^[eE][+-]?\d+(?![\d.a-zA-Z])/.exec(src.slice(j, j + 12));
      if (sci) j += sci[0].length;
      out.push({ kind: "num", text: src.slice(i, j), space });
      i = j;
    } else if (c === "\\") {
      const d = src[i + 1] ?? "";
      if (isAsciiLetter(d)) {
        let j = i + 1;
        while (j < n && isAsciiLetter(src[j])) j++;
        const name = src.slice(i + 1, j);
        if (name === "begin" || name === "end") {
          const m = /^\s*\{\s*([a-zA-Z*]+)\s*\}/.exec(src.slice(j, j + 40));
          if (m) {
            out.push({ kind: name, text: m[1].replace("*", ""), space });
            i = j + m[0].length;
            space = false;
            continue;
          }
        }
        out.push({ kind: "cmd", text: name, space });
        i = j;
      } else if (d === "") {
        i++;
        continue;
      } else {
        out.push({ kind: "cmd", text: d, space });
        i += 2;
      }
    } else if ((c === "<" || c === ">" || c === "!") && src[i + 1] === "=") {
      out.push({ kind: "op", text: `${c}=`, space });
      i += 2;
    } else if (c === "=" && src[i + 1] === "=") {
      out.push({ kind: "op", text: "=", space });
      i += 2;
    } else if (isAsciiLetter(c)) {
      out.push({ kind: "letter", text: c, space });
      i++;
    } else {
      const cp = src.codePointAt(i) ?? 0;
      const ch = String.fromCodePoint(cp);
      // Other letters (Greek typed directly, other scripts) behave like letters.
      out.push({ kind: /\p{L}/u.test(ch) ? "letter" : "op", text: ch, space });
      i += ch.length;
    }
    space = false;
  }
  out.push({ kind: "eof", text: "", space });
  return out;
}
