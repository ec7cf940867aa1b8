/**
 * A rollout advances when something happens to it, not at the coordinator's tick: its creation,
 * a resume, every job's end, a queued job's cancel, the end of a drop of a tenant it waits for.
 * The tick here is a minute, so each test fails if it waits for it.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { revisionDir, tableRevision, type RevisionDir } from "../support/revision-fixtures.js";
import { startTestService, type TestService } from "../support/service-harness.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

/** A service with a one-minute rollout tick, its tenants' database and its revisions. */
interface Setup {
  readonly svc: TestService;
  readonly tenantDb: TestDatabase;
  readonly revisions: RevisionDir;
}

function useSetup(revisions: () => Promise<RevisionDir>, mode?: "api"): () => Setup {
  let setup: Setup | null = null;
  before(async () => {
    const dir = await revisions();
    const tenantDb = await createTestDatabase();
    const svc = await startTestService({
      migrationsDir: dir.dir,
      ...(mode === undefined ? {} : { mode }),
      env: { FLEETWAY_ROLLOUT_TICK_MS: "60000" },
    });
    setup = { svc, tenantDb, revisions: dir };
  });
  after(async () => {
    await setup?.svc.close();
    await setup?.tenantDb.drop();
    await setup?.revisions.remove();
  });
  return () => {
    if (setup === null) throw new Error("used before its setup ran");
    return setup;
  };
}

const post = ({ svc }: Setup, path: string, body: object = {}) =>
  svc.http().post(path).set("authorization", svc.auth("write")).send(body);

/** Tenants `<tag>0` … in schemas of their own, tagged `tag`. */
async function addTenants(setup: Setup, tag: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const id = `${tag}${i}`;
    const response = await post(setup, "/v1/tenants", {
      id,
      name: id,
      databaseUrl: setup.tenantDb.url,
      schema: id,
      tags: [tag],
    });
    assert.equal(response.status, 201, response.text);
  }
}

/** Polls until `check` holds, well within the coordinator's one-minute tick. */
async function within(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within 10 s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

interface RolloutJob {
  readonly id: string;
  readonly tenant_id: string;
  readonly state: string;
}

/** The rollout's jobs, oldest first, from the control database. */
async function rolloutJobs({ svc }: Setup, rolloutId: string): Promise<RolloutJob[]> {
  const { rows } = await svc.controlDb.query(
    "SELECT id, tenant_id, state FROM jobs WHERE rollout_id = $1 ORDER BY created_at",
    [rolloutId],
  );
  return rows as RolloutJob[];
}

describe("rollout nudges", () => {
  const setup = useSetup(() =>
    revisionDir([
      tableRevision("r1", [], { up: "CREATE TABLE t_r1 (id int);\nSELECT pg_sleep(0.3);" }),
    ]),
  );
  const rolloutState = async (id: string): Promise<string> =>
    String(
      (
        await setup()
          .svc.http()
          .get(`/v1/rollouts/${id}`)
          .set("authorization", setup().svc.auth("read"))
      ).body.state,
    );
  const jobStates = async (id: string): Promise<string[]> =>
    (await rolloutJobs(setup(), id)).map((job) => job.state);
  /** A rollout of every tenant tagged `tag`, as created. */
  const startRollout = async (tag: string, body: object = {}): Promise<string> => {
    const created = await post(setup(), "/v1/rollouts", {
      target: "head",
      tenants: { tags: [tag] },
      ...body,
    });
    assert.equal(created.status, 202, created.text);
    return String(created.body.id);
  };

  it("a rollout's first jobs start when it is created", async () => {
    await addTenants(setup(), "created", 2);
    const id = await startRollout("created");
    await within("the rollout succeeded", async () => (await rolloutState(id)) === "succeeded");
  });

  it("a resumed rollout launches at once", async () => {
    await addTenants(setup(), "resumed", 2);
    const id = await startRollout("resumed", { maxParallel: 1 });
    // Paused while its first job runs: that job ends, and nothing else is launched.
    await within("the first job exists", async () => (await jobStates(id)).length === 1);
    assert.equal((await post(setup(), `/v1/rollouts/${id}/pause`)).status, 202);
    await within("the first job ended", async () => (await jobStates(id))[0] === "succeeded");
    assert.deepEqual(await jobStates(id), ["succeeded"]);
    assert.equal((await post(setup(), `/v1/rollouts/${id}/resume`)).status, 202);
    await within("the rollout succeeded", async () => (await rolloutState(id)) === "succeeded");
  });

  it("a job's end that finds the rollout busy in another transaction advances it once free", async () => {
    await addTenants(setup(), "busy", 2);
    const id = await startRollout("busy", { maxParallel: 1 });
    await within("the first job runs", async () => (await jobStates(id)).length === 1);
    // Another process's pass, as the worker's pass after the job's end meets it: the rollout's
    // row is held while the job ends, so that pass skips the rollout.
    const other = new pg.Client({ connectionString: setup().svc.controlDb.url });
    await other.connect();
    try {
      await other.query("BEGIN");
      await other.query("SELECT 1 FROM rollouts WHERE id = $1 FOR UPDATE", [id]);
      await within("the first job ended", async () => (await jobStates(id))[0] === "succeeded");
      // Long enough for the pass after the job's end to have met the lock (it follows within
      // milliseconds), shorter than its retries last.
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(await jobStates(id), ["succeeded"]);
      await other.query("COMMIT");
    } finally {
      await other.end();
    }
    await within("the rollout succeeded", async () => (await rolloutState(id)) === "succeeded");
    assert.deepEqual(await jobStates(id), ["succeeded", "succeeded"]);
  });
});

describe("rollout nudges without a worker", () => {
  // An API process alone: the rollout's jobs stay queued.
  const setup = useSetup(() => revisionDir([tableRevision("r1")]), "api");

  it("cancelling a rollout's queued job settles it and launches the next tenant at once", async () => {
    await addTenants(setup(), "q", 2);
    const created = await post(setup(), "/v1/rollouts", {
      target: "head",
      tenants: { tags: ["q"] },
      maxParallel: 1,
      failureThreshold: { count: 1 },
    });
    assert.equal(created.status, 202, created.text);
    const jobs = () => rolloutJobs(setup(), String(created.body.id));
    await within("the first job is queued", async () => (await jobs()).length === 1);
    const [first] = await jobs();
    const cancelled = await post(setup(), `/v1/jobs/${first?.id ?? ""}/cancel`);
    assert.equal(cancelled.status, 202, cancelled.text);
    await within("the second tenant's job is launched", async () => (await jobs()).length === 2);
    assert.deepEqual(
      (await jobs()).map((j) => [j.tenant_id, j.state]),
      [
        ["q0", "cancelled"],
        ["q1", "queued"],
      ],
    );
  });

  /**
   * A rollout of `<tag>0` and `<tag>_dropping`, a provisioned schema whose DELETE ?drop=true waits
   * for `blocker`'s lock on one of its tables: the rollout's pass launched `<tag>0`'s job and
   * passed over the tenant being dropped (409 TENANT_DELETING), which stays pending.
   */
  async function rolloutWaitingForDrop(tag: string) {
    const s = setup();
    const dropping = `${tag}_dropping`;
    const created = await post(s, "/v1/tenants", {
      id: dropping,
      name: dropping,
      databaseUrl: s.tenantDb.url,
      provision: { schema: true },
      tags: [tag],
    });
    assert.equal(created.status, 201, created.text);
    await addTenants(s, tag, 1);
    await s.tenantDb.query(`CREATE TABLE "${dropping}".busy (id int)`);
    const blocker = new pg.Client({ connectionString: s.tenantDb.url });
    await blocker.connect();
    await blocker.query("BEGIN");
    await blocker.query(`LOCK TABLE "${dropping}".busy IN ACCESS SHARE MODE`);
    const drop = s.svc
      .http()
      .delete(`/v1/tenants/${dropping}?drop=true`)
      .set("authorization", s.svc.auth("admin"))
      .then((response) => response);
    await within("the tenant is marked as being dropped", async () => {
      const tenant = await s.svc
        .http()
        .get(`/v1/tenants/${dropping}`)
        .set("authorization", s.svc.auth("read"));
      return typeof tenant.body.deletingSince === "string";
    });
    const started = await post(s, "/v1/rollouts", {
      target: "head",
      tenants: { tags: [tag] },
      maxParallel: 2,
    });
    assert.equal(started.status, 202, started.text);
    const rolloutId = String(started.body.id);
    // Launched in the pass that was refused the tenant being dropped.
    await within("the other tenant's job is launched", async () => {
      return (await rolloutJobs(s, rolloutId)).length === 1;
    });
    assert.deepEqual(
      (await rolloutJobs(s, rolloutId)).map((j) => j.tenant_id),
      [`${tag}0`],
    );
    const stateOfDropping = async (): Promise<string> => {
      const { rows } = await s.svc.controlDb.query(
        "SELECT state FROM rollout_tenants WHERE rollout_id = $1 AND tenant_id = $2",
        [rolloutId, dropping],
      );
      return String(rows[0]?.state);
    };
    assert.equal(await stateOfDropping(), "pending");
    return { s, dropping, blocker, drop, rolloutId, stateOfDropping };
  }

  it("a drop's end has the rollout waiting for the tenant skip it at once", async () => {
    const { blocker, drop, stateOfDropping } = await rolloutWaitingForDrop("dropok");
    try {
      await blocker.query("ROLLBACK");
    } finally {
      await blocker.end();
    }
    const dropped = await drop;
    assert.equal(dropped.status, 204, dropped.text);
    await within("the rollout skips the dropped tenant", async () => {
      return (await stateOfDropping()) === "skipped";
    });
  });

  it("a DELETE without drop of a tenant being dropped has the rollout skip it at once", async () => {
    const { s, dropping, blocker, drop, stateOfDropping } = await rolloutWaitingForDrop("forget");
    try {
      const forgotten = await s.svc
        .http()
        .delete(`/v1/tenants/${dropping}`)
        .set("authorization", s.svc.auth("admin"));
      assert.equal(forgotten.status, 204, forgotten.text);
      // The drop waits for the blocker until its lock timeout, and its end tells the rollout
      // too: the skip must come before it, from the DELETE.
      let dropEnded = false;
      void drop.then(() => {
        dropEnded = true;
      });
      await within("the rollout skips the forgotten tenant", async () => {
        const skipped = (await stateOfDropping()) === "skipped";
        if (!skipped && dropEnded) throw new Error("only the drop's end told the rollout");
        return skipped;
      });
    } finally {
      await blocker.query("ROLLBACK");
      await blocker.end();
      await drop;
    }
  });

  it("a failed drop has the rollout waiting for the tenant launch its job at once", async () => {
    const { s, dropping, blocker, drop, rolloutId } = await rolloutWaitingForDrop("dropfail");
    try {
      // The DROP is cancelled where it waits: it dropped nothing, and the mark is cleared.
      await within("the drop is cancelled", async () => {
        const { rowCount } = await s.tenantDb.query(
          `SELECT pg_cancel_backend(pid) FROM pg_stat_activity
            WHERE datname = $1 AND wait_event_type = 'Lock' AND strpos(query, 'DROP SCHEMA') > 0`,
          [s.tenantDb.name],
        );
        return rowCount === 1;
      });
      const failed = await drop;
      assert.equal(failed.status, 502, failed.text);
    } finally {
      await blocker.end();
    }
    await within("the tenant's job is launched", async () => {
      const jobs = await rolloutJobs(s, rolloutId);
      return jobs.some((j) => j.tenant_id === dropping);
    });
  });
});
