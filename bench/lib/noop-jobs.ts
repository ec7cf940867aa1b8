/**
 * No-op jobs: tenants already at head, each asked for head again. What remains is Fleetway's own
 * cost per job (API, queue, worker, lock, version-table read, bookkeeping).
 */
import pg from "pg";
import { pooled } from "./bench-util.js";
import type { FleetwayProcesses } from "./fleetway-processes.js";

export interface NoopFleet {
  readonly tenantIds: readonly string[];
}

/** Registers `count` tenants (schemas of `tenantDatabaseUrl`) and brings them to head. */
export async function prepareNoopFleet(
  fleetway: FleetwayProcesses,
  tenantDatabaseUrl: string,
  count: number,
): Promise<NoopFleet> {
  const tenantIds = Array.from({ length: count }, (_v, i) => `n${String(i).padStart(5, "0")}`);
  await pooled(tenantIds, 8, async (id) => {
    const response = await fleetway.request("POST", "/v1/tenants", {
      id,
      name: id,
      databaseUrl: tenantDatabaseUrl,
      schema: id,
      migrateTo: "head",
    });
    if (response.status !== 201) throw new Error(`register ${id}: ${response.status}`);
  });
  await waitIdle(fleetway);
  return { tenantIds };
}

/** Runs `jobs` no-op jobs, one per tenant at a time (a tenant has at most one active job). */
export async function runNoopJobs(
  fleetway: FleetwayProcesses,
  fleet: NoopFleet,
  jobs: number,
  concurrency: number,
): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  await pooled(fleet.tenantIds.slice(0, concurrency), concurrency, async (tenantId) => {
    while (next < jobs) {
      next++;
      const response = await fleetway.request<{ id: string }>(
        "POST",
        `/v1/tenants/${tenantId}/jobs`,
        { operation: "upgrade", target: "head" },
      );
      if (response.status !== 202) throw new Error(`job for ${tenantId}: ${response.status}`);
      ids.push(response.body.id);
      await waitJob(fleetway, response.body.id);
    }
  });
  return ids;
}

/** Waits for the job's end as deploy tooling would: a request the API holds until then. */
async function waitJob(fleetway: FleetwayProcesses, id: string): Promise<void> {
  for (;;) {
    const { body } = await fleetway.request<{ state: string }>("GET", `/v1/jobs/${id}?wait=30`);
    if (body.state === "succeeded") return;
    if (body.state === "failed" || body.state === "cancelled")
      throw new Error(`job ${id} ${body.state}`);
  }
}

/** Waits until no job is queued or running. */
export async function waitIdle(fleetway: FleetwayProcesses): Promise<void> {
  for (;;) {
    const { body } = await fleetway.request<{ activeJobs: { queued: number; running: number } }>(
      "GET",
      "/v1/fleet",
    );
    if (body.activeJobs.queued + body.activeJobs.running === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Latency of each job from its creation (the POST) to its end, from the control database's clock. */
export async function jobLatenciesMs(
  controlDatabaseUrl: string,
  jobIds: readonly string[],
): Promise<number[]> {
  const client = new pg.Client({ connectionString: controlDatabaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ ms: number }>(
      "SELECT (extract(epoch FROM finished_at - created_at) * 1000)::float8 AS ms FROM jobs WHERE id = ANY ($1::uuid[])",
      [[...jobIds]],
    );
    return rows.map((r) => r.ms);
  } finally {
    await client.end();
  }
}
