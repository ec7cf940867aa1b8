/**
 * npm run bench:fleet -- [--tenants 200] [--concurrency 8] [--reps 3] [--mode schema|database]
 *                          [--peer dbmate|node-pg-migrate|dbmate,node-pg-migrate|none]
 *                          [--warmup 16] [--settle 6] [--only floor,engine,fleetway,dbmate,node-pg-migrate]
 *
 * N tenants from base to head with the example migration set, C at a time, every contender
 * in the same run, alternating, several repetitions:
 *   fleetway  one POST /v1/rollouts (maxParallel C) until every job succeeded; API and worker
 *             are separate processes (the built bin); timed by the rollout's own timestamps
 *   floor     a minimal pg script: the same SQL, a transaction per revision, no bookkeeping
 *   engine    Fleetway's engine alone, in this process (migrate() per tenant, C at a time, tenant
 *             connections pooled as the worker pools them): the floor plus the engine's
 *             bookkeeping (lock, version and history tables), without the service around it
 *   dbmate    a peer: a per-tenant loop of the dbmate CLI over the same SQL, C at a time
 *   node-pg-migrate  a peer (only with --peer or --only): the same loop with the node-pg-migrate CLI
 * Each contender first migrates `warmup` other tenants, untimed: a service that has been running
 * has its code compiled by V8's optimising tiers, and a benchmark of fresh processes would
 * otherwise charge Fleetway for start-up work (measured: about a quarter of the worker's CPU in
 * a 200-tenant run went to JIT compilation and its background threads).
 * Reports medians and ratios to the floor. Never asserts anything.
 */
import { execFile } from "node:child_process";
import { rm } from "node:fs/promises";
import pg from "pg";
import { loadMigrations } from "../src/engine/load-migrations.js";
import { migrate } from "../src/engine/migrate.js";
import { createPooledConnections } from "../src/engine/runner/tenant-connections.js";
import { splitSqlStatements } from "../src/engine/script/split-sql-statements.js";
import {
  ADMIN_URL,
  adminQuery,
  createDatabase,
  databaseUrl,
  dropDatabase,
  flags,
  intFlag,
  median,
  pooled,
  printTable,
  seconds,
  writeResults,
} from "./lib/bench-util.js";
import { exampleSqlSteps, type SqlStep } from "./lib/example-sql.js";
import {
  fleetwayMeter,
  measured,
  postgresCpuSplit,
  postgresPid,
  type CpuParts,
} from "./lib/cpu-usage.js";
import { atLeast, atMost, printGoals } from "./lib/goals.js";
import { startFleetway, type FleetwayProcesses } from "./lib/fleetway-processes.js";
import { createPeer, PEERS, type Peer } from "./lib/peer-loops.js";

const f = flags();
const TENANTS = intFlag(f, "tenants", 200);
const CONCURRENCY = intFlag(f, "concurrency", 8);
const REPS = intFlag(f, "reps", 3);
const WARMUP = intFlag(f, "warmup", 2 * CONCURRENCY);
/** Seconds of quiet before each contender (see settle). */
const SETTLE_SECONDS = intFlag(f, "settle", 6);
const MODE = f.get("mode") === "database" ? "database" : "schema";
/** The peer loops to run (bench/lib/peer-loops.ts); dbmate unless said otherwise. */
const PEER_NAMES = (f.get("peer") ?? "dbmate")
  .split(",")
  .map((name) => name.trim())
  .filter((name) => name !== "none");
/** Run only these contenders (comma-separated), e.g. Fleetway alone at a size the others need not repeat. */
const ONLY = f
  .get("only")
  ?.split(",")
  .map((name) => name.trim());
const MIGRATIONS = new URL("../migrations", import.meta.url).pathname;

interface Tenant {
  readonly id: string;
  readonly url: string;
  readonly schema: string;
}

/** Where each tenant lives for one contender's run: fresh, empty. */
interface Fleet {
  /** The tenants whose migration is timed. */
  readonly tenants: Tenant[];
  /** Migrated first, untimed. */
  readonly warmup: Tenant[];
  drop(): Promise<void>;
}

const ids = (prefix: string, count: number): string[] =>
  Array.from({ length: count }, (_v, i) => `${prefix}${String(i).padStart(5, "0")}`);
/** t00000… for the timed tenants, w00000… for the warm-up ones. */
const TIMED_IDS = ids("t", TENANTS);
const WARMUP_IDS = ids("w", WARMUP);

async function createFleet(label: string): Promise<Fleet> {
  if (MODE === "schema") {
    const name = await createRunDatabase(`bench_${label}`);
    // Schemas exist beforehand for every contender (dbmate does not create them).
    await adminQuery(
      [...TIMED_IDS, ...WARMUP_IDS].map((id) => `CREATE SCHEMA ${id};`).join("\n"),
      name,
    );
    const url = databaseUrl(name);
    const tenantOf = (id: string): Tenant => ({ id, url, schema: id });
    return {
      tenants: TIMED_IDS.map(tenantOf),
      warmup: WARMUP_IDS.map(tenantOf),
      drop: () => dropDatabase(name),
    };
  }
  const databaseOf = new Map<string, string>();
  await pooled([...TIMED_IDS, ...WARMUP_IDS], 4, async (id) => {
    databaseOf.set(id, await createRunDatabase(`bench_${label}`));
  });
  const tenantOf = (id: string): Tenant => ({
    id,
    url: databaseUrl(databaseOf.get(id) ?? ""),
    schema: "public",
  });
  return {
    tenants: TIMED_IDS.map(tenantOf),
    warmup: WARMUP_IDS.map(tenantOf),
    drop: async () => {
      await pooled([...databaseOf.values()], 4, dropDatabase);
    },
  };
}

/** Wall time and the machine's CPU time of one contender's run. */
interface RunCost {
  readonly ms: number;
  readonly cpuMs: number;
  readonly postgresCpuMs: number;
}

/**
 * Databases are dropped only when every run is over. Dropping one deletes thousands of files, and
 * on ext4 without a journal (this kind of VM) creating a file skips the inodes deleted in the
 * last seconds to minutes, one by one: a run that starts right after a drop pays for it in every
 * CREATE TABLE, and pays more the more relations it creates, which skewed the ratios.
 */
const dropAtEnd: (() => Promise<void>)[] = [];

/**
 * Databases used since the last settle. A run creates thousands of catalog rows (and Fleetway's
 * control database its job rows); kept until the end, they would be vacuumed by autovacuum while
 * a later contender runs, on its clock. Settling vacuums them first.
 */
const toVacuum: string[] = [];

async function createRunDatabase(prefix: string): Promise<string> {
  const name = await createDatabase(prefix);
  toVacuum.push(name);
  return name;
}

/**
 * Lets the machine settle before a contender runs, so that none inherits another's backlog:
 * the databases of earlier runs are vacuumed (see toVacuum), PostgreSQL writes its dirty buffers
 * (CHECKPOINT), the kernel writes dirty inode tables (sync), and the few seconds for which ext4
 * without a journal avoids reusing a clean deleted inode pass.
 */
async function settle(): Promise<void> {
  await pooled(toVacuum.splice(0), 2, (name) => adminQuery("VACUUM (ANALYZE)", name));
  await adminQuery("CHECKPOINT");
  await new Promise<void>((resolve) => {
    execFile("sync", () => {
      resolve();
    });
  });
  await new Promise((r) => setTimeout(r, SETTLE_SECONDS * 1000));
}

/** Migrates the warm-up tenants untimed, then the fleet's tenants, measured. */
async function warmThenMeasure(
  fleet: Fleet,
  run: (tenants: readonly Tenant[]) => Promise<void>,
): Promise<RunCost> {
  await run(fleet.warmup);
  return measured(() => run(fleet.tenants), POSTGRES_PID);
}

/** The postmaster, whose CPU (with its backends') every contender's run reports. */
const POSTGRES_PID = await postgresPid(ADMIN_URL);

async function runFloor(fleet: Fleet, steps: readonly SqlStep[]): Promise<RunCost> {
  // With a schema per tenant the floor keeps its C connections from tenant to tenant, as
  // Fleetway's worker does: a new backend per tenant costs PostgreSQL more CPU than some
  // migrations (its catalog caches start cold). With a database per tenant, every contender
  // must open a connection per tenant.
  const shared =
    MODE === "schema"
      ? new pg.Pool({ connectionString: fleet.tenants[0]?.url, max: CONCURRENCY })
      : null;
  shared?.on("error", () => undefined);
  const migrateTenant = async (client: pg.ClientBase, tenant: Tenant): Promise<void> => {
    await client.query(`SET search_path TO "${tenant.schema}", public`);
    for (const step of steps) {
      if (step.transactional) await client.query(`BEGIN;\n${step.up}\nCOMMIT;`);
      else for (const statement of splitSqlStatements(step.up)) await client.query(statement.sql);
    }
  };
  try {
    return await warmThenMeasure(fleet, (tenants) =>
      pooled(tenants, CONCURRENCY, async (tenant) => {
        if (shared !== null) {
          const client = await shared.connect();
          try {
            await migrateTenant(client, tenant);
          } finally {
            client.release();
          }
          return;
        }
        const client = new pg.Client({ connectionString: tenant.url });
        client.on("error", () => undefined);
        await client.connect();
        try {
          await migrateTenant(client, tenant);
        } finally {
          await client.end();
        }
      }),
    );
  } finally {
    await shared?.end();
  }
}

async function runEngine(fleet: Fleet): Promise<RunCost> {
  const migrations = await loadMigrations(MIGRATIONS);
  // The worker's settings for its tenant connections (src/jobs/migration-worker.ts).
  const connections = createPooledConnections({
    maxPerDatabase: CONCURRENCY,
    idleMs: 30_000,
    maxDatabases: CONCURRENCY * 2,
    maxOpen: CONCURRENCY * 2,
    applicationName: "fleetway-bench-engine",
  });
  try {
    return await warmThenMeasure(fleet, (tenants) =>
      pooled(tenants, CONCURRENCY, async (tenant) => {
        await migrate({
          migrations,
          operation: "upgrade",
          target: "head",
          connectionString: tenant.url,
          schema: tenant.schema,
          connections,
          appliedBy: "bench",
        });
      }),
    );
  } finally {
    await connections.close();
  }
}

/** A per-tenant loop of a peer's CLI, C tenants at a time. */
function runPeer(fleet: Fleet, peer: Peer): Promise<RunCost> {
  return warmThenMeasure(fleet, (tenants) => pooled(tenants, CONCURRENCY, (t) => peer.migrate(t)));
}

async function runFleetway(fleet: Fleet): Promise<RunCost> {
  const control = await createRunDatabase("bench_control");
  const fleetway = await startFleetway({
    controlDatabaseUrl: databaseUrl(control),
    migrationsDir: MIGRATIONS,
    concurrency: CONCURRENCY,
  });
  try {
    const tagged = [
      ...fleet.tenants.map((tenant) => ({ tenant, tag: "bench" })),
      ...fleet.warmup.map((tenant) => ({ tenant, tag: "warmup" })),
    ];
    await pooled(tagged, 16, async ({ tenant, tag }) => {
      const response = await fleetway.request("POST", "/v1/tenants", {
        id: tenant.id,
        name: tenant.id,
        databaseUrl: tenant.url,
        schema: tenant.schema,
        tags: [tag],
      });
      if (response.status !== 201) throw new Error(`register ${tenant.id}: ${response.status}`);
    });
    if (fleet.warmup.length > 0) await rollout(fleetway, "warmup");
    const meter = await fleetwayMeter(fleetway);
    const partsBefore = meter.snapshot();
    // PostgreSQL's share split by what it served: the tenants' SQL or Fleetway's control database.
    const split = postgresCpuSplit(POSTGRES_PID, (database) =>
      database === control
        ? "pg control"
        : database.startsWith("bench_fleetway")
          ? "pg tenants"
          : "pg other",
    );
    let rolloutMs = 0;
    const cost = await measured(async () => {
      rolloutMs = await rollout(fleetway, "bench");
    }, POSTGRES_PID);
    const parts = meter.delta(partsBefore);
    const pgParts = split?.after() ?? {};
    fleetwayCpu.push({
      ...parts,
      "pg tenants": pgParts["pg tenants"] ?? null,
      "pg control": pgParts["pg control"] ?? null,
      "pg other": (pgParts["pg other"] ?? 0) + (pgParts.other ?? 0),
    });
    // CPU is read over the whole wait; the time is the rollout's own, to the millisecond.
    return { ...cost, ms: rolloutMs };
  } finally {
    await fleetway.stop();
    dropAtEnd.push(() => dropDatabase(control));
  }
}

/** CPU ms per part of Fleetway for each of its runs. */
const fleetwayCpu: CpuParts[] = [];

/**
 * One rollout of every tenant, polled gently (a tight poll would add its own load to what is
 * measured). Returns its duration from the rollout's own timestamps (created by the POST,
 * finished by the last job's outcome), so the poll interval does not count.
 */
async function rollout(fleetway: FleetwayProcesses, tag: string): Promise<number> {
  const created = await fleetway.request<{ id: string }>("POST", "/v1/rollouts", {
    target: "head",
    tenants: { tags: [tag] },
    maxParallel: CONCURRENCY,
  });
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    const { body } = await fleetway.request<{
      state: string;
      counts: Record<string, number>;
      createdAt: string;
      finishedAt: string | null;
    }>("GET", `/v1/rollouts/${created.body.id}`);
    if (body.state !== "running") {
      if (body.state !== "succeeded" || body.finishedAt === null)
        throw new Error(`rollout ended ${body.state}: ${JSON.stringify(body.counts)}`);
      return Date.parse(body.finishedAt) - Date.parse(body.createdAt);
    }
  }
}

async function main(): Promise<void> {
  const steps = await exampleSqlSteps();
  const unknownPeers = PEER_NAMES.filter((name) => !(PEERS as readonly string[]).includes(name));
  if (unknownPeers.length > 0) throw new Error(`--peer: no peer ${unknownPeers.join(", ")}`);
  const peers: Peer[] = [];
  const all: Record<string, (fleet: Fleet) => Promise<RunCost>> = {
    floor: (fleet) => runFloor(fleet, steps),
    engine: runEngine,
    fleetway: runFleetway,
  };
  for (const name of PEERS) {
    if (!PEER_NAMES.includes(name) && ONLY?.includes(name) !== true) continue;
    const peer = await createPeer(name, steps);
    peers.push(peer);
    all[name] = (fleet) => runPeer(fleet, peer);
  }
  const unknown = ONLY?.filter((name) => !(name in all)) ?? [];
  if (unknown.length > 0) throw new Error(`--only: no contender ${unknown.join(", ")}`);
  const contenders = Object.fromEntries(
    Object.entries(all).filter(([name]) => ONLY === undefined || ONLY.includes(name)),
  );
  const times: Record<string, number[]> = Object.fromEntries(
    Object.keys(contenders).map((k) => [k, []]),
  );
  const cpu: Record<string, number[]> = Object.fromEntries(
    Object.keys(contenders).map((k) => [k, []]),
  );
  const postgresCpu: Record<string, number[]> = Object.fromEntries(
    Object.keys(contenders).map((k) => [k, []]),
  );
  process.stdout.write(
    `fleet: ${TENANTS} tenants (${MODE} per tenant), ${steps.length} revisions, concurrency ${CONCURRENCY}, ${REPS} repetitions, ${WARMUP} warm-up tenants first\n`,
  );
  try {
    for (let rep = 0; rep < REPS; rep++) {
      // Alternate the order so no contender always runs on a warmer (or more fragmented) server.
      const order = Object.keys(contenders);
      if (rep % 2 === 1) order.reverse();
      for (const name of order) {
        const fleet = await createFleet(name);
        dropAtEnd.push(() => fleet.drop());
        await settle();
        const cost = await (contenders[name] as (fleet: Fleet) => Promise<RunCost>)(fleet);
        times[name]?.push(cost.ms);
        cpu[name]?.push(cost.cpuMs);
        postgresCpu[name]?.push(cost.postgresCpuMs);
        process.stdout.write(
          `  rep ${rep + 1} ${name.padEnd(9)} ${seconds(cost.ms)} s, machine CPU ${seconds(cost.cpuMs)} s\n`,
        );
      }
    }
  } finally {
    for (const peer of peers) await rm(peer.dir, { recursive: true, force: true });
    for (const drop of dropAtEnd) await drop();
  }
  // A contender left out of this run (--only) has no median: NaN, nothing to divide by.
  const medianOf = (values: readonly number[] | undefined): number =>
    values === undefined ? Number.NaN : median(values);
  const floor = medianOf(times.floor);
  const floorCpu = medianOf(cpu.floor);
  const engine = medianOf(times.engine);
  const fleetway = medianOf(times.fleetway);
  const ratio = (value: number, of: number): string =>
    Number.isNaN(of) ? "-" : (value / of).toFixed(2);
  const rows = Object.entries(times).map(([name, values]) => ({
    contender: name,
    "median s": seconds(median(values)),
    "per tenant ms": (median(values) / TENANTS).toFixed(1),
    "× floor": ratio(median(values), floor),
    // Fleetway ÷ engine is what the service adds to the engine's bookkeeping (BENCHMARKS.md).
    "× engine": ratio(median(values), engine),
    "CPU s": seconds(median(cpu[name] ?? [])),
    "CPU × floor": ratio(median(cpu[name] ?? []), floorCpu),
    "PostgreSQL CPU s": seconds(median(postgresCpu[name] ?? [])),
  }));
  printTable("fleet rollout, base → head (CPU: the whole machine's, busy time)", rows);
  const parts = Object.fromEntries(
    Object.keys(fleetwayCpu[0] ?? {}).map((part) => [
      part,
      (median(fleetwayCpu.map((p) => p[part] ?? 0)) / TENANTS).toFixed(1),
    ]),
  );
  printTable("Fleetway CPU ms per tenant, by process (median of its runs)", [parts]);
  const goals = [
    atMost("Fleetway ≤ 1.2× the floor", fleetway / floor, 1.2, "×"),
    ...PEERS.filter((name) => name in times).map((name) =>
      atLeast(
        `Fleetway ≥ 5× faster than the ${name} loop`,
        medianOf(times[name]) / fleetway,
        5,
        "×",
      ),
    ),
  ];
  printGoals(goals);
  const path = await writeResults("fleet", {
    tenants: TENANTS,
    concurrency: CONCURRENCY,
    mode: MODE,
    reps: REPS,
    warmup: WARMUP,
    revisions: steps.length,
    timesMs: times,
    machineCpuMs: cpu,
    postgresCpuMs: postgresCpu,
    fleetwayCpuMs: fleetwayCpu,
    rows,
    goals,
  });
  process.stdout.write(`\nresults: ${path}\n`);
}

await main();
