/**
 * The README's `reasonrl train` commands run, at least up to loading: each
 * command of README.md's shell blocks is parsed, the files its own `--set`s
 * name are made as tiny stand-ins (a tiny Qwen2 for model.path, a few problems
 * for a data path) in an empty working folder, and then its recipe must load,
 * every path it will read must be there (src/rl/recipe-paths.ts), and its
 * model's tokenizer and training problems must read. A command whose recipe
 * reads a file the command does not mention fails here, naming the field.
 * Commands with "..." in them are elided examples and not run.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { loadProblems } from "../../src/data/problems.ts";
import { Tokenizer } from "../../src/model/tokenizer.ts";
import { loadRecipe } from "../../src/rl/recipe.ts";
import { checkRecipePaths } from "../../src/rl/recipe-paths.ts";
import { createTinyQwen } from "../model/tiny-qwen.ts";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const work = await mkdtemp(join(tmpdir(), "reasonrl-readme-"));
after(() => rm(work, { recursive: true, force: true }));

/** Splits a shell command line into words (single and double quotes; no expansions). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  const re = /'([^']*)'|"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (const m of line.matchAll(re)) words.push(m[1] ?? m[2]?.replace(/\\(.)/g, "$1") ?? m[3]);
  return words;
}

/** The arguments after `reasonrl train` of every train command in README.md's shell blocks. */
function readmeTrainCommands(readme: string): string[][] {
  const commands: string[][] = [];
  const blocks = readme.match(/```sh\n[\s\S]*?```/g) ?? [];
  for (const block of blocks) {
    // Continuation lines joined; comments cut (a "#" after a space, outside quotes: none in these blocks).
    const lines = block
      .replace(/\\\n\s*/g, " ")
      .split("\n")
      .map((l) => l.replace(/\s#\s.*$/, "").trim());
    for (const line of lines) {
      const words = shellWords(line);
      if (words[0] === "npx" && words[1] === "reasonrl" && words[2] === "train" && !line.includes("..."))
        commands.push(words.slice(3));
    }
  }
  return commands;
}

/** The recipe path and --set values of a train command. */
function parseTrainArgs(args: string[]): { recipe: string; sets: string[] } {
  const sets: string[] = [];
  let recipe = "";
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--set") sets.push(args[++i]);
    else if (args[i] === "--device" || args[i] === "--dtype")
      sets.push(`model.${args[i].slice(2)}=${args[++i]}`);
    else if (args[i] === "--allow-change")
      i++; // a rerun flag: the recipe is the same
    else if (!args[i].startsWith("--")) recipe = args[i];
  }
  return { recipe, sets };
}

/** Makes the file a `--set key=path` names: a tiny model for model.path, else a few problems. */
async function standIn(key: string, path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  if (key === "model.path") {
    await createTinyQwen(path);
    return;
  }
  const rows = [1, 2, 3].map((n) => JSON.stringify({ problem: `What is ${n} + ${n}?`, answer: `${2 * n}` }));
  await writeFile(path, `${rows.join("\n")}\n`);
}

const readme = await readFile(join(repo, "README.md"), "utf8");
const commands = readmeTrainCommands(readme);

test("README.md has reasonrl train commands to check", () => {
  assert.ok(commands.length >= 2, `found ${commands.length}`);
});

for (const [i, args] of commands.entries()) {
  const line = args.join(" ");
  test(`README: reasonrl train ${line}`, async () => {
    const { recipe: recipeFile, sets } = parseTrainArgs(args);
    // Each command in its own empty working folder: recipe paths are relative to it.
    const cwd = join(work, `cmd-${i}`);
    await mkdir(cwd, { recursive: true });
    const absolute = sets.map((s) => {
      const [key, value] = [s.slice(0, s.indexOf("=")), s.slice(s.indexOf("=") + 1)];
      return key.endsWith(".path") ? { key, value: join(cwd, value) } : { key, value };
    });
    for (const { key, value } of absolute) if (key.endsWith(".path")) await standIn(key, value);
    const recipe = await loadRecipe(
      join(repo, recipeFile),
      absolute.map(({ key, value }) => `${key}=${value}`),
    );
    // Paths the recipe itself names are relative to the working folder, as for a user.
    const resolve = (p: string) => (p.startsWith("/") ? p : join(cwd, p));
    const at = structuredClone(recipe);
    at.model.path = resolve(at.model.path);
    if ("path" in at.data.train) at.data.train.path = resolve(at.data.train.path);
    if (at.eval && "path" in at.eval.data) at.eval.data.path = resolve(at.eval.data.path);
    if (at.sft && "path" in at.sft.data) at.sft.data.path = resolve(at.sft.data.path);
    await checkRecipePaths(at);
    if (!at.model.init) Tokenizer.fromDir(at.model.path);
    if (at.grpo) assert.ok((await loadProblems(at.data.train, "train", () => {})).length > 0);
  });
}
