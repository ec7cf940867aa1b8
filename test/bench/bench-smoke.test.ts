/**
 * Keeps the benchmarks working: each one runs at a tiny size, as its own process (the way
 * `npm run bench:<name>` runs it), and must finish, print its table and write its JSON results.
 * Nothing here looks at a timing: benchmarks measure, they never assert (BENCHMARKS.md).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, rm } from "node:fs/promises";
import { describe, it } from "node:test";
import { promisify } from "node:util";

const run = promisify(execFile);
const ROOT = new URL("../../", import.meta.url).pathname;

async function bench(name: string, args: readonly string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run(process.execPath, ["--import", "tsx", `bench/${name}.ts`, ...args], {
    cwd: ROOT,
    timeout: 240_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  const path = /results: (\S+\.json)/.exec(stdout)?.[1];
  assert.ok(path, `bench:${name} printed where its results are:\n${stdout}`);
  try {
    return JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
  } finally {
    await rm(path, { force: true });
  }
}

describe("benchmarks (smoke runs at tiny sizes)", () => {
  it("bench:fleet runs the floor, the engine alone, Fleetway and both peer loops", async () => {
    const results = await bench("fleet", [
      ...["--tenants", "3", "--reps", "1", "--concurrency", "2"],
      ...["--warmup", "1", "--settle", "0", "--peer", "dbmate,node-pg-migrate"],
    ]);
    const times = results.timesMs as Record<string, number[]>;
    assert.deepEqual(Object.keys(times).sort(), [
      "dbmate",
      "engine",
      "fleetway",
      "floor",
      "node-pg-migrate",
    ]);
    for (const values of Object.values(times)) assert.equal(values.length, 1);
    assert.equal(results.warmup, 1);
    // PostgreSQL's CPU is attributed to the backends serving the tenants and the control database.
    const [parts] = results.fleetwayCpuMs as Record<string, number | null>[];
    assert.equal(typeof parts?.["pg control"], "number");
    assert.ok((parts?.["pg tenants"] ?? 0) > 0, JSON.stringify(parts));
    // Each goal of the issue is judged from the run: against the floor and each peer.
    const goals = results.goals as { goal: string; met: boolean | null }[];
    assert.deepEqual(
      goals.map((g) => g.goal),
      [
        "Fleetway ≤ 1.2× the floor",
        "Fleetway ≥ 5× faster than the dbmate loop",
        "Fleetway ≥ 5× faster than the node-pg-migrate loop",
      ],
    );
    assert.ok(
      goals.every((g) => typeof g.met === "boolean"),
      JSON.stringify(goals),
    );
  });

  it("bench:noop measures every job it ran", async () => {
    const results = await bench("noop", ["--jobs", "6", "--tenants", "2", "--concurrency", "2"]);
    assert.equal((results.latenciesMs as number[]).length, 6);
    assert.ok("worker" in (results.cpuMsPerJob as Record<string, unknown>));
    const goals = results.goals as { met: boolean | null }[];
    assert.equal(goals.length, 2);
    assert.ok(
      goals.every((g) => typeof g.met === "boolean"),
      JSON.stringify(goals),
    );
  });

  const tinyApiRun = ["--seconds", "1", "--connections", "2", "--tenants", "3", "--reps", "1"];

  it("bench:api measures the bare servers, a route without database, GET and POST", async () => {
    const results = await bench("api", tinyApiRun);
    const rows = results.rows as { endpoint: string; statuses: string }[];
    assert.equal(rows.length, 5);
    // The reads are answered, not refused: a 4xx would measure an error path instead.
    for (const row of rows.slice(0, 4)) {
      const statuses = JSON.parse(row.statuses) as Record<string, number>;
      assert.ok(
        (statuses["2xx"] ?? 0) > 0 && statuses["4xx"] === 0,
        `${row.endpoint}: ${row.statuses}`,
      );
    }
    const cpu = results.cpuRows as Record<string, string>[];
    assert.ok(cpu.every((row) => "api" in row && "postgres" in row && "autocannon" in row));
    const goals = results.goals as { met: boolean | null }[];
    assert.equal(goals.length, 2);
    assert.ok(
      goals.every((g) => typeof g.met === "boolean"),
      JSON.stringify(goals),
    );
  });

  it("bench:api --only runs the rows asked for", async () => {
    const results = await bench("api", [...tinyApiRun, "--only", "pg,get"]);
    const rows = results.rows as { endpoint: string; "vs bare": string }[];
    assert.deepEqual(
      rows.map((row) => row.endpoint),
      ["bare Fastify + pg, same SELECT", "GET /v1/jobs/{id}"],
    );
    // Without the bare server in the run there is nothing to compare with; the GET is compared
    // with the bare + pg row, and neither goal can be judged.
    assert.ok(rows.every((row) => row["vs bare"] === "n/a"));
    assert.notEqual((rows[1] as Record<string, string>)["vs bare + pg"], "n/a");
    const goals = results.goals as { met: boolean | null }[];
    assert.deepEqual(
      goals.map((g) => g.met),
      [null, null],
    );
  });

  it("bench:memory reads the worker's memory at both points", async () => {
    const results = await bench("memory", ["--small", "4", "--large", "8", "--concurrency", "2"]);
    assert.equal((results.rows as unknown[]).length, 3);
    const goals = results.goals as { met: boolean | null }[];
    assert.ok(
      goals.every((g) => typeof g.met === "boolean"),
      JSON.stringify(goals),
    );
  });
});
