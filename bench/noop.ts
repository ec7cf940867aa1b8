/**
 * npm run bench:noop -- [--jobs 500] [--tenants 50] [--concurrency 8]
 *
 * Jobs for tenants already at head, C in flight: p50 and p99 from POST to the job's end (from the
 * job's own timestamps, so the client's waiting does not count; it waits with
 * `GET /v1/jobs/{id}?wait=`, as deploy tooling would). Goal: p50 ≤ 15 ms, p99 ≤ 50 ms.
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
import { fleetwayMeter } from "./lib/cpu-usage.js";
import { atMost, printGoals } from "./lib/goals.js";
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
  const meter = await fleetwayMeter(fleetway);
  const cpuBefore = meter.snapshot();
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  const ids = await runNoopJobs(fleetway, fleet, JOBS, CONCURRENCY);
  const elapsed = performance.now() - started;
  const cpu = meter.delta(cpuBefore);
  const client = process.cpuUsage(clientBefore);
  const parts: Record<string, number | null> = {
    ...cpu,
    "bench client": (client.user + client.system) / 1000,
  };
  const cpuPerJob = Object.fromEntries(
    Object.entries(parts).map(([part, ms]) => [
      part,
      ms === null ? "n/a" : (ms / ids.length).toFixed(2),
    ]),
  );
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
  printTable("CPU ms per job (Linux /proc; total excludes the bench client)", [cpuPerJob]);
  const goals = [
    atMost(`p50 ≤ 15 ms (${CONCURRENCY} in flight)`, median(latencies), 15, " ms"),
    atMost(`p99 ≤ 50 ms (${CONCURRENCY} in flight)`, percentile(latencies, 99), 50, " ms"),
  ];
  printGoals(goals);
  const path = await writeResults("noop", {
    jobs: ids.length,
    tenants: TENANTS,
    concurrency: CONCURRENCY,
    latenciesMs: latencies,
    rows,
    cpuMsPerJob: cpuPerJob,
    goals,
  });
  process.stdout.write(`\nresults: ${path}\n`);
} finally {
  await fleetway.stop();
  await dropDatabase(control);
  await dropDatabase(tenants);
}
