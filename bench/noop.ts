/**
 * npm run bench:noop -- [--jobs 500] [--tenants 50] [--concurrency 8]
 *
 * Jobs for tenants already at head, C in flight: p50 and p99 from POST to the job's end (from the
 * job's own timestamps, so client polling does not count). Goal: p50 ≤ 15 ms, p99 ≤ 50 ms.
 */
import {
  createDatabase,
  databaseUrl,
  dropDatabase,
  flags,
  intFlag,
  median,
  percentile,
  printTable,
  writeResults,
} from "./lib/bench-util.js";
import { startFleetway } from "./lib/fleetway-processes.js";
import { jobLatenciesMs, prepareNoopFleet, runNoopJobs } from "./lib/noop-jobs.js";

const f = flags();
const JOBS = intFlag(f, "jobs", 500);
const TENANTS = intFlag(f, "tenants", 50);
const CONCURRENCY = intFlag(f, "concurrency", 8);
const MIGRATIONS = new URL("../migrations", import.meta.url).pathname;

const control = await createDatabase("bench_control");
const tenants = await createDatabase("bench_noop");
const fleetway = await startFleetway({
  controlDatabaseUrl: databaseUrl(control),
  migrationsDir: MIGRATIONS,
  concurrency: CONCURRENCY,
});
try {
  const fleet = await prepareNoopFleet(fleetway, databaseUrl(tenants), TENANTS);
  await runNoopJobs(fleetway, fleet, Math.min(50, JOBS), CONCURRENCY); // warm-up
  const started = performance.now();
  const ids = await runNoopJobs(fleetway, fleet, JOBS, CONCURRENCY);
  const elapsed = performance.now() - started;
  const latencies = await jobLatenciesMs(databaseUrl(control), ids);
  const rows = [
    {
      jobs: ids.length,
      "in flight": CONCURRENCY,
      "p50 ms": median(latencies).toFixed(1),
      "p99 ms": percentile(latencies, 99).toFixed(1),
      "max ms": Math.max(...latencies).toFixed(1),
      "jobs/s": ((ids.length / elapsed) * 1000).toFixed(0),
    },
  ];
  printTable("no-op jobs, POST → succeeded", rows);
  const path = await writeResults("noop", {
    jobs: ids.length,
    tenants: TENANTS,
    concurrency: CONCURRENCY,
    latenciesMs: latencies,
    rows,
  });
  process.stdout.write(`\nresults: ${path}\n`);
} finally {
  await fleetway.stop();
  await dropDatabase(control);
  await dropDatabase(tenants);
}
