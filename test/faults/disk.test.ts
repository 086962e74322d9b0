/**
 * Disk full and a read-only output folder, during `train`, `eval`, `data curate` and
 * `export gguf`. Each command first runs to the end on a normal disk (the reference). Then:
 *
 * - Disk full: the output folder is a tmpfs smaller than the reference's output (seeded random
 *   sizes), mounted in a user and mount namespace of the child's own (`unshare`; no root needed
 *   where unprivileged user namespaces are allowed), so writes fail with the kernel's real ENOSPC
 *   at whatever moment the space runs out. The command must fail with one `reasonrl: ...` line
 *   naming a path in the output folder and the cause, no stack trace, and leave no incomplete file
 *   under a final name and no temporary; then the tmpfs is grown (space freed, files kept) and the
 *   same command must complete with the reference's files.
 * - Read-only: the output folder exists, empty, chmod 555 (for root, the child runs without
 *   CAP_DAC_OVERRIDE so the mode holds): one line naming the path and "permission denied", nothing
 *   written; after chmod 755 the same command completes with the reference's files.
 * - One writer at a time on a full disk: the append-only logs (a line that does not fit), and the
 *   run store (run.sqlite: made on a disk too small, and filled step by step), whose error must
 *   name it and the cause and which must stay whole.
 *
 *   REASONRL_FAULT_DISK_SIZES=4 REASONRL_FAULT_SEED=2 node --import tsx --test test/faults/disk.test.ts
 *
 * (default 2 disk sizes per command, seed 1).
 */
import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { pathToFileURL } from "node:url";
import {
  bin,
  type ChildRun,
  checkout,
  compareFolders,
  envInt,
  folderPages,
  type Job,
  listFiles,
  makeJobs,
  runChild,
  scanFolder,
  seededRandom,
} from "./helpers-process.ts";
import { checkStore, storeSteps } from "./helpers-store.ts";

const SIZES = envInt("REASONRL_FAULT_DISK_SIZES", 2);
const SEED = envInt("REASONRL_FAULT_SEED", 1);

const root = await mkdtemp(join(tmpdir(), "reasonrl-disk-"));
after(async () => {
  await chmodTree(root);
  await rm(root, { recursive: true, force: true });
});
const jobs = await makeJobs(join(root, "fixtures"));
const smallDisk = await smallDiskSupport(join(root, "probe"));
const asUser = await permissionsHonoured();
const KEYS = ["train", "eval", "curate", "export"] as const;

/** The figures of every test, summed and printed as one JSON line at the end. */
const totals = {
  faults: "disk",
  seed: SEED,
  disk_full_runs: 0,
  clear_errors: 0,
  incomplete_files: 0,
  temporaries_left: 0,
  reruns_identical: 0,
  read_only_runs: 0,
  read_only_clear_errors: 0,
  read_only_files_written: 0,
  read_only_reruns_identical: 0,
};
after(() => console.log(JSON.stringify(totals)));

/** The reference run of each command, in `<root>/<key>/reference`. */
const reference: Record<string, string> = {};
before(async () => {
  for (const key of KEYS) {
    reference[key] = join(root, key, "reference");
    await mkdir(reference[key], { recursive: true }); // export writes a file into a folder that exists
    const r = await runChild(jobs[key].args(reference[key]));
    assert.equal(r.code, 0, `${jobs[key].name}: the reference run failed: ${r.stderr}`);
  }
});

/** Makes every folder under `dir` writable again (the read-only tests leave none, unless they fail). */
async function chmodTree(dir: string): Promise<void> {
  await chmod(dir, 0o755).catch(() => {});
  for (const file of await listFiles(dir).catch(() => [])) {
    const parts = file.split("/");
    for (let i = 1; i < parts.length; i++)
      await chmod(join(dir, ...parts.slice(0, i)), 0o755).catch(() => {});
  }
}

/**
 * What is wrong with a failed run's error output, or null: it must end with one line
 * "reasonrl: ..." that names a path inside `out` and matches `cause`, with no stack trace.
 */
function badError(run: ChildRun, out: string, cause: RegExp): string | null {
  if (run.code === 0) return "it exited 0";
  const last = run.stderr.trim().split("\n").at(-1) ?? "";
  if (!last.startsWith("reasonrl: ")) return `its last line is not "reasonrl: ...": ${last}`;
  if (!last.includes(out)) return `its error names no path in ${out}: ${last}`;
  if (!cause.test(last)) return `its error does not say ${cause}: ${last}`;
  if (/^\s+at /m.test(run.stderr)) return `it printed a stack trace: ${run.stderr}`;
  return null;
}

/** The differences from the reference, in a line (empty when none). */
async function differences(key: string, folder: string, writtenAs: string): Promise<string> {
  const c = await compareFolders(reference[key], folder, writtenAs);
  return [
    ...c.different,
    ...c.missing.map((m) => `${m} (missing)`),
    ...c.extra.map((e) => `${e} (extra)`),
  ].join(", ");
}

function diskFullTest(key: (typeof KEYS)[number], job: Job, seedOffset: number) {
  test(`disk full during ${job.name}: a clear error naming the file, nothing half-written, the rerun completes`, {
    skip: smallDisk.ok ? false : smallDisk.why,
  }, async (t) => {
    const total = await folderPages(reference[key]);
    const random = seededRandom(SEED * 211 + seedOffset);
    const problems: string[] = [];
    const figures = { failed_clearly: 0, incomplete_files: 0, temporaries: 0, reruns_identical: 0 };
    const sizes: number[] = [];
    const messages = new Set<string>();
    for (let i = 0; i < SIZES; i++) {
      // Between 5% and 95% of what the run writes, in whole pages (at least two).
      const bytes = Math.max(8192, Math.floor(((0.05 + 0.9 * random()) * total) / 4096) * 4096);
      sizes.push(bytes);
      const out = join(root, key, `full-${i}`);
      const r = await runOnSmallDisk(job.args(out), out, bytes);
      const where = `${bytes / 1024} KiB disk`;
      messages.add(r.full.stderr.trim().split("\n").at(-1)?.split(out).join("<out>") ?? "");
      const bad = badError(r.full, out, /no space left|ENOSPC/);
      if (bad) problems.push(`${where}: ${bad}`);
      else figures.failed_clearly++;
      const left = await scanFolder(r.fullCopy);
      figures.incomplete_files += left.corrupted.length;
      figures.temporaries += left.temporaries.length;
      for (const c of left.corrupted) problems.push(`${where}: ${c.file} incomplete (${c.why})`);
      for (const tmp of left.temporaries) problems.push(`${where}: temporary ${tmp} left`);
      if (r.freed.code !== 0)
        problems.push(`${where}: the rerun after freeing space failed: ${r.freed.stderr}`);
      else {
        const diff = await differences(key, r.freedCopy, out);
        if (diff)
          problems.push(`${where}: after freeing space the rerun differs from the reference: ${diff}`);
        else figures.reruns_identical++;
      }
    }
    t.diagnostic(
      `${job.name}: output ${Math.round(total / 1024)} KiB; disks of ${sizes.map((b) => b / 1024).join(", ")} KiB: ` +
        `${figures.failed_clearly}/${SIZES} clear errors, ${figures.incomplete_files} incomplete files, ` +
        `${figures.temporaries} temporaries left, ${figures.reruns_identical}/${SIZES} reruns after freeing space identical`,
    );
    t.diagnostic(`${job.name}: disk full errors: ${[...messages].join(" | ")}`);
    totals.disk_full_runs += SIZES;
    totals.clear_errors += figures.failed_clearly;
    totals.incomplete_files += figures.incomplete_files;
    totals.temporaries_left += figures.temporaries;
    totals.reruns_identical += figures.reruns_identical;
    assert.deepEqual(problems, []);
  });
}

function readOnlyTest(key: (typeof KEYS)[number], job: Job) {
  test(`read-only output folder for ${job.name}: a clear error naming it, nothing written, the rerun completes`, {
    skip: asUser ? false : "running as root without setpriv: a chmod 555 folder does not stop root",
  }, async (t) => {
    const out = join(root, key, "read-only");
    await mkdir(out, { recursive: true });
    await chmod(out, 0o555);
    const denied = await runAsUser(job.args(out));
    await chmod(out, 0o755);
    const problems: string[] = [];
    const bad = badError(denied, out, /permission denied|EACCES/);
    if (bad) problems.push(bad);
    const written = await listFiles(out);
    if (written.length > 0) problems.push(`files written into the read-only folder: ${written.join(", ")}`);
    const rerun = await runAsUser(job.args(out));
    const diff = rerun.code === 0 ? await differences(key, out, out) : "";
    if (rerun.code !== 0) problems.push(`the rerun after chmod 755 failed: ${rerun.stderr}`);
    else if (diff) problems.push(`the rerun differs from the reference: ${diff}`);
    totals.read_only_runs++;
    if (!bad) totals.read_only_clear_errors++;
    totals.read_only_files_written += written.length;
    if (rerun.code === 0 && !diff) totals.read_only_reruns_identical++;
    t.diagnostic(
      `${job.name}: read-only folder: ${bad ? "unclear error" : "clear error"} ` +
        `("${denied.stderr.trim().split("\n").at(-1)}"), ${written.length} files written, ` +
        `rerun ${rerun.code === 0 ? "completed" : "failed"}`,
    );
    assert.deepEqual(problems, []);
  });
}

/** Runs `reasonrl args` so that folder permissions hold (through `asUser`'s prefix, for root). */
function runAsUser(args: readonly string[]): Promise<ChildRun> {
  const [command, ...options] = asUser ?? [];
  return command ? runChild([...options, process.execPath, bin, ...args], { command }) : runChild(args);
}

KEYS.forEach((key, i) => {
  diskFullTest(key, jobs[key], i + 1);
  readOnlyTest(key, jobs[key]);
});

/**
 * The append-only logs on a full disk, one append at a time (a whole command rarely runs out of
 * space exactly there): a line that fits, then one of 6,000 bytes into the one page left. The
 * error must name the file, and the file must keep its first line and nothing of the second.
 */
function appendTest(what: string, call: string, todo?: string) {
  test(`disk full while ${what}: the error names the file, no part of the line is kept`, {
    skip: smallDisk.ok ? false : smallDisk.why,
    todo,
  }, async () => {
    const dir = join(root, "append", call);
    const script = join(root, "append", `${call}.mts`);
    await mkdir(dir, { recursive: true });
    const src = (path: string) => JSON.stringify(pathToFileURL(join(checkout, path)).href);
    await writeFile(
      script,
      [
        `const { appendJsonlLog } = await import(${src("src/data/jsonl.ts")});`,
        `const { appendMetrics } = await import(${src("src/train/metrics-log.ts")});`,
        "const [path] = process.argv.slice(2);",
        `const append = ${call === "appendMetrics" ? "appendMetrics" : "(p, r) => appendJsonlLog(p, [r])"};`,
        "await append(path, { step: 0 });",
        'await append(path, { step: 1, text: "x".repeat(6000) }).then(() => console.log("appended"), (e) => console.log(e.message));',
      ].join("\n"),
    );
    const log = join(dir, "log.jsonl");
    const run = await inTmpfs(dir, 8192, [
      'head -c 4000 /dev/zero >"$DIR/fill"',
      `"$NODE" --import tsx ${JSON.stringify(script)} "$DIR/log.jsonl" >"$COPY.out"`,
      'cp "$DIR/log.jsonl" "$COPY.log"',
    ]);
    assert.equal(run.code, 0, run.stderr);
    const message = (await readFile(`${run.copy}.out`, "utf8")).trim();
    assert.match(message, /no space left/, "the append should fail");
    assert.ok(message.includes(log), `the error does not name ${log}: ${message}`);
    assert.equal(
      await readFile(`${run.copy}.log`, "utf8"),
      '{"step":0}\n',
      "the file keeps part of the failed line",
    );
  });
}

appendTest("an evaluation or a curation step appends to its log (src/data/jsonl.ts)", "appendJsonlLog");
appendTest("train appends a line to metrics.jsonl (src/train/metrics-log.ts)", "appendMetrics");

/**
 * The run store (src/track/store.ts) on a full disk, one store at a time (a whole command rarely
 * runs out of space inside it): a store is opened on a tmpfs of `kib` KiB and GRPO steps (a
 * metrics row and 4 rollouts each) are written until a write fails. The error must name the store
 * and say the disk is full, and what is left must open, pass SQLite's integrity check and hold
 * the steps written before the failure, whole.
 */
function storeFullTest(kib: number, when: string, todo?: string) {
  test(`disk full while a run store ${when} (${kib} KiB): the error names the store and the cause, the store stays whole`, {
    skip: smallDisk.ok ? false : smallDisk.why,
    todo,
  }, async () => {
    const dir = join(root, "store", `${kib}k`);
    const script = join(root, "store", `${kib}k.mts`);
    await mkdir(dir, { recursive: true });
    const store = JSON.stringify(pathToFileURL(join(checkout, "src/track/store.ts")).href);
    await writeFile(
      script,
      [
        `const { RunStore } = await import(${store});`,
        "const [path] = process.argv.slice(2);",
        'let step = 0, message = "";',
        "const rollouts = (s) => Array.from({ length: 4 }, (_, index) => ({",
        '  group: 0, index, round: 0, prompt: "prompt " + s, completion: s + "." + index + " " + "y".repeat(300),',
        '  tokens: 10, finishReason: "stop", rewards: { accuracy: 1 }, reward: 1, advantage: 0 }));',
        "try {",
        '  const store = RunStore.open(path, { kind: "train", name: "full" });',
        "  try {",
        "    for (step = 1; step <= 100000; step++)",
        '      store.writeStep({ stage: "grpo", step, metrics: { step, note: "x".repeat(500) }, rollouts: rollouts(step) });',
        "  } finally { store.close(); }",
        "} catch (err) { message = err.message; }",
        "console.log(JSON.stringify({ step, message }));",
      ].join("\n"),
    );
    const path = join(dir, "run.sqlite");
    const run = await inTmpfs(dir, kib * 1024, [
      `"$NODE" --import tsx ${JSON.stringify(script)} "$DIR/run.sqlite" >"$COPY.out"`,
      'mkdir -p "$COPY" && cp -a "$DIR/." "$COPY/"',
    ]);
    assert.equal(run.code, 0, run.stderr);
    const { step, message } = JSON.parse(await readFile(`${run.copy}.out`, "utf8")) as {
      step: number;
      message: string;
    };
    assert.ok(message.includes(path), `the error does not name ${path}: ${message || "no error"}`);
    assert.match(message, /no space left/, "the error should say the disk is full");
    const copy = join(run.copy, "run.sqlite");
    if (step > 0) {
      assert.equal(checkStore(copy), null, "the store left is not whole");
      assert.equal(storeSteps(copy), step - 1, "the store should hold the steps written before the failure");
    }
  });
}

storeFullTest(32, "is made");
storeFullTest(256, "writes its steps");

/** How the disk-full tests get a small disk: a tmpfs in a user and mount namespace, or none (why). */
async function smallDiskSupport(dir: string): Promise<{ ok: true } | { ok: false; why: string }> {
  const probe = await inTmpfs(dir, 8192, ["true"]).catch((err: Error) => ({ code: -1, stderr: err.message }));
  return probe.code === 0
    ? { ok: true }
    : { ok: false, why: `no tmpfs can be mounted here (unshare --user --mount: ${probe.stderr.trim()})` };
}

/**
 * Runs the shell `lines` with `dir` a tmpfs of `bytes` bytes, in a user and mount namespace of
 * their own (no root needed where the kernel allows unprivileged user namespaces). The lines see
 * $DIR, $NODE, $BIN (node and bin/reasonrl.js) and $COPY (a path outside the tmpfs to copy results
 * to: the tmpfs goes with the namespace when the lines end).
 */
async function inTmpfs(dir: string, bytes: number, lines: string[]): Promise<ChildRun & { copy: string }> {
  await mkdir(dir, { recursive: true });
  const copy = `${dir}.copy`;
  const script = ['mount -t tmpfs -o size="$SIZE" tmpfs "$DIR" || exit 97', ...lines].join("\n");
  const run = await runChild(["--user", "--map-root-user", "--mount", "bash", "-e", "-c", script], {
    command: "unshare",
    env: { DIR: dir, SIZE: String(bytes), COPY: copy, NODE: process.execPath, BIN: bin },
  });
  return { ...run, copy };
}

/** One run of a command on a full disk, then again after space was freed. */
interface SmallDiskRun {
  full: ChildRun;
  freed: ChildRun;
  /** Copies of the output folder after each run. */
  fullCopy: string;
  freedCopy: string;
}

/**
 * Runs `args` (writing into `out`) with `out` a tmpfs of `bytes` bytes; copies what it left into
 * `<out>.copy/full`; grows the tmpfs to 1 GiB (space freed, files kept) and runs the same command
 * again, copied into `<out>.copy/freed`.
 */
async function runOnSmallDisk(args: readonly string[], out: string, bytes: number): Promise<SmallDiskRun> {
  const quoted = args.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  const ns = await inTmpfs(out, bytes, [
    'mkdir -p "$COPY"',
    "for run in full freed; do",
    '  if [ "$run" = freed ]; then mount -o remount,size=1g "$DIR"; fi',
    `  "$NODE" "$BIN" ${quoted} >"$COPY/$run.stdout" 2>"$COPY/$run.stderr" && echo 0 >"$COPY/$run.code" || echo $? >"$COPY/$run.code"`,
    '  cp -a "$DIR" "$COPY/$run"',
    "done",
  ]);
  if (ns.code !== 0) throw new Error(`the small-disk script failed (exit ${ns.code}): ${ns.stderr}`);
  const read = async (run: string): Promise<ChildRun> => ({
    code: Number((await readFile(join(ns.copy, `${run}.code`), "utf8")).trim()),
    signal: null,
    stdout: await readFile(join(ns.copy, `${run}.stdout`), "utf8"),
    stderr: await readFile(join(ns.copy, `${run}.stderr`), "utf8"),
    ms: 0,
    killed: false,
  });
  return {
    full: await read("full"),
    freed: await read("freed"),
    fullCopy: join(ns.copy, "full"),
    freedCopy: join(ns.copy, "freed"),
  };
}

/**
 * The command prefix that makes a child honour folder permissions: none for an ordinary user;
 * for root (who writes into a chmod 555 folder anyway) setpriv dropping CAP_DAC_OVERRIDE and
 * CAP_DAC_READ_SEARCH, or null when setpriv is missing.
 */
async function permissionsHonoured(): Promise<string[] | null> {
  if (process.getuid?.() !== 0) return [];
  const caps = "-dac_override,-dac_read_search";
  const prefix = ["setpriv", `--inh-caps=${caps}`, `--bounding-set=${caps}`];
  const probe = await runChild([...prefix.slice(1), "true"], { command: prefix[0] }).catch(() => null);
  return probe?.code === 0 ? prefix : null;
}
