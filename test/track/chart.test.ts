/** Metric charts render to PNG headlessly, tolerate sparse and bad values, name unknown fields, write atomically. */
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { type ChartOptions, renderMetricsChart, writeMetricsChart } from "../../src/track/chart.ts";

const root = await mkdtemp(join(tmpdir(), "reasonrl-chart-"));
after(() => rm(root, { recursive: true, force: true }));

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Checks the signature and the first chunk (IHDR); returns the image's size. */
function pngSize(png: Uint8Array): { width: number; height: number } {
  assert.deepEqual([...png.subarray(0, 8)], PNG_SIGNATURE);
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  assert.equal(dv.getUint32(8), 13, "IHDR length");
  assert.equal(new TextDecoder().decode(png.subarray(12, 16)), "IHDR");
  return { width: dv.getUint32(16), height: dv.getUint32(20) };
}

/** 60 steps of training metrics; held-out accuracy only every 10th step. */
const records = Array.from({ length: 60 }, (_, i) => ({
  step: i + 1,
  reward: Math.sin(i / 8) + i / 40,
  accuracy: Math.min(1, i / 60),
  completion_length: 300 - 2 * i,
  ...(i % 10 === 9 ? { heldout_accuracy: i / 80 } : {}),
}));

const three: ChartOptions = {
  x: "step",
  title: "run",
  series: [
    { title: "reward", field: "reward" },
    { title: "accuracy", field: "accuracy", domain: [0, 1] },
    { title: "completion length", field: "completion_length" },
  ],
};

test("renders a PNG of the requested width, taller with more panels, in well under 2 s", async () => {
  const t0 = performance.now();
  const png = await renderMetricsChart(records, { ...three, width: 640 });
  const ms = performance.now() - t0;
  assert.ok(ms < 2000, `one render took ${ms.toFixed(0)} ms`);
  const size = pngSize(png);
  assert.equal(size.width, 640);
  const one = pngSize(
    await renderMetricsChart(records, { x: "step", series: [three.series[0]], width: 640 }),
  );
  assert.equal(one.width, 640);
  assert.ok(one.height > 100 && one.height < 640, `one panel: ${one.height} px high`);
  assert.ok(
    size.height > 2.5 * one.height && size.height < 3.5 * one.height,
    `${size.height} vs ${one.height}`,
  );
  const wide = pngSize(await renderMetricsChart(records, three)); // default width
  assert.equal(wide.width, 800);
});

test("sparse series, overlaid fields and non-finite values render; bad points are left out", async () => {
  const messy = records.map((r, i) => ({
    ...r,
    reward: [Number.NaN, Number.POSITIVE_INFINITY, null, "x", undefined][i % 7] ?? r.reward,
  }));
  messy.push({ step: Number.NaN, reward: 1 } as never); // no finite x: dropped
  const png = await renderMetricsChart(messy, {
    x: "step",
    series: [
      { title: "reward", field: "reward" },
      { title: "held-out accuracy", field: "heldout_accuracy", domain: [0, 1] },
      { title: "accuracy", field: ["accuracy", "heldout_accuracy"], domain: [0, 1] },
    ],
  });
  assert.equal(pngSize(png).width, 800);
  // a field present only as null (nothing finite yet) draws an empty panel
  const empty = records.map((r) => ({ ...r, kl: null }));
  pngSize(await renderMetricsChart(empty, { x: "step", series: [{ title: "kl", field: "kl" }] }));
});

test("an unknown field, an unknown x or no records throws naming the field; optional fields may be absent", async () => {
  const bad = { x: "step", series: [{ title: "r", field: "rewrad" }] };
  await assert.rejects(renderMetricsChart(records, bad), /"rewrad".*fields seen: step, reward/);
  await assert.rejects(renderMetricsChart(records, { ...bad, x: "stpe" }), /x field "stpe"/);
  await assert.rejects(
    renderMetricsChart([], { x: "step", series: [{ title: "r", field: "reward" }] }),
    /"step".*no records/,
  );
  await assert.rejects(
    renderMetricsChart([{ step: 1 }], { x: "step", series: [{ title: "a", field: ["reward", "heldout"] }] }),
    /"reward"/,
  );
  await assert.rejects(renderMetricsChart(records, { x: "step", series: [] }), /no series/);
  const later = { title: "held-out", field: "pass_at_8", optional: true };
  pngSize(await renderMetricsChart(records, { x: "step", series: [three.series[0], later] }));
});

test("writeMetricsChart writes the PNG atomically and leaves no temporary file", async () => {
  const dir = await mkdtemp(join(root, "w-"));
  const path = join(dir, "metrics.png");
  await writeFile(path, "old");
  await writeMetricsChart(path, records, three);
  assert.deepEqual(await readdir(dir), ["metrics.png"]);
  assert.equal(pngSize(await readFile(path)).width, 800);
  await assert.rejects(writeMetricsChart(path, records, { x: "nope", series: three.series }), /"nope"/);
  await assert.rejects(writeMetricsChart(join(dir, "missing", "m.png"), records, three));
  assert.deepEqual(await readdir(dir), ["metrics.png"]);
});
