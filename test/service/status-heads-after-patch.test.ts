/**
 * GET /v1/tenants/{id}/status records the heads it read live as the tenant's heads (which
 * rollouts skip by). A PATCH that moves the tenant to another database while the status read is
 * connecting to the old one must not end with the old database's heads recorded on the moved
 * tenant. The job-end path guards against that (RECORD_HEADS); the status path records what it
 * read only if the tenant was not moved and no job recorded heads meanwhile (0d54bb8).
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { revisionDir, tableRevision, type RevisionDir } from "../support/revision-fixtures.js";
import { startTestService, waitForJob, type TestService } from "../support/service-harness.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

/** A TCP proxy to PostgreSQL that, while closed, holds new connections until it opens again. */
async function startGate(): Promise<{
  through(url: string): string;
  close(): void;
  open(): void;
  waiting(): number;
  stop(): Promise<void>;
}> {
  let closed = false;
  let held: (() => void)[] = [];
  const sockets = new Set<net.Socket>();
  const pipe = (client: net.Socket): void => {
    const upstream = net.connect(5432, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  };
  const server = net.createServer((client) => {
    client.pause();
    if (closed)
      held.push(() => {
        pipe(client);
      });
    else pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    through(url) {
      const u = new URL(url);
      u.hostname = "127.0.0.1";
      u.port = String(port);
      return u.toString();
    },
    close: () => {
      closed = true;
    },
    open: () => {
      closed = false;
      const release = held;
      held = [];
      for (const go of release) go();
    },
    waiting: () => held.length,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    },
  };
}

describe("status read racing a PATCH that moves the tenant", () => {
  let svc: TestService;
  let oldDb: TestDatabase;
  let newDb: TestDatabase;
  let revisions: RevisionDir;
  let gate: Awaited<ReturnType<typeof startGate>>;

  before(async () => {
    revisions = await revisionDir([tableRevision("v1"), tableRevision("v2", ["v1"])]);
    oldDb = await createTestDatabase();
    newDb = await createTestDatabase();
    gate = await startGate();
    svc = await startTestService({ migrationsDir: revisions.dir });
  });
  after(async () => {
    await svc.close();
    await gate.stop();
    await oldDb.drop();
    await newDb.drop();
    await revisions.remove();
  });
  const as = (scope: "read" | "write") => svc.auth(scope);

  it("does not record the old database's heads on the moved tenant", async () => {
    const created = await svc
      .http()
      .post("/v1/tenants")
      .set("authorization", as("write"))
      .send({
        id: "mover",
        name: "Mover",
        databaseUrl: gate.through(oldDb.url),
        migrateTo: "head",
      });
    assert.equal(created.status, 201, created.text);
    const job = await waitForJob(svc, created.body.job.id as string);
    assert.equal(job.state, "succeeded");

    // A status read starts while the old database is slow to answer...
    gate.close();
    const status = svc
      .http()
      .get("/v1/tenants/mover/status")
      .set("authorization", as("read"))
      .then((r) => r);
    while (gate.waiting() === 0) await new Promise((r) => setTimeout(r, 10));
    // ...and the operator moves the tenant to a new, empty database meanwhile.
    const patched = await svc
      .http()
      .patch("/v1/tenants/mover")
      .set("authorization", as("write"))
      .send({ databaseUrl: newDb.url });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body.heads, null, "PATCH forgets the heads of the old database");
    gate.open();
    assert.equal((await status).status, 200);

    const tenant = await svc.http().get("/v1/tenants/mover").set("authorization", as("read"));
    assert.deepEqual(
      tenant.body.heads,
      null,
      "heads of the OLD database recorded on the moved tenant",
    );
  });

  it("so a rollout to head does not skip the moved tenant's empty database", async () => {
    const rollout = await svc
      .http()
      .post("/v1/rollouts")
      .set("authorization", as("write"))
      .send({ target: "head", tenants: { ids: ["mover"] } });
    assert.equal(rollout.status, 202, rollout.text);
    let view = rollout.body as { id: string; state: string; counts: Record<string, number> };
    const deadline = Date.now() + 20_000;
    while (
      !["succeeded", "failed", "halted", "cancelled"].includes(view.state) &&
      Date.now() < deadline
    ) {
      await new Promise((r) => setTimeout(r, 100));
      view = (await svc.http().get(`/v1/rollouts/${view.id}`).set("authorization", as("read")))
        .body;
    }
    const tables = await newDb.query("SELECT to_regclass('public.fleetway_version') AS t");
    assert.notEqual(
      tables.rows[0]?.t,
      null,
      `rollout ${view.state} (counts ${JSON.stringify(view.counts)}) but the tenant's database was never migrated`,
    );
  });

  it("a status read with nothing racing it still records what it read", async () => {
    // Changed behind Fleetway's back: the status read must see it and record it.
    await newDb.query(
      "DO $$ BEGIN IF to_regclass('public.fleetway_version') IS NOT NULL THEN " +
        "DELETE FROM public.fleetway_version; END IF; END $$",
    );
    const status = await svc
      .http()
      .get("/v1/tenants/mover/status")
      .set("authorization", as("read"));
    assert.equal(status.status, 200, status.text);
    assert.deepEqual(status.body.heads, []);
    const tenant = await svc.http().get("/v1/tenants/mover").set("authorization", as("read"));
    assert.deepEqual(tenant.body.heads, []);
  });
});
