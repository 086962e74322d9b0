/**
 * Turns on the shared engine (src/serve/engine-turns.ts), with stand-in generators: requests for the
 * running generator batch together while nobody waits; once another turn waits, later ones queue
 * behind it (first come first served); an exclusive turn runs alone, after the generator went idle;
 * a request that gives up while waiting leaves its turn.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { LocalGenerator } from "../../src/generate/local.ts";
import { EngineTurns } from "../../src/serve/engine-turns.ts";

/** A stand-in generator whose idle() the test resolves by hand, recording when it was asked. */
function fakeGenerator(name: string, log: string[]) {
  let idleNow = true;
  let release = () => {};
  const generator = {
    idle: () => {
      log.push(`${name} idle?`);
      return idleNow ? Promise.resolve() : new Promise<void>((resolve) => (release = resolve));
    },
  } as unknown as LocalGenerator;
  return {
    generator,
    busyUntilReleased: () => {
      idleNow = false;
    },
    settle: () => {
      idleNow = true;
      release();
    },
  };
}

/** A piece of work that runs until `finish()` is called, logging its start. */
function job(name: string, log: string[]) {
  let finish = () => {};
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    run: async () => {
      log.push(`${name} runs`);
      await done;
      log.push(`${name} done`);
    },
    finish,
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

test("requests for the running generator join its turn while nobody waits", async () => {
  const log: string[] = [];
  const turns = new EngineTurns();
  const a = fakeGenerator("a", log);
  const [j1, j2] = [job("a1", log), job("a2", log)];
  const r1 = turns.generate(a.generator, j1.run);
  await tick();
  const r2 = turns.generate(a.generator, j2.run);
  await tick();
  assert.deepEqual(log, ["a1 runs", "a2 runs"], "both run together");
  j1.finish();
  j2.finish();
  await Promise.all([r1, r2]);
  await turns.idle();
});

test("another generator waits for the running turn to end and its generator to idle; later requests queue behind it", async () => {
  const log: string[] = [];
  const turns = new EngineTurns();
  const [a, b] = [fakeGenerator("a", log), fakeGenerator("b", log)];
  const [a1, b1, a2] = [job("a1", log), job("b1", log), job("a2", log)];
  const ra1 = turns.generate(a.generator, a1.run);
  await tick();
  const rb1 = turns.generate(b.generator, b1.run);
  await tick();
  const ra2 = turns.generate(a.generator, a2.run); // b waits: a2 may not jump ahead of it
  await tick();
  assert.deepEqual(log, ["a1 runs"]);
  a.busyUntilReleased();
  a1.finish();
  await ra1;
  await tick();
  assert.deepEqual(log, ["a1 runs", "a1 done", "a idle?"], "b waits for a's scheduler to idle");
  a.settle();
  await tick();
  assert.deepEqual(log.slice(3), ["b1 runs"], "then b, before a2");
  b1.finish();
  await rb1;
  await tick();
  assert.deepEqual(log.slice(4), ["b1 done", "b idle?", "a2 runs"]);
  a2.finish();
  await ra2;
  await turns.idle();
});

test("an exclusive turn runs alone; a request that gives up while waiting leaves", async () => {
  const log: string[] = [];
  const turns = new EngineTurns();
  const a = fakeGenerator("a", log);
  const b = fakeGenerator("b", log);
  const a1 = job("a1", log);
  const ra1 = turns.generate(a.generator, a1.run);
  await tick();
  const exclusive = turns.exclusive(() => {
    log.push("exclusive");
  });
  const gaveUp = new AbortController();
  const rb = turns.generate(b.generator, async () => log.push("b runs"), gaveUp.signal);
  await tick();
  gaveUp.abort(new Error("client gone"));
  await assert.rejects(rb, /client gone/);
  assert.deepEqual(log, ["a1 runs"], "the exclusive turn waits for the running one");
  a1.finish();
  await ra1;
  await exclusive;
  await turns.idle();
  assert.deepEqual(
    log,
    ["a1 runs", "a1 done", "a idle?", "exclusive", "b idle?"],
    "b's abandoned turn is passed through without running anything",
  );
});
