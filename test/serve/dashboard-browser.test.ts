/**
 * The dashboard in a real browser (playwright-core driving Debian's chromium;
 * skipped, saying why, when /usr/bin/chromium or CHROMIUM_PATH is missing):
 * a finished run's curves, a live run whose curves grow while a writer appends
 * steps, a click on a curve opening that step in the rollout browser, its
 * filters and search (model output shown as text, never run as markup), the
 * eval table of two eval folders, and no console errors. A screenshot of each
 * view is saved in the test's output folder (its path is printed).
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
import { type RunningDashboard, startDashboard } from "../../src/serve/dashboard/server.ts";
import type { RunStore } from "../../src/track/store.ts";
import { evalFolder, finishedRun, openTrainStore, writeStep } from "./dashboard-fixture.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const skip = existsSync(CHROMIUM)
  ? false
  : `no chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;

const root = await mkdtemp(join(tmpdir(), "reasonrl-dashboard-browser-"));
const runsDir = join(root, "runs");
const shots = join(root, "screenshots");
let dashboard: RunningDashboard;
let browser: Browser;
let live: RunStore;
/** Console errors and uncaught page errors, of every page. */
const errors: string[] = [];

before(async () => {
  if (skip) return;
  await mkdir(shots, { recursive: true });
  await finishedRun(join(runsDir, "finished"), "finished", 12);
  await evalFolder(join(runsDir, "eval", "base"), "base", 0.4);
  await evalFolder(join(runsDir, "eval", "tuned"), "tuned", 0.6);
  live = openTrainStore(join(runsDir, "live"), "live");
  writeStep(live, 1);
  writeStep(live, 2);
  dashboard = await startDashboard({ dir: runsDir, port: 0 });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  console.log(`dashboard browser test: screenshots in ${shots}`);
});

after(async () => {
  await browser?.close();
  await dashboard?.close();
  live?.close();
  if (!skip) assert.deepEqual(errors, [], "the page logged errors");
  // The screenshots stay for a look; the rest goes.
  await rm(runsDir, { recursive: true, force: true });
});

async function open(hash: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`page: ${e.message}`));
  await page.goto(`${dashboard.url}#${hash}`);
  return page;
}

const chart = (page: Page, title: string) => page.locator(`.chart[data-title^="${title}"]`);

test("a finished run: its curves, held-out accuracy, guard events", { skip }, async () => {
  const page = await open("runs=finished");
  await chart(page, "Reward").waitFor();
  assert.equal(await chart(page, "Reward").getAttribute("data-last"), "12");
  const titles = await page.locator(".chart h3").allTextContents();
  for (const t of ["Reward", "Accuracy", "Completion length", "Share cut", "KL", "Entropy", "Grad norm"])
    assert.ok(
      titles.some((x) => x.startsWith(t)),
      `no chart "${t}" in ${titles.join(", ")}`,
    );
  // The held-out line and its interval join the accuracy chart's legend.
  const legend = await chart(page, "Accuracy").locator(".u-legend").textContent();
  assert.match(legend ?? "", /held-out/);
  assert.equal(await page.locator("#event-count").textContent(), "4");
  await page.screenshot({ path: join(shots, "curves.png") });
  await page.click('#tabs button[data-tab="events"]');
  assert.equal(await page.locator("#events tbody tr").count(), 4);
  await page.close();
});

test("a live run: the curves grow as steps land", { skip }, async () => {
  const page = await open("runs=live");
  await page.locator('.chart[data-title^="Reward"][data-last="2"]').waitFor();
  writeStep(live, 3);
  await page.locator('.chart[data-title^="Reward"][data-last="3"]').waitFor({ timeout: 10_000 });
  writeStep(live, 4); // with an evaluation: the held-out line appears
  await page.locator('.chart[data-title^="Reward"][data-last="4"]').waitFor({ timeout: 10_000 });
  await chart(page, "Accuracy").locator(".u-legend", { hasText: "held-out" }).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator("#live").textContent(), "live");
  await page.close();
});

test("two runs ticked: compared on the same charts, a line each", { skip }, async () => {
  const page = await open("runs=finished,live");
  await page.locator('.chart[data-title^="Reward"][data-last="12"]').waitFor();
  const legend = (await chart(page, "Reward").locator(".u-legend").textContent()) ?? "";
  assert.match(legend, /finished: reward/);
  assert.match(legend, /live: reward/);
  assert.equal(await page.locator("#runs input:checked").count(), 2);
  await page.screenshot({ path: join(shots, "compare.png") });
  await page.close();
});

test("a click on a curve opens its step in the rollout browser; filters and search", { skip }, async () => {
  const page = await open("runs=finished");
  const over = chart(page, "Reward").locator(".u-over");
  await over.waitFor();
  const box = await over.boundingBox();
  assert.ok(box);
  // Steps 1..12 span the plot: its middle is about step 6 or 7.
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  await page.locator("#tab-rollouts:not([hidden]) .group").first().waitFor();
  const step = Number(await page.locator("#ro-step").inputValue());
  assert.ok(step >= 5 && step <= 8, `clicked the middle, got step ${step}`);
  assert.equal(await page.locator(".group").count(), 2);
  assert.equal(await page.locator(".group").first().locator(".completion").count(), 4);
  await page.screenshot({ path: join(shots, "rollouts.png") });

  const shown = async () => {
    await page.waitForFunction(() => document.querySelector("#ro-summary")?.textContent?.includes("of 8"));
    return page.locator(".completion").count();
  };
  await page.check("#ro-cut");
  await page.waitForFunction(() => document.querySelectorAll(".completion").length === 2);
  assert.equal(await page.locator(".completion .badge", { hasText: "cut at limit" }).count(), 2);
  await page.uncheck("#ro-cut");
  await page.check("#ro-lang");
  await page.waitForFunction(() =>
    [...document.querySelectorAll(".completion pre")].every((p) => p.textContent?.includes("答案")),
  );
  assert.equal(await shown(), 2);
  await page.uncheck("#ro-lang");
  await page.check("#ro-format");
  await page.check("#ro-correct");
  await page.waitForFunction(() => document.querySelector("#ro-summary")?.textContent?.startsWith(`step`));
  await page.waitForFunction(() => document.querySelectorAll(".completion").length === 0);
  await page.uncheck("#ro-format");
  await page.uncheck("#ro-correct");
  await page.fill("#ro-search", "<script>");
  await page.waitForFunction(() => document.querySelectorAll(".completion").length === 2);
  // Model output is text: the markup shows, nothing of it runs.
  const text = await page.locator(".completion pre").first().textContent();
  assert.match(text ?? "", /<script>window.__xss=1<\/script>/);
  assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined);
  assert.equal(await page.locator(".completion pre script, .completion pre img").count(), 0);
  await page.close();
});

test("eval folders: the paper-style table compares them; their samples", { skip }, async () => {
  const page = await open("runs=eval/base,eval/tuned&tab=evals");
  await page.locator("table.paper tbody tr").nth(1).waitFor();
  const rows = await page.locator("table.paper tbody tr").allTextContents();
  assert.deepEqual(rows, [
    "base40.0 [30.0, 50.0]40.0 [30.2, 49.8]",
    "tuned60.0 [50.0, 70.0]60.0 [50.2, 69.8]",
  ]);
  assert.match((await page.locator("#ev-table h3").textContent()) ?? "", /Eval compare/);
  assert.equal(await page.locator("#no-curves").getAttribute("hidden"), null, "no curves: said so");
  await page.locator("#es-samples .completion").first().waitFor();
  assert.equal(await page.locator("#es-samples .completion").count(), 8);
  await page.selectOption("#es-correct", "0");
  await page.waitForFunction(() => document.querySelectorAll("#es-samples .completion").length === 3);
  assert.match((await page.locator("#es-samples pre.text").first().textContent()) ?? "", /^<b>1<\/b>$/);
  await page.screenshot({ path: join(shots, "evals.png") });
  await page.close();
});
