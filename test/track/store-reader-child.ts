/**
 * A reader in its own process (store.test.ts spawns it): queries a run store
 * while another process writes it, until `steps` GRPO steps are there. Every
 * read must show whole steps (1..n, each with its 24 rollouts). Prints "ready"
 * after its first read, then one JSON line: the reads made and the step counts
 * seen, in order. Exits with 1 (and why on stderr) on a partial step.
 */
import { RunStoreReader } from "../../src/track/store-read.ts";

const [path, stepsArg] = process.argv.slice(2);
const target = Number(stepsArg);
const reader = RunStoreReader.open(path);
const counts: number[] = [];
let reads = 0;
const deadline = Date.now() + 60_000;
for (;;) {
  const steps = reader.steps("grpo").map((s) => s.step);
  reads++;
  steps.forEach((step, i) => {
    if (step !== i + 1) throw new Error(`read ${reads}: steps ${steps.join(",")}`);
  });
  const last = steps.at(-1);
  if (last !== undefined && reader.rollouts(last).length !== 24)
    throw new Error(`read ${reads}: step ${last} has ${reader.rollouts(last).length} rollouts, not 24`);
  if (counts.at(-1) !== steps.length) counts.push(steps.length);
  if (reads === 1) console.log("ready");
  if (steps.length >= target) break;
  if (Date.now() > deadline) throw new Error(`timed out at ${steps.length} steps of ${target}`);
  await new Promise((r) => setTimeout(r, 2));
}
reader.close();
console.log(JSON.stringify({ reads, counts }));
