/**
 * The README's picture of the dashboard: serves the dashboard of a runs folder,
 * opens one run's curves in chromium (playwright-core) and saves a screenshot.
 *
 *   node --import tsx scripts/dashboard-screenshot.ts [DIR] [--run NAME] [--out FILE] [--tab TAB]
 *
 * Defaults: DIR runs, the run "demo" (made by `npm start`), out docs/dashboard.png, tab curves.
 * Chromium: /usr/bin/chromium, or CHROMIUM_PATH.
 */
import { existsSync } from "node:fs";
import { rename, stat } from "node:fs/promises";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";
import { startDashboard } from "../src/serve/dashboard/server.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    run: { type: "string", default: "demo" },
    out: { type: "string", default: "docs/dashboard.png" },
    tab: { type: "string", default: "curves" },
  },
});
const dir = positionals[0] ?? "runs";
const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
if (!existsSync(executablePath)) throw new Error(`no chromium at ${executablePath} (set CHROMIUM_PATH)`);

const dashboard = await startDashboard({ dir, port: 0 });
const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  await page.goto(`${dashboard.url}#runs=${encodeURIComponent(values.run)}&tab=${values.tab}`);
  const ready = { rollouts: "#ro-groups .group", evals: "#tab-evals .group" }[values.tab] ?? ".chart[data-steps]";
  await page.locator(ready).first().waitFor({ timeout: 30_000 });
  await page.waitForTimeout(500); // the last charts' layout
  // Whole or not at all: a temporary file renamed over the picture.
  const tmp = `${values.out}.tmp.png`;
  await page.screenshot({ path: tmp });
  await rename(tmp, values.out);
  console.log(`${values.out}: ${((await stat(values.out)).size / 1024).toFixed(0)} KiB`);
} finally {
  await browser.close();
  await dashboard.close();
}
