/**
 * `reasonrl dashboard [DIR]`: a local web page over the run stores under DIR
 * (default runs/): curves that update as steps land, the rollout browser,
 * eval tables and samples, guard alerts (src/serve/dashboard/). It serves
 * until Ctrl-C or SIGTERM, then closes and exits 0.
 */
import type { Command } from "commander";
import { DEFAULT_PORT, isLoopback, startDashboard } from "../serve/dashboard/server.ts";
import { integer, jsonOption } from "./options.ts";
import { printResult } from "./output.ts";

interface DashboardFlags {
  host: string;
  port: number;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command("dashboard")
    .description(
      "a local web page over the runs in DIR: live curves, the rollout browser, eval tables, guard alerts",
    )
    .argument("[dir]", "folder of run folders (or one run or eval folder)", "runs")
    .option("--port <n>", "port (0: any free one)", integer({ min: 0, max: 65535 }), DEFAULT_PORT)
    .option("--host <host>", "address to listen on (default loopback only)", "127.0.0.1")
    .addOption(jsonOption("print one JSON line once listening (url, dir, runs); logs go to stderr"))
    .action(async (dir: string, o: DashboardFlags) => {
      const dashboard = await startDashboard({ dir, host: o.host, port: o.port });
      printResult(
        { url: dashboard.url, dir },
        o,
        `dashboard of ${dir} at ${dashboard.url} (Ctrl-C stops it)`,
      );
      if (!isLoopback(o.host))
        console.error(
          `warning: listening on ${o.host}: anyone who can reach this address can read the runs in ${dir}`,
        );
      await untilStopped();
      await dashboard.close();
    });
}

/** Resolves at the first Ctrl-C or SIGTERM (the dashboard then closes and the command exits 0). */
export function untilStopped(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}

/** The command that shows the runs of `dir` (what demo and train print at their end). */
export function dashboardCommand(dir: string): string {
  return `npx reasonrl dashboard ${/^[\w./-]+$/.test(dir) ? dir : `'${dir.replaceAll("'", "'\\''")}'`}`;
}
