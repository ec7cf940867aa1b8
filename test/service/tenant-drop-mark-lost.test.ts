/**
 * DELETE /v1/tenants/{id}?drop=true marks the tenant in a short control transaction. A connection
 * lost at that transaction's COMMIT leaves unknown whether the mark committed: the answer says so
 * with a stable code, and the same request can be retried.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { startTestService, type TestService } from "../support/service-harness.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

/** The advisory lock the mark's COMMIT waits for while the test holds it. */
const COMMIT_LOCK = 7_340_041;

describe("a tenant drop whose mark's COMMIT lost its connection", () => {
  let svc: TestService;
  let tenantDb: TestDatabase;
  before(async () => {
    tenantDb = await createTestDatabase();
    svc = await startTestService();
  });
  after(async () => {
    await svc.close();
    await tenantDb.drop();
  });

  /** The pid of the service's control session waiting for a lock in COMMIT, once there is one. */
  async function commitWaiter(): Promise<number> {
    for (let i = 0; i < 500; i++) {
      const { rows } = await svc.controlDb.query(
        `SELECT pid FROM pg_stat_activity
          WHERE datname = $1 AND application_name = 'fleetway' AND wait_event_type = 'Lock'
            AND query = 'COMMIT'`,
        [svc.controlDb.name],
      );
      const row = rows[0] as { pid: number } | undefined;
      if (row !== undefined) return row.pid;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error("no control session waited in COMMIT");
  }

  it("answers 503 DELETION_OUTCOME_UNKNOWN, and a retry drops the tenant", async () => {
    const created = await svc
      .http()
      .post("/v1/tenants")
      .set("authorization", svc.auth("write"))
      .send({ id: "lostmark", name: "L", databaseUrl: tenantDb.url, provision: { schema: true } });
    assert.equal(created.status, 201, created.text);
    // A deferred trigger on the mark waits, at COMMIT, for a lock the test holds: the session is
    // terminated exactly there, where the client cannot tell whether the COMMIT happened.
    await svc.controlDb.query(
      `CREATE FUNCTION wait_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         PERFORM pg_advisory_xact_lock(${COMMIT_LOCK});
         RETURN NULL;
       END $$`,
    );
    await svc.controlDb.query(
      `CREATE CONSTRAINT TRIGGER wait_at_commit AFTER UPDATE ON tenants
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
         WHEN (NEW.deleting_since IS NOT NULL) EXECUTE FUNCTION wait_at_commit()`,
    );
    const holder = new pg.Client({ connectionString: svc.controlDb.url });
    await holder.connect();
    try {
      await holder.query("SELECT pg_advisory_lock($1)", [COMMIT_LOCK]);
      const dropping = svc
        .http()
        .delete("/v1/tenants/lostmark?drop=true")
        .set("authorization", svc.auth("admin"))
        .then((response) => response);
      const pid = await commitWaiter();
      await holder.query("SELECT pg_terminate_backend($1)", [pid]);
      const answer = await dropping;
      assert.equal(answer.status, 503, answer.text);
      assert.equal(answer.body.code, "DELETION_OUTCOME_UNKNOWN");
      assert.equal(answer.body.data.tenantId, "lostmark");
      assert.match(answer.body.detail, /retry/i);
    } finally {
      await holder.end();
      await svc.controlDb.query("DROP TRIGGER wait_at_commit ON tenants");
      await svc.controlDb.query("DROP FUNCTION wait_at_commit()");
    }

    const retried = await svc
      .http()
      .delete("/v1/tenants/lostmark?drop=true")
      .set("authorization", svc.auth("admin"));
    assert.equal(retried.status, 204, retried.text);
    const gone = await tenantDb.query("SELECT 1 FROM pg_namespace WHERE nspname = 'lostmark'");
    assert.equal(gone.rowCount, 0);
  });
});
