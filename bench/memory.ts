/**
 * npm run bench:memory -- [--small 2000] [--large 20000] [--concurrency 8]
 *
 * The worker process's resident memory after `small` and after `large` no-op jobs. Goal: under
 * 200 MB, and no more than 10 % growth between the two.
 */
import { readFile } from "node:fs/promises";
import {
  createDatabase,
  databaseUrl,
  dropDatabase,
  flags,
  intFlag,
  printTable,
  writeResults,
} from "./lib/bench-util.js";
import { startFleetway } from "./lib/fleetway-processes.js";
import { atMost, printGoals } from "./lib/goals.js";
import { prepareNoopFleet, runNoopJobs } from "./lib/noop-jobs.js";

const f = flags();
const SMALL = intFlag(f, "small", 2000);
const LARGE = intFlag(f, "large", 20000);
const CONCURRENCY = intFlag(f, "concurrency", 8);
const MIGRATIONS = new URL("../migrations", import.meta.url).pathname;

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? "0");
  return kib / 1024;
}

const control = await createDatabase("bench_control");
const tenants = await createDatabase("bench_memory");
const fleetway = await startFleetway({
  controlDatabaseUrl: databaseUrl(control),
  migrationsDir: MIGRATIONS,
  concurrency: CONCURRENCY,
});
try {
  const pid = fleetway.worker.pid ?? 0;
  const fleet = await prepareNoopFleet(fleetway, databaseUrl(tenants), CONCURRENCY * 2);
  const start = await rssMiB(pid);
  await runNoopJobs(fleetway, fleet, SMALL, CONCURRENCY);
  const afterSmall = await rssMiB(pid);
  await runNoopJobs(fleetway, fleet, LARGE - SMALL, CONCURRENCY);
  const afterLarge = await rssMiB(pid);
  const rows = [
    { point: "after start and setup", "worker RSS MiB": start.toFixed(1), "vs small": "" },
    {
      point: `after ${SMALL} no-op jobs`,
      "worker RSS MiB": afterSmall.toFixed(1),
      "vs small": "1.00",
    },
    {
      point: `after ${LARGE} no-op jobs`,
      "worker RSS MiB": afterLarge.toFixed(1),
      "vs small": (afterLarge / afterSmall).toFixed(2),
    },
  ];
  printTable("worker resident memory", rows);
  const MB_PER_MIB = 2 ** 20 / 1e6;
  const goals = [
    atMost(
      `worker RSS under 200 MB after ${SMALL} and ${LARGE} jobs`,
      Math.max(afterSmall, afterLarge) * MB_PER_MIB,
      200,
      " MB",
    ),
    atMost(`growth from ${SMALL} to ${LARGE} jobs ≤ 10 %`, afterLarge / afterSmall, 1.1, "×"),
  ];
  printGoals(goals);
  const path = await writeResults("memory", {
    small: SMALL,
    large: LARGE,
    rssMiB: { start, afterSmall, afterLarge },
    rows,
    goals,
  });
  process.stdout.write(`\nresults: ${path}\n`);
} finally {
  await fleetway.stop();
  await dropDatabase(control);
  await dropDatabase(tenants);
}
