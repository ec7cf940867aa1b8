/** Provisioning: Fleetway creates a tenant's database or schema, migrates it, says when it is ready. */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { Webhook } from "standardwebhooks";
import { revisionDir, tableRevision, type RevisionDir } from "../support/revision-fixtures.js";
import { startTestService, waitForJob, type TestService } from "../support/service-harness.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { startReceiver, type Receiver } from "../support/webhook-receiver.js";

const ADMIN_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const ADMIN_DATABASE = decodeURIComponent(new URL(ADMIN_URL).pathname.slice(1));

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function databaseExists(name: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return (
      (await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name])).rowCount === 1
    );
  } finally {
    await client.end();
  }
}

describe("tenant provisioning", () => {
  let svc: TestService;
  let receiver: Receiver;
  let tenantDb: TestDatabase;
  let revisions: RevisionDir;
  const database = `fleetway_prov_${randomBytes(4).toString("hex")}`;
  const retryDatabase = `fleetway_prov_${randomBytes(4).toString("hex")}`;
  const badTargetDatabase = `fleetway_prov_${randomBytes(4).toString("hex")}`;

  before(async () => {
    revisions = await revisionDir([tableRevision("v1"), tableRevision("v2", ["v1"])]);
    receiver = await startReceiver();
    tenantDb = await createTestDatabase();
    svc = await startTestService({
      migrationsDir: revisions.dir,
      env: { FLEETWAY_PROVISION_ADMIN_URL: ADMIN_URL, FLEETWAY_WEBHOOK_ALLOW: "127.0.0.1" },
    });
  });
  after(async () => {
    await svc.close();
    await receiver.close();
    await tenantDb.drop();
    await revisions.remove();
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    for (const name of [database, retryDatabase, badTargetDatabase]) {
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    }
    await admin.end();
  });

  it("creates the database, migrates it, and sends tenant.ready; the same request replays", async () => {
    const sub = await svc
      .http()
      .post("/v1/webhooks")
      .set("authorization", svc.auth("admin"))
      .send({ url: `${receiver.url}/ready`, eventTypes: ["tenant.ready"] });
    assert.equal(sub.status, 201, sub.text);
    const body = {
      id: "newco",
      name: "NewCo",
      provision: { database: true, name: database },
      migrateTo: "head",
    };
    const created = await svc
      .http()
      .post("/v1/tenants")
      .set("authorization", svc.auth("write"))
      .set("idempotency-key", "signup-newco")
      .send(body);
    assert.equal(created.status, 201, created.text);
    assert.deepEqual(created.body.tenant.provisioned, { database });
    assert.ok(await databaseExists(database));
    assert.equal((await waitForJob(svc, created.body.job.id)).state, "succeeded");

    const [ready] = await receiver.waitFor(1, "/ready");
    assert.ok(ready);
    const event = new Webhook(sub.body.secret).verify(ready.body, {
      "webhook-id": String(ready.headers["webhook-id"]),
      "webhook-timestamp": String(ready.headers["webhook-timestamp"]),
      "webhook-signature": String(ready.headers["webhook-signature"]),
    }) as { type: string; data: { tenant: { id: string; heads: string[] }; jobId: string } };
    assert.equal(event.type, "tenant.ready");
    assert.equal(event.data.tenant.id, "newco");
    assert.deepEqual(event.data.tenant.heads, ["v2"]);
    const status = await svc
      .http()
      .get("/v1/tenants/newco/status")
      .set("authorization", svc.auth("read"));
    assert.deepEqual(status.body.heads, ["v2"]);

    const again = await svc
      .http()
      .post("/v1/tenants")
      .set("authorization", svc.auth("write"))
      .set("idempotency-key", "signup-newco")
      .send(body);
    assert.equal(again.status, 201);
    assert.equal(again.headers["idempotency-replayed"], "true");
    assert.equal(again.body.job.id, created.body.job.id);
  });

  it("creates a schema in a given database", async () => {
    const created = await svc
      .http()
      .post("/v1/tenants")
      .set("authorization", svc.auth("write"))
      .send({
        id: "schemaco",
        name: "SchemaCo",
        databaseUrl: tenantDb.url,
        provision: { schema: true },
      });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.tenant.schema, "schemaco");
    const schemas = await tenantDb.query("SELECT 1 FROM pg_namespace WHERE nspname = 'schemaco'");
    assert.equal(schemas.rowCount, 1);
  });

  it("DELETE drops only with drop=true and admin scope, and only what was provisioned", async () => {
    const plain = await svc
      .http()
      .post("/v1/tenants")
      .set("authorization", svc.auth("write"))
      .send({ id: "plain", name: "Plain", databaseUrl: tenantDb.url });
    assert.equal(plain.status, 201);
    const notProvisioned = await svc
      .http()
      .delete("/v1/tenants/plain?drop=true")
      .set("authorization", svc.auth("admin"));
    assert.equal(notProvisioned.status, 422);
    assert.equal(notProvisioned.body.code, "NOT_PROVISIONED");

    const writeKey = await svc
      .http()
      .delete("/v1/tenants/newco?drop=true")
      .set("authorization", svc.auth("write"));
    assert.equal(writeKey.status, 403);
    assert.ok(await databaseExists(database));
    const dropped = await svc
      .http()
      .delete("/v1/tenants/newco?drop=true")
      .set("authorization", svc.auth("admin"));
    assert.equal(dropped.status, 204, dropped.text);
    assert.equal(await databaseExists(database), false);

    const kept = await svc
      .http()
      .delete("/v1/tenants/schemaco")
      .set("authorization", svc.auth("write"));
    assert.equal(kept.status, 204);
    assert.equal(
      (await tenantDb.query("SELECT 1 FROM pg_namespace WHERE nspname = 'schemaco'")).rowCount,
      1,
      "without drop nothing is dropped",
    );
  });

  const signUp = (body: object) =>
    svc.http().post("/v1/tenants").set("authorization", svc.auth("write")).send(body);
  const dropTenant = (id: string) =>
    svc.http().delete(`/v1/tenants/${id}?drop=true`).set("authorization", svc.auth("admin"));
  const schemaExists = async (schema: string): Promise<boolean> =>
    (await tenantDb.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema])).rowCount ===
    1;

  it("refuses a database that exists and that it did not create, so drop=true can never drop it", async () => {
    await tenantDb.query("CREATE TABLE precious (id int)");
    const claimed = await signUp({
      id: "claimer",
      name: "Claimer",
      provision: { database: true, name: tenantDb.name },
    });
    assert.equal(claimed.status, 409, claimed.text);
    assert.equal(claimed.body.code, "PROVISIONING_CONFLICT");
    assert.equal(
      (await svc.http().get("/v1/tenants/claimer").set("authorization", svc.auth("read"))).status,
      404,
    );
    assert.ok(await databaseExists(tenantDb.name));
  });

  it("refuses a schema that exists and that it did not create (public, or anyone's)", async () => {
    await tenantDb.query("CREATE SCHEMA theirs; CREATE TABLE theirs.precious (id int)");
    for (const schema of ["public", "theirs"]) {
      const claimed = await signUp({
        id: `claim-${schema}`,
        name: "Claimer",
        databaseUrl: tenantDb.url,
        schema,
        provision: { schema: true },
      });
      assert.equal(claimed.status, 409, claimed.text);
      assert.equal(claimed.body.code, "PROVISIONING_CONFLICT");
      assert.ok(await schemaExists(schema));
    }
  });

  it("accepts what it created for the same tenant again (a retried sign-up), nobody else's", async () => {
    const body = {
      id: "retryco",
      name: "RetryCo",
      provision: { database: true, name: retryDatabase },
    };
    assert.equal((await signUp(body)).status, 201);
    // Forgotten without drop, its database stays: as after a sign-up whose tenant was never recorded.
    const forgotten = await svc
      .http()
      .delete("/v1/tenants/retryco")
      .set("authorization", svc.auth("write"));
    assert.equal(forgotten.status, 204);
    const other = await signUp({ ...body, id: "otherco" });
    assert.equal(other.status, 409, other.text);
    assert.equal(other.body.code, "PROVISIONING_CONFLICT");
    const again = await signUp(body);
    assert.equal(again.status, 201, again.text);
    assert.deepEqual(again.body.tenant.provisioned, { database: retryDatabase });
    assert.equal((await dropTenant("retryco")).status, 204);
    assert.equal(await databaseExists(retryDatabase), false);
  });

  it("drop=true refuses a database or schema that lost its mark, and keeps the tenant", async () => {
    const db = await signUp({
      id: "unmarked-db",
      name: "U",
      provision: { database: true, name: retryDatabase },
    });
    assert.equal(db.status, 201, db.text);
    const schema = await signUp({
      id: "unmarked-schema",
      name: "U",
      databaseUrl: tenantDb.url,
      provision: { schema: true },
    });
    assert.equal(schema.status, 201, schema.text);
    await adminQuery(`COMMENT ON DATABASE "${retryDatabase}" IS NULL`);
    await tenantDb.query(`COMMENT ON SCHEMA "unmarked-schema" IS 'someone else''s now'`);

    for (const id of ["unmarked-db", "unmarked-schema"]) {
      const refused = await dropTenant(id);
      assert.equal(refused.status, 409, refused.text);
      assert.equal(refused.body.code, "PROVISIONING_CONFLICT");
      const kept = await svc.http().get(`/v1/tenants/${id}`).set("authorization", svc.auth("read"));
      assert.equal(kept.status, 200);
      assert.equal(kept.body.deletingSince, null, "nothing was dropped: it takes jobs again");
    }
    assert.ok(await databaseExists(retryDatabase));
    assert.ok(await schemaExists("unmarked-schema"));
  });

  it("validates migrateTo before creating the database", async () => {
    const refused = await signUp({
      id: "badtarget",
      name: "BadTarget",
      provision: { database: true, name: badTargetDatabase },
      migrateTo: "nosuchrevision",
    });
    assert.equal(refused.status, 422, refused.text);
    assert.equal(refused.body.code, "UNKNOWN_REVISION");
    assert.equal(await databaseExists(badTargetDatabase), false);
  });
});

describe("tenant provisioning behind another session's lock", () => {
  let svc: TestService;
  let tenantDb: TestDatabase;
  let revisions: RevisionDir;
  const database = `fleetway_prov_${randomBytes(4).toString("hex")}`;
  /** Sessions holding the locks; ended before the service stops, whatever became of a test. */
  const blockers: pg.Client[] = [];

  before(async () => {
    revisions = await revisionDir([tableRevision("v1")]);
    tenantDb = await createTestDatabase();
    svc = await startTestService({
      migrationsDir: revisions.dir,
      env: { FLEETWAY_PROVISION_ADMIN_URL: ADMIN_URL, FLEETWAY_LOCK_TIMEOUT_MS: "300" },
    });
  });
  after(async () => {
    for (const blocker of blockers) await blocker.end();
    await svc.close();
    await tenantDb.drop();
    await revisions.remove();
    await adminQuery(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  });

  /** A session on `url` in a transaction that has run `sql`, and so holds its locks. */
  async function holdLocks(url: string, sql: string): Promise<pg.Client> {
    const blocker = new pg.Client({ connectionString: url });
    await blocker.connect();
    blockers.push(blocker);
    await blocker.query("BEGIN");
    await blocker.query(sql);
    return blocker;
  }

  const signUp = (body: object) =>
    svc.http().post("/v1/tenants").set("authorization", svc.auth("write")).send(body);
  const dropTenant = (id: string) =>
    svc.http().delete(`/v1/tenants/${id}?drop=true`).set("authorization", svc.auth("admin"));

  const tenantStatus = async (id: string): Promise<number> =>
    (await svc.http().get(`/v1/tenants/${id}`).set("authorization", svc.auth("read"))).status;

  it("DROP DATABASE ends with 504 PROVISIONING_TIMEOUT, keeps the tenant, and a retry drops it", async () => {
    const created = await signUp({
      id: "lockeddb",
      name: "L",
      provision: { database: true, name: database },
    });
    assert.equal(created.status, 201, created.text);
    // COMMENT ON DATABASE locks the database against DROP DATABASE until its transaction ends.
    const blocker = await holdLocks(ADMIN_URL, `COMMENT ON DATABASE "${database}" IS 'busy'`);
    const dropped = await dropTenant("lockeddb");
    assert.equal(dropped.status, 504, dropped.text);
    assert.equal(dropped.body.code, "PROVISIONING_TIMEOUT");
    assert.match(dropped.body.detail, /drop database '.*' within 300 ms .*it was not dropped/);
    await blocker.query("ROLLBACK");
    assert.ok(await databaseExists(database));
    assert.equal(await tenantStatus("lockeddb"), 200, "still registered: its database still is");

    const retried = await dropTenant("lockeddb");
    assert.equal(retried.status, 204, retried.text);
    assert.equal(await databaseExists(database), false);
    assert.equal(await tenantStatus("lockeddb"), 404);
  });

  it("CREATE SCHEMA ends with 504 PROVISIONING_TIMEOUT behind another session creating it", async () => {
    const blocker = await holdLocks(tenantDb.url, `CREATE SCHEMA "racing"`);
    const created = await signUp({
      id: "racing",
      name: "R",
      databaseUrl: tenantDb.url,
      provision: { schema: true },
    });
    assert.equal(created.status, 504, created.text);
    assert.equal(created.body.code, "PROVISIONING_TIMEOUT");
    await blocker.query("ROLLBACK");
    const tenant = await svc
      .http()
      .get("/v1/tenants/racing")
      .set("authorization", svc.auth("read"));
    assert.equal(tenant.status, 404, "nothing registered");
  });

  it("DROP SCHEMA ends with 504 PROVISIONING_TIMEOUT behind a lock on one of its tables, and a retry drops it", async () => {
    const created = await signUp({
      id: "lockedschema",
      name: "S",
      databaseUrl: tenantDb.url,
      provision: { schema: true },
    });
    assert.equal(created.status, 201, created.text);
    await tenantDb.query(`CREATE TABLE "lockedschema".busy (id int)`);
    const blocker = await holdLocks(
      tenantDb.url,
      `LOCK TABLE "lockedschema".busy IN ACCESS SHARE MODE`,
    );
    const dropped = await dropTenant("lockedschema");
    assert.equal(dropped.status, 504, dropped.text);
    assert.equal(dropped.body.code, "PROVISIONING_TIMEOUT");
    await blocker.query("ROLLBACK");
    const left = await tenantDb.query("SELECT 1 FROM pg_namespace WHERE nspname = 'lockedschema'");
    assert.equal(left.rowCount, 1, "the schema was not dropped");
    assert.equal(await tenantStatus("lockedschema"), 200, "still registered: its schema still is");

    const retried = await dropTenant("lockedschema");
    assert.equal(retried.status, 204, retried.text);
    const gone = await tenantDb.query("SELECT 1 FROM pg_namespace WHERE nspname = 'lockedschema'");
    assert.equal(gone.rowCount, 0);
    assert.equal(await tenantStatus("lockedschema"), 404);
  });
});

describe("a tenant whose database or schema is being dropped", () => {
  let svc: TestService;
  let revisions: RevisionDir;
  let tenantDb: TestDatabase;
  const droppedDatabase = `fleetway_prov_${randomBytes(4).toString("hex")}`;
  const keptDatabase = `fleetway_prov_${randomBytes(4).toString("hex")}`;
  const lostDatabase = `fleetway_prov_${randomBytes(4).toString("hex")}`;
  const heldDatabase = `fleetway_prov_${randomBytes(4).toString("hex")}`;
  const rolloutDatabase = `fleetway_prov_${randomBytes(4).toString("hex")}`;
  const heldMarkDatabase = `fleetway_prov_${randomBytes(4).toString("hex")}`;
  const blockers: pg.Client[] = [];

  before(async () => {
    revisions = await revisionDir([tableRevision("v1")]);
    tenantDb = await createTestDatabase();
    // Long enough that the drops below end by what the tests do, never by the lock timeout.
    svc = await startTestService({
      migrationsDir: revisions.dir,
      env: { FLEETWAY_PROVISION_ADMIN_URL: ADMIN_URL, FLEETWAY_LOCK_TIMEOUT_MS: "120000" },
    });
  });
  after(async () => {
    for (const blocker of blockers) await blocker.end();
    await svc.close();
    await tenantDb.drop();
    await revisions.remove();
    for (const name of [
      droppedDatabase,
      keptDatabase,
      lostDatabase,
      heldDatabase,
      rolloutDatabase,
      heldMarkDatabase,
    ]) {
      await adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    }
  });

  const api = {
    get: (path: string) => svc.http().get(path).set("authorization", svc.auth("read")),
    post: (path: string, body: object) =>
      svc.http().post(path).set("authorization", svc.auth("write")).send(body),
    patch: (path: string, body: object) =>
      svc.http().patch(path).set("authorization", svc.auth("write")).send(body),
    drop: (id: string) =>
      svc.http().delete(`/v1/tenants/${id}?drop=true`).set("authorization", svc.auth("admin")),
  };
  const submit = (id: string) =>
    api.post(`/v1/tenants/${id}/jobs`, { operation: "upgrade", target: "head" });

  /** A session on `url` in a transaction that has run `sql`, and so holds its locks. */
  async function holdLocks(url: string, sql: string): Promise<pg.Client> {
    const blocker = new pg.Client({ connectionString: url });
    await blocker.connect();
    blockers.push(blocker);
    await blocker.query("BEGIN");
    await blocker.query(sql);
    return blocker;
  }

  /** Signs a tenant up with a database of its own, then holds a lock DROP DATABASE waits for. */
  async function tenantWithBlockedDrop(id: string, database: string): Promise<pg.Client> {
    const created = await api.post("/v1/tenants", {
      id,
      name: id,
      provision: { database: true, name: database },
    });
    assert.equal(created.status, 201, created.text);
    return holdLocks(ADMIN_URL, `COMMENT ON DATABASE "${database}" IS 'busy'`);
  }

  /**
   * The pid of a session on `datname` whose statement contains `text` and waits for a lock, once
   * there is one; null if `signal` aborts first.
   */
  async function lockWaiter(
    datname: string,
    text: string,
    signal?: AbortSignal,
  ): Promise<number | null> {
    const client = new pg.Client({ connectionString: ADMIN_URL });
    await client.connect();
    try {
      for (let i = 0; i < 1500 && signal?.aborted !== true; i++) {
        const { rows } = await client.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity
            WHERE datname = $1 AND wait_event_type = 'Lock' AND strpos(query, $2) > 0`,
          [datname, text],
        );
        if (rows[0] !== undefined) return rows[0].pid;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      if (signal?.aborted === true) return null;
      throw new Error(`no session on ${datname} waited for a lock in ${text}`);
    } finally {
      await client.end();
    }
  }

  /**
   * Whichever comes first: `answer` settling, or a statement of the service containing `text`
   * waiting for a lock in the control database (what a job insert did behind a drop's row lock).
   */
  async function answeredOrWaited<T>(answer: Promise<T>, text: string) {
    const stop = new AbortController();
    const waited = lockWaiter(svc.controlDb.name, text, stop.signal);
    const first = await Promise.race([
      answer.then((value) => ({ answered: value })),
      waited.then((pid) => ({ waitedForLock: pid })),
    ]);
    stop.abort();
    await waited;
    return first;
  }

  /** DELETE ?drop=true, started; resolved once its DROP waits for the blocker's lock. */
  async function startDrop(id: string, statement: string, datname = ADMIN_DATABASE) {
    const dropping = api.drop(id).then((response) => response);
    const dropPid = await lockWaiter(datname, statement);
    return { dropping, dropPid: dropPid as number };
  }

  /**
   * Control sessions of the service whose transaction began before `pid`'s statement (the
   * drop's DROP) did and is still open: with the drop in one control transaction, its own.
   * Polled until there are none (other transactions are short), or the polls run out.
   */
  async function controlTransactionsOlderThan(pid: number): Promise<string[]> {
    const client = new pg.Client({ connectionString: ADMIN_URL });
    await client.connect();
    try {
      let open: string[] = [];
      for (let i = 0; i < 100; i++) {
        const { rows } = await client.query<{ state: string }>(
          `SELECT c.state FROM pg_stat_activity c, pg_stat_activity d
            WHERE d.pid = $1 AND c.datname = $2 AND c.application_name = 'fleetway'
              AND c.xact_start <= d.query_start`,
          [pid, svc.controlDb.name],
        );
        open = rows.map((r) => r.state);
        if (open.length === 0) return open;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return open;
    } finally {
      await client.end();
    }
  }

  it("refuses a job at once with 409 TENANT_DELETING while the drop runs, then the tenant is gone", async () => {
    const blocker = await tenantWithBlockedDrop("dropco", droppedDatabase);
    const { dropping } = await startDrop("dropco", `DROP DATABASE IF EXISTS "${droppedDatabase}"`);

    const first = await answeredOrWaited(submit("dropco"), "INSERT INTO jobs");
    assert.ok("answered" in first, "the job's insert waited for the drop");
    assert.equal(first.answered.status, 409, first.answered.text);
    assert.equal(first.answered.body.code, "TENANT_DELETING");

    const tenant = await api.get("/v1/tenants/dropco");
    assert.equal(tenant.status, 200);
    assert.equal(typeof tenant.body.deletingSince, "string");
    const again = await api.drop("dropco");
    assert.equal(again.status, 409, again.text);
    assert.equal(again.body.code, "TENANT_DELETING", "a second drop is refused while one runs");
    const moved = await api.patch("/v1/tenants/dropco", { databaseUrl: tenantDb.url });
    assert.equal(moved.status, 409, moved.text);
    assert.equal(moved.body.code, "TENANT_DELETING");
    const renamed = await api.patch("/v1/tenants/dropco", { name: "Renamed" });
    assert.equal(renamed.status, 200, renamed.text);

    await blocker.query("ROLLBACK");
    const dropped = await dropping;
    assert.equal(dropped.status, 204, dropped.text);
    assert.equal(await databaseExists(droppedDatabase), false);
    assert.equal((await api.get("/v1/tenants/dropco")).status, 404);
    assert.equal((await submit("dropco")).body.code, "TENANT_NOT_FOUND");
  });

  it("holds no control transaction while the drop runs", async () => {
    const blocker = await tenantWithBlockedDrop("heldco", heldDatabase);
    const { dropping, dropPid } = await startDrop(
      "heldco",
      `DROP DATABASE IF EXISTS "${heldDatabase}"`,
    );
    const held = await controlTransactionsOlderThan(dropPid);
    await blocker.query("ROLLBACK");
    assert.deepEqual(held, [], "a control transaction was held across the drop");
    assert.equal((await dropping).status, 204);
  });

  it("a failed drop clears the mark: a job then runs, and a retry drops it", async () => {
    const blocker = await tenantWithBlockedDrop("keptco", keptDatabase);
    const { dropping, dropPid } = await startDrop(
      "keptco",
      `DROP DATABASE IF EXISTS "${keptDatabase}"`,
    );
    await adminQuery(`SELECT pg_cancel_backend(${dropPid})`);
    const failed = await dropping;
    assert.equal(failed.status, 502, failed.text);
    assert.equal(failed.body.code, "PROVISIONING_FAILED");
    await blocker.query("ROLLBACK");
    assert.equal((await api.get("/v1/tenants/keptco")).body.deletingSince, null);

    const submitted = await submit("keptco");
    assert.equal(submitted.status, 202, submitted.text);
    assert.equal((await waitForJob(svc, submitted.body.id)).state, "succeeded");
    assert.ok(await databaseExists(keptDatabase));

    const retried = await api.drop("keptco");
    assert.equal(retried.status, 204, retried.text);
    assert.equal(await databaseExists(keptDatabase), false);
  });

  it("a failed drop whose mark cannot be cleared says the tenant stays marked", async () => {
    // The clear fails (here: a trigger refuses it, twice): the answer must not claim the tenant
    // is as it was, since its jobs stay refused until a retry.
    await svc.controlDb.query(
      `CREATE FUNCTION refuse_unmark() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF NEW.id = 'markco' AND OLD.deleting_since IS NOT NULL AND NEW.deleting_since IS NULL THEN
           RAISE EXCEPTION 'unmark refused by the test';
         END IF;
         RETURN NEW;
       END $$`,
    );
    await svc.controlDb.query(
      "CREATE TRIGGER refuse_unmark BEFORE UPDATE ON tenants FOR EACH ROW EXECUTE FUNCTION refuse_unmark()",
    );
    try {
      const blocker = await tenantWithBlockedDrop("markco", heldMarkDatabase);
      const { dropping, dropPid } = await startDrop(
        "markco",
        `DROP DATABASE IF EXISTS "${heldMarkDatabase}"`,
      );
      await adminQuery(`SELECT pg_cancel_backend(${dropPid})`);
      const failed = await dropping;
      await blocker.query("ROLLBACK");
      assert.equal(failed.status, 502, failed.text);
      assert.equal(failed.body.code, "PROVISIONING_FAILED");
      assert.match(failed.body.detail, /still marked as being deleted/);
      assert.equal(failed.body.data.deletingMarkKept, true);
      assert.equal((await submit("markco")).body.code, "TENANT_DELETING");
    } finally {
      await svc.controlDb.query("DROP TRIGGER refuse_unmark ON tenants");
      await svc.controlDb.query("DROP FUNCTION refuse_unmark()");
    }
    const retried = await api.drop("markco");
    assert.equal(retried.status, 204, retried.text);
    assert.equal(await databaseExists(heldMarkDatabase), false);
  });

  it("a drop that lost its session keeps the mark, and a retry finishes it", async () => {
    const blocker = await tenantWithBlockedDrop("lostco", lostDatabase);
    const { dropping, dropPid } = await startDrop(
      "lostco",
      `DROP DATABASE IF EXISTS "${lostDatabase}"`,
    );
    // Fleetway cannot tell a session it lost from one the server still drops with.
    await adminQuery(`SELECT pg_terminate_backend(${dropPid})`);
    const failed = await dropping;
    assert.equal(failed.status, 502, failed.text);
    await blocker.query("ROLLBACK");
    assert.equal(typeof (await api.get("/v1/tenants/lostco")).body.deletingSince, "string");
    assert.equal((await submit("lostco")).body.code, "TENANT_DELETING");

    const retried = await api.drop("lostco");
    assert.equal(retried.status, 204, retried.text);
    assert.equal(await databaseExists(lostDatabase), false);
  });

  it("a schema's drop refuses jobs and a second drop, and clears the mark if it fails", async () => {
    const created = await api.post("/v1/tenants", {
      id: "schemaco",
      name: "S",
      databaseUrl: tenantDb.url,
      provision: { schema: true },
    });
    assert.equal(created.status, 201, created.text);
    await tenantDb.query(`CREATE TABLE "schemaco".busy (id int)`);
    const blocker = await holdLocks(
      tenantDb.url,
      `LOCK TABLE "schemaco".busy IN ACCESS SHARE MODE`,
    );
    const { dropping, dropPid } = await startDrop(
      "schemaco",
      `DROP SCHEMA IF EXISTS "schemaco"`,
      tenantDb.name,
    );
    const first = await answeredOrWaited(submit("schemaco"), "INSERT INTO jobs");
    assert.ok("answered" in first, "the job's insert waited for the drop");
    assert.equal(first.answered.body.code, "TENANT_DELETING");
    assert.equal((await api.drop("schemaco")).body.code, "TENANT_DELETING");

    await adminQuery(`SELECT pg_cancel_backend(${dropPid})`);
    const failed = await dropping;
    assert.equal(failed.status, 502, failed.text);
    await blocker.query("ROLLBACK");
    assert.equal((await api.get("/v1/tenants/schemaco")).body.deletingSince, null);
    const submitted = await submit("schemaco");
    assert.equal(submitted.status, 202, submitted.text);
    assert.equal((await waitForJob(svc, submitted.body.id)).state, "succeeded");

    const retried = await api.drop("schemaco");
    assert.equal(retried.status, 204, retried.text);
    const gone = await tenantDb.query("SELECT 1 FROM pg_namespace WHERE nspname = 'schemaco'");
    assert.equal(gone.rowCount, 0);
  });

  it("a rollout goes on with its other tenants during the drop, then skips it as TENANT_DELETED", async () => {
    // Ids in this order: the rollout reaches the tenant being dropped first.
    const blocker = await tenantWithBlockedDrop("r0_dropping", rolloutDatabase);
    for (const id of ["r1_other", "r2_other"]) {
      const created = await api.post("/v1/tenants", {
        id,
        name: id,
        databaseUrl: tenantDb.url,
        schema: id,
      });
      assert.equal(created.status, 201, created.text);
    }
    const { dropping } = await startDrop(
      "r0_dropping",
      `DROP DATABASE IF EXISTS "${rolloutDatabase}"`,
    );
    const started = await api.post("/v1/rollouts", {
      target: "head",
      tenants: { ids: ["r0_dropping", "r1_other", "r2_other"] },
      waves: [{ percent: 100 }],
      maxParallel: 3,
    });
    assert.equal(started.status, 202, started.text);
    const rolloutId = started.body.id as string;

    const looking = new AbortController();
    const othersRan = (async () => {
      while (!looking.signal.aborted) {
        const view = (await api.get(`/v1/rollouts/${rolloutId}`)).body;
        if (view.counts?.succeeded === 2) return view;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return null;
    })();
    const first = await answeredOrWaited(othersRan, "INSERT INTO jobs");
    looking.abort();
    assert.ok("answered" in first, "the rollout's pass waited for the drop");

    await blocker.query("ROLLBACK");
    assert.equal((await dropping).status, 204);
    for (;;) {
      const view = (await api.get(`/v1/rollouts/${rolloutId}`)).body;
      if (view.state !== "running") {
        assert.equal(view.state, "succeeded", JSON.stringify(view));
        assert.deepEqual(view.deletedTenants, [{ tenantId: "r0_dropping", wave: 0 }]);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
});
