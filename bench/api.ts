/**
 * npm run bench:api -- [--seconds 10] [--connections 50] [--tenants 200] [--reps 3]
 *                        [--only bare,pg,static,get,post]
 *
 * autocannon against Fleetway's API process, beside a bare Fastify hello-world in the same run
 * (each server in a process of its own, autocannon in this one), alternating, `reps` times:
 *   GET  /v1/jobs/{id}                requests/s as a share of the bare server's (goal ≥ 50 %)
 *   POST /v1/tenants/{id}/jobs        on no-op tenants, requests/s (goal ≥ 2,000)
 * and, to show what limits the GET, two more rows: a bare Fastify server that answers the same
 * SELECT from the same database and nothing else (what one database round trip costs an HTTP
 * server here), and an authenticated Fleetway route that reads no database
 * (GET /v1/migrations/{revision}, answered from memory): the API's own cost per request.
 * The POSTs rotate over many tenants already at head; a tenant whose previous job is still active
 * answers 409, which is counted separately (it is still a served request). Between runs the
 * worker drains every job the POSTs created. Besides requests/s it reports the CPU each part of
 * the machine spent per request, which is what decides the numbers when everything shares cores.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import autocannon from "autocannon";
import {
  ADMIN_URL,
  createDatabase,
  databaseUrl,
  dropDatabase,
  flags,
  intFlag,
  median,
  printTable,
  REDIS_URL,
  writeResults,
} from "./lib/bench-util.js";
import { CpuMeter, postgresPid, redisPid, type CpuParts } from "./lib/cpu-usage.js";
import { startFleetway } from "./lib/fleetway-processes.js";
import { atLeast, printGoals } from "./lib/goals.js";
import { prepareNoopFleet, waitIdle } from "./lib/noop-jobs.js";

const f = flags();
const SECONDS = intFlag(f, "seconds", 10);
const CONNECTIONS = intFlag(f, "connections", 50);
const TENANTS = intFlag(f, "tenants", 200);
const REPS = intFlag(f, "reps", 3);
/** Run only these rows (comma-separated keys), e.g. `--only get` under a profiler. */
const ONLY = f
  .get("only")
  ?.split(",")
  .map((key) => key.trim());
const MIGRATIONS = new URL("../migrations", import.meta.url).pathname;

interface Measured {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly statuses: Record<string, number>;
  /** CPU milliseconds per request, by part of the machine. */
  readonly cpuPerRequest: Record<string, number | null>;
}

async function measure(meter: CpuMeter, options: autocannon.Options): Promise<Measured> {
  const before = meter.snapshot();
  const clientBefore = process.cpuUsage();
  const result = await autocannon({ duration: SECONDS, connections: CONNECTIONS, ...options });
  const cpu: CpuParts = meter.delta(before);
  const client = process.cpuUsage(clientBefore);
  const served = result["2xx"] + result["4xx"] + result["5xx"];
  const cpuPerRequest: Record<string, number | null> = {};
  const parts: CpuParts = { ...cpu, autocannon: (client.user + client.system) / 1000 };
  for (const [part, ms] of Object.entries(parts)) {
    cpuPerRequest[part] = ms === null || served === 0 ? null : ms / served;
  }
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    statuses: {
      "2xx": result["2xx"],
      "4xx": result["4xx"],
      "5xx": result["5xx"],
      errors: result.errors,
    },
    cpuPerRequest,
  };
}

/** The run with the median requests/s. */
function medianRun(runs: readonly Measured[]): Measured {
  const target = median(runs.map((r) => r.rps));
  return runs.reduce((best, r) =>
    Math.abs(r.rps - target) < Math.abs(best.rps - target) ? r : best,
  );
}

/** A server of bench/lib in a process of its own; resolves once it printed its URL. */
async function startServer(
  file: string,
  env: Record<string, string> = {},
): Promise<{ process: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", new URL(`./lib/${file}`, import.meta.url).pathname],
    { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, ...env } },
  );
  const [firstLine] = (await once(child.stdout as NodeJS.ReadableStream, "data")) as [Buffer];
  return { process: child, url: firstLine.toString().trim() };
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  await exited;
}

const bare = await startServer("hello-server.ts");
const control = await createDatabase("bench_control");
const tenants = await createDatabase("bench_api");
const fleetway = await startFleetway({
  controlDatabaseUrl: databaseUrl(control),
  migrationsDir: MIGRATIONS,
  concurrency: 8,
});
// Started once Fleetway created the control database's tables, which it reads.
const pgRead = await startServer("pg-read-server.ts", {
  CONTROL_DATABASE_URL: databaseUrl(control),
});
try {
  const fleet = await prepareNoopFleet(fleetway, databaseUrl(tenants), TENANTS);
  const jobs = await fleetway.request<{ items: { id: string }[] }>("GET", "/v1/jobs?limit=1");
  const jobId = jobs.body.items[0]?.id ?? "";
  const migrations = await fleetway.request<{ heads: string[] }>("GET", "/v1/migrations");
  const head = migrations.body.heads[0] ?? "";
  const auth = { authorization: `Bearer ${fleetway.apiKey}` };
  const meter = new CpuMeter({
    "bare server": bare.process.pid,
    "bare + pg": pgRead.process.pid,
    api: fleetway.api.pid,
    worker: fleetway.worker.pid,
    postgres: await postgresPid(ADMIN_URL),
    redis: await redisPid(REDIS_URL),
  });

  let next = 0;
  const all: { key: string; name: string; run: () => Promise<Measured>; runs: Measured[] }[] = [
    {
      key: "bare",
      name: "bare Fastify GET /hello",
      run: () => measure(meter, { url: `${bare.url}/hello` }),
      runs: [],
    },
    {
      key: "pg",
      name: "bare Fastify + pg, same SELECT",
      run: () => measure(meter, { url: `${pgRead.url}/jobs/${jobId}` }),
      runs: [],
    },
    {
      key: "static",
      name: "GET /v1/migrations/{rev} (no database)",
      run: () => measure(meter, { url: `${fleetway.url}/v1/migrations/${head}`, headers: auth }),
      runs: [],
    },
    {
      key: "get",
      name: "GET /v1/jobs/{id}",
      run: () => measure(meter, { url: `${fleetway.url}/v1/jobs/${jobId}`, headers: auth }),
      runs: [],
    },
    {
      key: "post",
      name: "POST /v1/tenants/{id}/jobs",
      run: async () => {
        const measured = await measure(meter, {
          url: fleetway.url,
          requests: [
            {
              method: "POST",
              setupRequest: (request) => {
                const tenant = fleet.tenantIds[next++ % fleet.tenantIds.length] ?? "";
                return {
                  ...request,
                  path: `/v1/tenants/${tenant}/jobs`,
                  headers: { ...auth, "content-type": "application/json" },
                  body: JSON.stringify({ operation: "upgrade", target: "head" }),
                };
              },
            },
          ],
        });
        await waitIdle(fleetway);
        return measured;
      },
      runs: [],
    },
  ];
  const unknown = ONLY?.filter((key) => !all.some((c) => c.key === key)) ?? [];
  if (unknown.length > 0) throw new Error(`--only: unknown ${unknown.join(", ")}`);
  const contenders = all.filter((c) => ONLY === undefined || ONLY.includes(c.key));
  for (let rep = 0; rep < REPS; rep++) {
    // Alternate the order so that no contender always runs first (or right after the POSTs).
    const order = rep % 2 === 0 ? contenders : [...contenders].reverse();
    for (const contender of order) contender.runs.push(await contender.run());
  }
  /** The median requests/s of a row; NaN when --only left it out. */
  const medianRps = (key: string): number => {
    const runs = all.find((c) => c.key === key)?.runs ?? [];
    return runs.length === 0 ? Number.NaN : median(runs.map((r) => r.rps));
  };
  const share = (rps: number, of: number): string =>
    Number.isNaN(of) ? "n/a" : (rps / of).toFixed(2);
  const bareRps = medianRps("bare");
  const barePgRps = medianRps("pg");
  const rows = contenders.map(({ name, runs }) => {
    const m = medianRun(runs);
    const rps = median(runs.map((r) => r.rps));
    return {
      endpoint: name,
      "req/s": rps.toFixed(0),
      "p50 ms": m.p50,
      "p99 ms": m.p99,
      "vs bare": share(rps, bareRps),
      // The floor of any route that reads the database once (BENCHMARKS.md, "API throughput").
      "vs bare + pg": share(rps, barePgRps),
      statuses: JSON.stringify(m.statuses),
    };
  });
  printTable(
    `API throughput (${CONNECTIONS} connections, ${SECONDS} s each, median of ${REPS})`,
    rows,
  );
  const cpuRows = contenders.map(({ name, runs }) => ({
    endpoint: name,
    ...Object.fromEntries(
      Object.entries(medianRun(runs).cpuPerRequest).map(([part, ms]) => [
        part,
        ms === null ? "n/a" : (ms * 1000).toFixed(0),
      ]),
    ),
  }));
  printTable("CPU µs per served request (Linux /proc; total excludes autocannon)", cpuRows);
  const goals = [
    atLeast(
      "GET /v1/jobs/{id} ≥ 50 % of the bare server",
      (medianRps("get") / bareRps) * 100,
      50,
      " %",
    ),
    atLeast("POST /v1/tenants/{id}/jobs ≥ 2,000 req/s", medianRps("post"), 2000, " req/s"),
  ];
  printGoals(goals);
  const path = await writeResults("api", {
    seconds: SECONDS,
    connections: CONNECTIONS,
    reps: REPS,
    rows,
    cpuRows,
    goals,
    runs: Object.fromEntries(contenders.map((c) => [c.name, c.runs])),
  });
  process.stdout.write(`\nresults: ${path}\n`);
} finally {
  await fleetway.stop();
  await stopServer(bare.process);
  // Gone before its database is dropped under it.
  await stopServer(pgRead.process);
  await dropDatabase(control);
  await dropDatabase(tenants);
}
