/**
 * Kill -9 at random moments: `train`, `eval` and `data curate` are each run once to the end (the
 * reference), then N times into fresh folders, each killed with SIGKILL at a seeded random moment
 * of its work (between its output folder's appearance and the reference's time to its end, from
 * that appearance; shortened to the work time of a run that finished before its moment, as the
 * first run is often the slowest), and run again to completion. The GRPO steps of `train` are
 * killed once more on their own (moments counted from its first GRPO checkpoint), as they are
 * a small part of its work: the run store (run.sqlite) must then hold whole steps only. After each kill every file under a
 * final name must be complete (it parses to its end); after each rerun the folder must hold the
 * reference's files with the same content (bit for bit for weights and data; JSON without its
 * times). The figures are printed as test diagnostics:
 *
 *   REASONRL_FAULT_KILLS=10 REASONRL_FAULT_SEED=2 node --import tsx --test test/faults/kill9.test.ts
 *
 * (default 3 kills per command, seed 1).
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  type ChildRun,
  compareFolders,
  envInt,
  type Job,
  makeJobs,
  runChild,
  scanFolder,
  seededRandom,
} from "./helpers-process.ts";
import { isStoreFile, storeSteps } from "./helpers-store.ts";

const KILLS = envInt("REASONRL_FAULT_KILLS", 3);
const SEED = envInt("REASONRL_FAULT_SEED", 1);

const root = await mkdtemp(join(tmpdir(), "reasonrl-kill9-"));
after(() => rm(root, { recursive: true, force: true }));
const jobs = await makeJobs(join(root, "fixtures"));

/** The figures of one command (printed, and summed at the end). */
interface KillFigures {
  command: string;
  runs_killed: number;
  /** Runs that finished before their kill moment came. */
  finished_first: number;
  /**
   * Each kill's moment (ms after the output folder appeared), the files under final names it
   * left, and the step rows of the run store it left (null: no store).
   */
  kills: { at_ms: number; files_left: number; store_steps: number | null }[];
  reruns_completed: number;
  identical: number;
  different: number;
  corrupted_files: number;
  /** Temporaries (files, or files in temporary folders) still there after the rerun. */
  temporaries_left: number;
}

const all: KillFigures[] = [];
after(() => {
  const sum = (k: keyof KillFigures) => all.reduce((s, f) => s + (f[k] as number), 0);
  console.log(
    JSON.stringify({
      faults: "kill9",
      seed: SEED,
      kills_per_command: KILLS,
      runs_killed: sum("runs_killed"),
      reruns_completed: sum("reruns_completed"),
      identical: sum("identical"),
      different: sum("different"),
      corrupted_files: sum("corrupted_files"),
      temporaries_left: sum("temporaries_left"),
    }),
  );
});

/** Why a rerun failed, in a line. */
const failure = (r: ChildRun) => `exit ${r.code ?? r.signal}: ${r.stderr.trim().split("\n").at(-1)}`;

/** Where the kill moments of a test count from: a path in the output folder, and what it marks. */
interface From {
  path: string;
  /** The part of the work killed ("the GRPO steps of train"). */
  what: string;
}

function killTest(key: "train" | "eval" | "curate", job: Job, seedOffset: number, from?: From) {
  const what = from?.what ?? job.name;
  const since = from ? `${from.path} appeared` : "the output folder appeared";
  test(`kill -9 during ${what} at ${KILLS} random moments: reruns complete, identical, nothing corrupted`, async (t) => {
    const folder = join(root, from ? `${key}-from` : key);
    const watched = (out: string) => (from ? join(out, from.path) : out);
    const reference = join(folder, "reference");
    const ref = await runChild(job.args(reference), { watch: watched(reference) });
    assert.equal(ref.code, 0, `the uninterrupted run failed: ${ref.stderr}`);
    const refScan = await scanFolder(reference);
    assert.deepEqual(refScan.corrupted, [], "the uninterrupted run left incomplete files");

    const random = seededRandom(SEED * 101 + seedOffset);
    const f: KillFigures = {
      command: what,
      runs_killed: 0,
      finished_first: 0,
      kills: [],
      reruns_completed: 0,
      identical: 0,
      different: 0,
      corrupted_files: 0,
      temporaries_left: 0,
    };
    const problems: string[] = [];
    /** Temporaries left after a rerun (a figure, not a failure: a rerun under another pid may not know them). */
    const leftovers: string[] = [];
    // The work's length, from the output folder's (or `from`'s) appearance: start-up times vary
    // too much on a busy machine for a moment counted from the start to land in the work.
    let work = ref.ms - (ref.watchedMs ?? 0);
    for (let i = 0; i < KILLS; i++) {
      const out = join(folder, `kill-${i}`);
      const at = Math.round(random() * work);
      const killed = await runChild(job.args(out), {
        watch: watched(out),
        killAfterMs: at,
        killFromWatch: true,
      });
      if (!killed.killed) {
        f.finished_first++;
        // The moments to come within the work as long as this run's took.
        if (killed.code === 0 && killed.watchedMs !== undefined)
          work = Math.min(work, killed.ms - killed.watchedMs);
        if (killed.code !== 0)
          problems.push(`kill ${i}: the run to be killed failed first (${failure(killed)})`);
      } else f.runs_killed++;
      const left = await scanFolder(out);
      const store = left.files.find(isStoreFile);
      const storeLeft = store === undefined ? null : storeSteps(join(out, store));
      f.kills.push({ at_ms: at, files_left: left.files.length, store_steps: storeLeft });
      for (const c of left.corrupted) problems.push(`kill ${i} at ${at} ms: ${c.file} incomplete (${c.why})`);

      const rerun = await runChild(job.args(out));
      if (rerun.code === 0) f.reruns_completed++;
      else problems.push(`kill ${i} at ${at} ms: the rerun failed (${failure(rerun)})`);
      const done = await scanFolder(out);
      for (const c of done.corrupted)
        problems.push(`kill ${i} at ${at} ms, rerun: ${c.file} incomplete (${c.why})`);
      f.corrupted_files += left.corrupted.length + done.corrupted.length;
      f.temporaries_left += done.temporaries.length;
      leftovers.push(...done.temporaries.map((tmp) => `kill ${i} at ${at} ms: ${tmp}`));
      const cmp = await compareFolders(reference, out);
      const differs = [
        ...cmp.different,
        ...cmp.missing.map((m) => `${m} (missing)`),
        ...cmp.extra.map((e) => `${e} (extra)`),
      ];
      if (differs.length === 0) f.identical++;
      else {
        f.different++;
        problems.push(
          `kill ${i} at ${at} ms: after the rerun, differs from the uninterrupted run: ${differs.join(", ")}`,
        );
      }
    }
    all.push(f);
    t.diagnostic(
      `${what}: reference ${Math.round(ref.ms)} ms (${since} at ${Math.round(ref.watchedMs ?? 0)} ms), ${refScan.files.length} files; ` +
        `${f.runs_killed} runs killed (${f.finished_first} finished before their moment), ` +
        `${f.reruns_completed}/${KILLS} reruns completed, ${f.identical} identical, ${f.different} different, ` +
        `${f.corrupted_files} corrupted files, ${f.temporaries_left} temporaries left`,
    );
    t.diagnostic(
      `${what}: kill moments (ms after ${since}: files left, steps in the run store) ` +
        f.kills.map((k) => `${k.at_ms}: ${k.files_left}, ${k.store_steps ?? "no store"}`).join("; "),
    );
    if (leftovers.length > 0)
      t.diagnostic(`${what}: temporaries left after the reruns: ${leftovers.join("; ")}`);
    assert.deepEqual(problems, []);
  });
}

killTest("train", jobs.train, 1);
killTest("eval", jobs.eval, 2);
killTest("curate", jobs.curate, 3);
killTest("train", jobs.train, 4, { path: "tiny/checkpoints/grpo/step-1", what: "the GRPO steps of train" });
