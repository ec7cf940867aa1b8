/**
 * npm run bench:api -- [--seconds 10] [--connections 50] [--tenants 200]
 *
 * autocannon against Fleetway's API process, beside a bare Fastify hello-world in the same run:
 *   GET  /v1/jobs/{id}                requests/s as a share of the bare server's (goal ≥ 50 %)
 *   POST /v1/tenants/{id}/jobs        on no-op tenants, requests/s (goal ≥ 2,000)
 * The POSTs rotate over many tenants already at head; a tenant whose previous job is still active
 * answers 409, which is counted separately (it is still a served request).
 */
import autocannon from "autocannon";
import Fastify from "fastify";
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
import { prepareNoopFleet } from "./lib/noop-jobs.js";

const f = flags();
const SECONDS = intFlag(f, "seconds", 10);
const CONNECTIONS = intFlag(f, "connections", 50);
const TENANTS = intFlag(f, "tenants", 200);
const MIGRATIONS = new URL("../migrations", import.meta.url).pathname;

interface Measured {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly statuses: Record<string, number>;
}

async function measure(options: autocannon.Options): Promise<Measured> {
  const result = await autocannon({ duration: SECONDS, connections: CONNECTIONS, ...options });
  const statuses: Record<string, number> = {
    "2xx": result["2xx"],
    "4xx": result["4xx"],
    "5xx": result["5xx"],
    errors: result.errors,
  };
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    statuses,
  };
}

const bare = Fastify();
bare.get("/hello", (_request, reply) => {
  void reply.send({ hello: "world" });
});
const bareUrl = await bare.listen({ port: 0, host: "127.0.0.1" });

const control = await createDatabase("bench_control");
const tenants = await createDatabase("bench_api");
const fleetway = await startFleetway({
  controlDatabaseUrl: databaseUrl(control),
  migrationsDir: MIGRATIONS,
  concurrency: 8,
});
try {
  const fleet = await prepareNoopFleet(fleetway, databaseUrl(tenants), TENANTS);
  const jobs = await fleetway.request<{ items: { id: string }[] }>("GET", "/v1/jobs?limit=1");
  const jobId = jobs.body.items[0]?.id ?? "";
  const auth = { authorization: `Bearer ${fleetway.apiKey}` };

  const helloWorld = await measure({ url: `${bareUrl}/hello` });
  const getJob = await measure({ url: `${fleetway.url}/v1/jobs/${jobId}`, headers: auth });
  let next = 0;
  const postJobs = await measure({
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
  const rows = [
    {
      endpoint: "bare Fastify GET /hello",
      "req/s": helloWorld.rps.toFixed(0),
      "p50 ms": helloWorld.p50,
      "p99 ms": helloWorld.p99,
      "vs bare": "1.00",
      statuses: JSON.stringify(helloWorld.statuses),
    },
    {
      endpoint: "GET /v1/jobs/{id}",
      "req/s": getJob.rps.toFixed(0),
      "p50 ms": getJob.p50,
      "p99 ms": getJob.p99,
      "vs bare": (getJob.rps / helloWorld.rps).toFixed(2),
      statuses: JSON.stringify(getJob.statuses),
    },
    {
      endpoint: "POST /v1/tenants/{id}/jobs",
      "req/s": postJobs.rps.toFixed(0),
      "p50 ms": postJobs.p50,
      "p99 ms": postJobs.p99,
      "vs bare": (postJobs.rps / helloWorld.rps).toFixed(2),
      statuses: JSON.stringify(postJobs.statuses),
    },
  ];
  printTable(`API throughput (${CONNECTIONS} connections, ${SECONDS} s each)`, rows);
  const path = await writeResults("api", { seconds: SECONDS, connections: CONNECTIONS, rows });
  process.stdout.write(`\nresults: ${path}\n`);
} finally {
  await fleetway.stop();
  await bare.close();
  await dropDatabase(control);
  await dropDatabase(tenants);
}
