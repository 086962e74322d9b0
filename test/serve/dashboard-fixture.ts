/**
 * Run stores for the dashboard's tests, written with the run store's schema
 * (src/track/store.ts): a finished training run, a run that grows while a
 * test watches, and an eval output folder. Completions carry the cases the
 * rollout browser filters: right and wrong, cut at the limit, another script,
 * a broken format, and a script tag that must show as text.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";

const SCHEMA = `
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS steps(stage TEXT, step INTEGER, time REAL, metrics TEXT, PRIMARY KEY(stage, step));
CREATE TABLE IF NOT EXISTS prompts(id INTEGER PRIMARY KEY, text TEXT UNIQUE);
CREATE TABLE IF NOT EXISTS rollouts(step INTEGER, grp INTEGER, idx INTEGER, round INTEGER,
  prompt_id INTEGER REFERENCES prompts(id), completion TEXT, tokens INTEGER, finish_reason TEXT, reward REAL,
  advantage REAL NULL, rewards TEXT, correct INTEGER NULL, format_ok INTEGER NULL, lang_other REAL,
  mixed_scripts INTEGER, policy_version INTEGER NULL, PRIMARY KEY(step, grp, idx));
CREATE INDEX IF NOT EXISTS rollouts_step ON rollouts(step);
CREATE TABLE IF NOT EXISTS evals(step INTEGER PRIMARY KEY, accuracy REAL, ci_low REAL, ci_high REAL, n INTEGER, time REAL);
CREATE TABLE IF NOT EXISTS eval_samples(step INTEGER, problem INTEGER, benchmark TEXT, sample INTEGER, prompt_id INTEGER,
  completion TEXT, answer TEXT, gold TEXT, correct INTEGER, tokens INTEGER, finish_reason TEXT,
  PRIMARY KEY(step, benchmark, problem, sample));
CREATE TABLE IF NOT EXISTS events(step INTEGER, time REAL, kind TEXT, name TEXT, level TEXT, message TEXT, value REAL NULL);
`;

/** A store being written, as a trainer writes it: one transaction per step. */
export class FixtureStore {
  readonly db: Database.Database;

  constructor(
    readonly dir: string,
    kind: "train" | "eval" | "demo",
    name: string,
  ) {
    this.db = new Database(join(dir, "run.sqlite"));
    this.db.exec(SCHEMA);
    const meta = this.db.prepare("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)");
    for (const [k, v] of Object.entries({
      schema_version: "1",
      kind,
      name,
      created_at: new Date().toISOString(),
      model: "tiny",
    }))
      meta.run(k, v);
  }

  static async create(dir: string, kind: "train" | "eval" | "demo", name: string): Promise<FixtureStore> {
    await mkdir(dir, { recursive: true });
    return new FixtureStore(dir, kind, name);
  }

  private promptId(text: string): number {
    this.db.prepare("INSERT OR IGNORE INTO prompts(text) VALUES (?)").run(text);
    return (this.db.prepare("SELECT id FROM prompts WHERE text = ?").get(text) as { id: number }).id;
  }

  /** GRPO step `step`: its metrics, 2 groups of 4 completions, and an event every 3rd step. */
  addStep(step: number): void {
    this.db.transaction(() => {
      const reward = 0.5 + 0.1 * step;
      const metrics = {
        stage: "grpo",
        step,
        reward,
        reward_accuracy: 0.4 + 0.05 * step,
        reward_format: 0.9,
        train_accuracy: 0.4 + 0.05 * step,
        completion_length: 20 + step,
        completion_length_max: 32,
        clipped_fraction: 0.125,
        kl: 0.01 * step,
        entropy: 0.5,
        clip_ratio: 0,
        loss: -0.1,
        grad_norm: 0.8,
        lr: 1e-3,
        generate_s: 0.6,
        reward_s: 0.05,
        train_s: 1.2,
      };
      this.db
        .prepare("INSERT INTO steps(stage, step, time, metrics) VALUES ('grpo', ?, ?, ?)")
        .run(step, Date.now() / 1000, JSON.stringify(metrics));
      const insert = this.db.prepare(
        `INSERT INTO rollouts(step, grp, idx, round, prompt_id, completion, tokens, finish_reason, reward, advantage,
           rewards, correct, format_ok, lang_other, mixed_scripts) VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      for (let grp = 0; grp < 2; grp++) {
        const prompt = this.promptId(`What is ${grp + 2} + ${step}?`);
        const cases = [
          { text: `${grp + 2} + ${step} = ${grp + 2 + step}</think>\\boxed{${grp + 2 + step}}`, correct: 1 },
          { text: `I think it is 7 <script>alert("x")</script></think>\\boxed{7}`, correct: 0 },
          { text: "1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1", correct: 0, cut: true, broken: true },
          { text: `答案是 ${grp + 2 + step}</think>\\boxed{${grp + 2 + step}}`, correct: 1, other: 0.6 },
        ];
        cases.forEach((c, idx) => {
          const terms = { accuracy: c.correct, format: c.broken ? 0 : 1 };
          insert.run(
            step,
            grp,
            idx,
            prompt,
            c.text,
            c.cut ? 32 : 12,
            c.cut ? "length" : "stop",
            c.correct + terms.format,
            c.correct ? 0.9 : -0.9,
            JSON.stringify(terms),
            c.correct,
            c.broken ? 0 : 1,
            c.other ?? 0,
            c.other ? 1 : 0,
          );
        });
      }
      if (step % 4 === 0)
        this.db
          .prepare("INSERT INTO evals(step, accuracy, ci_low, ci_high, n, time) VALUES (?, ?, ?, ?, ?, ?)")
          .run(step, 0.5 + 0.02 * step, 0.4 + 0.02 * step, 0.6 + 0.02 * step, 50, Date.now() / 1000);
      if (step % 3 === 0)
        this.db
          .prepare(
            "INSERT INTO events(step, time, kind, name, level, message, value) VALUES (?, ?, ?, ?, ?, ?, ?)",
          )
          .run(
            step,
            Date.now() / 1000,
            "guard",
            "length_limit",
            "warn",
            `step ${step}: 12% cut at 32 tokens`,
            0.125,
          );
    })();
  }

  /** An evaluation's samples at `step` (eval folders use step 0): one right and one wrong per problem. */
  addEvalSamples(step: number, benchmark: string, problems: number): void {
    const insert = this.db.prepare(
      `INSERT INTO eval_samples(step, problem, benchmark, sample, prompt_id, completion, answer, gold, correct, tokens,
         finish_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.db.transaction(() => {
      for (let p = 0; p < problems; p++) {
        const prompt = this.promptId(`Problem ${p}: what is ${p} * 2?`);
        insert.run(step, p, benchmark, 0, prompt, `\\boxed{${2 * p}}`, `${2 * p}`, `${2 * p}`, 1, 8, "stop");
        insert.run(
          step,
          p,
          benchmark,
          1,
          prompt,
          `<b>${p}</b>`,
          `${p}`,
          `${2 * p}`,
          p === 0 ? 1 : 0,
          8,
          "stop",
        );
      }
    })();
  }

  close(): void {
    this.db.close();
  }
}

/** A finished training run of `steps` GRPO steps in `dir`, with summary.json. */
export async function finishedRun(dir: string, name: string, steps: number): Promise<void> {
  const store = await FixtureStore.create(dir, "train", name);
  for (let s = 1; s <= steps; s++) store.addStep(s);
  store.addEvalSamples(4, "heldout", 3);
  store.close();
  await writeFile(join(dir, "summary.json"), JSON.stringify({ name, stopped: false, grpo_steps: steps }));
}

/** An eval output folder: its store (step 0 samples) and results.json as `reasonrl eval` writes it. */
export async function evalFolder(dir: string, model: string, accuracy: number): Promise<void> {
  const store = await FixtureStore.create(dir, "eval", model);
  store.addEvalSamples(0, "math500", 4);
  store.close();
  const estimate = { value: accuracy, stderr: 0.05, ci95: [accuracy - 0.1, accuracy + 0.1] };
  const settings = {
    prompt: "lighteval",
    system: null,
    n: 2,
    k: [1],
    temperature: 0.6,
    top_p: 0.95,
    max_tokens: 64,
    seed: 0,
    limit: null,
  };
  const benchmark = {
    name: "math500",
    title: "MATH-500",
    source: "test",
    problems: 4,
    skipped_rows: 0,
    metrics: { "pass@1": estimate },
    truncated: 0,
    mean_tokens: 8,
    unknown_tokens: 0,
    unknown_finish: 0,
    grading_failures: 0,
    failed_samples: 0,
  };
  const results = {
    version: 1,
    model,
    target: `local ${model}`,
    settings,
    benchmarks: [benchmark],
    average: { "pass@1": estimate },
    truncated: 0,
    mean_tokens: 8,
    unknown_tokens: 0,
    unknown_finish: 0,
    failed_samples: 0,
    failures: [],
    run: {},
    created: new Date().toISOString(),
  };
  await writeFile(join(dir, "results.json"), JSON.stringify(results));
}
