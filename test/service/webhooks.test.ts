/**
 * Webhooks as a receiver sees them: every request is verified with the official
 * `standardwebhooks` package, exactly as a receiver would.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Webhook } from "standardwebhooks";
import { guardedLookup, parseAllowList } from "../../src/webhooks/ssrf-guard.js";
import { revisionDir, tableRevision, type RevisionDir } from "../support/revision-fixtures.js";
import { startTestService, waitForJob, type TestService } from "../support/service-harness.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { startReceiver, type Received, type Receiver } from "../support/webhook-receiver.js";

const verify = (secret: string, r: Received): unknown =>
  new Webhook(secret).verify(r.body, {
    "webhook-id": String(r.headers["webhook-id"]),
    "webhook-timestamp": String(r.headers["webhook-timestamp"]),
    "webhook-signature": String(r.headers["webhook-signature"]),
  });

describe("webhooks", () => {
  let svc: TestService;
  let receiver: Receiver;
  let tenantDb: TestDatabase;
  let revisions: RevisionDir;
  let tenantCount = 0;

  before(async () => {
    revisions = await revisionDir([
      tableRevision("w1"),
      tableRevision("w2", ["w1"]),
      tableRevision("w3", ["w2"]),
    ]);
    receiver = await startReceiver();
    tenantDb = await createTestDatabase();
    svc = await startTestService({
      migrationsDir: revisions.dir,
      env: {
        FLEETWAY_WEBHOOK_ALLOW: "127.0.0.1",
        FLEETWAY_WEBHOOK_RETRY_SCHEDULE: "0,150ms,150ms",
        FLEETWAY_WEBHOOK_TIMEOUT_MS: "400",
        FLEETWAY_WEBHOOK_ROTATION_GRACE_MS: "3600000",
      },
    });
  });
  after(async () => {
    await svc.close();
    await receiver.close();
    await tenantDb.drop();
    await revisions.remove();
  });

  /** POST /v1/rollouts (write key) over the tenant of a job just run, with `callbackUrl`. */
  const rolloutOfANewTenant = async (callbackUrl: string) => {
    const jobId = await runJob();
    const tenantId = (
      await svc.http().get(`/v1/jobs/${jobId}`).set("authorization", svc.auth("read"))
    ).body.tenantId as string;
    return svc
      .http()
      .post("/v1/rollouts")
      .set("authorization", svc.auth("write"))
      .send({ target: "head", tenants: { ids: [tenantId] }, callbackUrl });
  };

  const admin = () => svc.http().post("/v1/webhooks").set("authorization", svc.auth("admin"));
  const subscribe = async (path: string, eventTypes: string[]) => {
    const response = await admin().send({
      url: `${receiver.url}${path}`,
      eventTypes,
      description: path,
    });
    assert.equal(response.status, 201, response.text);
    return response.body as { subscription: { id: string }; secret: string };
  };
  const unsubscribe = (id: string) =>
    svc.http().delete(`/v1/webhooks/${id}`).set("authorization", svc.auth("admin"));
  const runJob = async (extra: Record<string, unknown> = {}): Promise<string> => {
    tenantCount++;
    const id = `wh_${tenantCount}`;
    const tenant = await svc
      .http()
      .post("/v1/tenants")
      .set("authorization", svc.auth("write"))
      .send({ id, name: id, databaseUrl: tenantDb.url, schema: id });
    assert.equal(tenant.status, 201, tenant.text);
    const job = await svc
      .http()
      .post(`/v1/tenants/${id}/jobs`)
      .set("authorization", svc.auth("write"))
      .send({ operation: "upgrade", target: "head", ...extra });
    assert.equal(job.status, 202, job.text);
    assert.equal((await waitForJob(svc, job.body.id)).state, "succeeded");
    return job.body.id as string;
  };
  const deliveryOf = async (subscriptionId: string) => {
    const list = await svc
      .http()
      .get(`/v1/webhooks/${subscriptionId}/deliveries`)
      .set("authorization", svc.auth("read"));
    const first = list.body.items[0];
    return (
      await svc
        .http()
        .get(`/v1/deliveries/${first.id as string}`)
        .set("authorization", svc.auth("read"))
    ).body;
  };
  const waitForDelivery = async (subscriptionId: string, state: string) => {
    for (let i = 0; i < 200; i++) {
      const list = await svc
        .http()
        .get(`/v1/webhooks/${subscriptionId}/deliveries`)
        .set("authorization", svc.auth("read"));
      if (list.body.items[0]?.state === state) return deliveryOf(subscriptionId);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`delivery never became ${state}`);
  };

  it("signs every event per Standard Webhooks, numbered in order, with the job as data and no secrets", async () => {
    const { subscription, secret } = await subscribe("/all", [
      "job.queued",
      "job.started",
      "job.progress",
      "job.succeeded",
      "job.failed",
      "job.cancelled",
    ]);
    assert.match(secret, /^whsec_/);
    const jobId = await runJob();
    const received = await receiver.waitFor(6, "/all");
    // Deliveries go out concurrently (and are retried independently), so they may arrive in any
    // order: receivers order them by the per-job sequence, as this test does.
    const events = received
      .map(
        (r) =>
          verify(secret, r) as {
            type: string;
            timestamp: string;
            data: { id: string; sequence: number };
          },
      )
      .sort((a, b) => a.data.sequence - b.data.sequence);
    assert.deepEqual(
      events.map((e) => e.type),
      [
        "job.queued",
        "job.started",
        "job.progress",
        "job.progress",
        "job.progress",
        "job.succeeded",
      ],
    );
    assert.ok(events.every((e) => e.data.id === jobId));
    const sequences = events.map((e) => e.data.sequence);
    assert.equal(new Set(sequences).size, 6, "one sequence number per event");
    assert.equal(
      new Set(received.map((r) => r.headers["webhook-id"])).size,
      6,
      "one message id per event",
    );
    assert.ok(
      received.every((r) => !r.body.includes("databaseUrl") && !r.body.includes("postgres://")),
    );
    await unsubscribe(subscription.id);
  });

  it("500, 500, 200 is retried and ends delivered with three attempts logged", async () => {
    receiver.script("/flaky", [{ status: 500 }, { status: 500 }, { status: 200 }]);
    const { subscription } = await subscribe("/flaky", ["job.succeeded"]);
    await runJob();
    const delivery = await waitForDelivery(subscription.id, "succeeded");
    assert.equal(delivery.attempts, 3);
    assert.deepEqual(
      delivery.attemptLog.map((a: { statusCode: number }) => a.statusCode),
      [500, 500, 200],
    );
    assert.equal(delivery.attemptLog[0].responseExcerpt, "ok from the receiver");
    assert.ok(
      delivery.attemptLog[0].nextAttemptAt !== null &&
        delivery.attemptLog[2].nextAttemptAt === null,
    );
    const ids = new Set((await receiver.waitFor(3, "/flaky")).map((r) => r.headers["webhook-id"]));
    assert.equal(ids.size, 1, "every attempt carries the same webhook-id");
    // The log says why an attempt failed, as its attempt log does (it said `error: null`).
    const retried = svc.logs
      .filter((line) => line.includes("will retry") && line.includes(delivery.id as string))
      .map((line) => JSON.parse(line) as { error: unknown; statusCode: unknown });
    assert.deepEqual(
      retried.map((entry) => [entry.statusCode, entry.error]),
      [
        [500, "HTTP 500"],
        [500, "HTTP 500"],
      ],
    );
    await unsubscribe(subscription.id);
  });

  it("a URL's path and query string (where receivers put tokens) are shown by the API to admin keys but never logged", async () => {
    receiver.script("/tokened?token=LEAK21", [{ status: 500 }, { status: 200 }]);
    const { subscription } = await subscribe("/tokened?token=LEAK21", ["job.succeeded"]);
    await runJob();
    await waitForDelivery(subscription.id, "succeeded");
    const shown = await svc
      .http()
      .get(`/v1/webhooks/${subscription.id}`)
      .set("authorization", svc.auth("admin"));
    assert.equal(shown.body.url, `${receiver.url}/tokened?token=LEAK21`);
    const retried = svc.logs.filter((line) => line.includes("will retry"));
    assert.ok(
      retried.some((line) => line.includes(`"url":"${receiver.url}/[redacted]"`)),
      "the failed attempt is logged with its URL's origin",
    );
    for (const line of svc.logs) assert.ok(!line.includes("LEAK21"), line);
    await unsubscribe(subscription.id);
  });

  it("410 Gone disables the subscription", async () => {
    receiver.script("/gone", [{ status: 410 }]);
    const { subscription } = await subscribe("/gone", ["job.succeeded"]);
    await runJob();
    const delivery = await waitForDelivery(subscription.id, "failed");
    assert.equal(delivery.attempts, 1);
    const after410 = await svc
      .http()
      .get(`/v1/webhooks/${subscription.id}`)
      .set("authorization", svc.auth("read"));
    assert.equal(after410.body.enabled, false);
    assert.match(after410.body.disabledReason, /410/);
  });

  it("a redirect is a failure and is not followed", async () => {
    receiver.script("/moved", [{ status: 302, headers: { location: "/elsewhere" } }]);
    const { subscription } = await subscribe("/moved", ["job.succeeded"]);
    await runJob();
    const delivery = await waitForDelivery(subscription.id, "failed");
    assert.equal(delivery.attempts, 3, "the schedule (0,150ms,150ms) ran out");
    assert.ok(delivery.attemptLog.every((a: { statusCode: number }) => a.statusCode === 302));
    assert.equal(receiver.received.filter((r) => r.path === "/elsewhere").length, 0);
    await unsubscribe(subscription.id);
  });

  it("a receiver that hangs past the timeout is an attempt that failed", async () => {
    receiver.script("/slow", ["hang"]);
    const { subscription } = await subscribe("/slow", ["job.succeeded"]);
    await runJob();
    const delivery = await waitForDelivery(subscription.id, "failed");
    assert.match(delivery.attemptLog[0].error, /no complete response within 400 ms/);
    assert.ok(delivery.attemptLog[0].durationMs >= 380);
    await unsubscribe(subscription.id);
  });

  it("redeliver sends the same message again", async () => {
    const { subscription, secret } = await subscribe("/again", ["job.succeeded"]);
    await runJob();
    const delivery = await waitForDelivery(subscription.id, "succeeded");
    const redeliver = await svc
      .http()
      .post(`/v1/deliveries/${delivery.id as string}/redeliver`)
      .set("authorization", svc.auth("write"));
    assert.equal(redeliver.status, 202);
    const [first, second] = await receiver.waitFor(2, "/again");
    assert.ok(first && second);
    assert.equal(first.headers["webhook-id"], second.headers["webhook-id"]);
    assert.deepEqual(verify(secret, second), verify(secret, first));
    assert.equal((await deliveryOf(subscription.id)).attempts, 2);
    await unsubscribe(subscription.id);
  });

  it("secret rotation: during the grace period both secrets verify", async () => {
    const { subscription, secret: oldSecret } = await subscribe("/rotated", ["job.succeeded"]);
    const rotated = await svc
      .http()
      .post(`/v1/webhooks/${subscription.id}/rotate-secret`)
      .set("authorization", svc.auth("admin"));
    assert.equal(rotated.status, 200);
    const newSecret = rotated.body.secret as string;
    assert.notEqual(newSecret, oldSecret);
    assert.ok(rotated.body.subscription.previousSecretExpiresAt);
    await runJob();
    const [request] = await receiver.waitFor(1, "/rotated");
    assert.ok(request);
    assert.equal(String(request.headers["webhook-signature"]).split(" ").length, 2);
    assert.ok(verify(newSecret, request));
    assert.ok(verify(oldSecret, request));
    await unsubscribe(subscription.id);
  });

  it("with an Idempotency-Key a secret is replayed, and stored only sealed", async () => {
    const request = (path: string, key: string) =>
      svc.http().post(path).set("authorization", svc.auth("admin")).set("idempotency-key", key);
    const body = { url: `${receiver.url}/idempotent`, eventTypes: ["job.succeeded"] };
    const created = await request("/v1/webhooks", "subscribe-once").send(body);
    assert.equal(created.status, 201, created.text);
    const id = created.body.subscription.id as string;
    const rotated = await request(`/v1/webhooks/${id}/rotate-secret`, "rotate-once");
    assert.equal(rotated.status, 200, rotated.text);
    const secrets = [created.body.secret as string, rotated.body.secret as string];
    // The secrets' random part, in any column and whatever JSON does to it.
    const { rows } = await svc.controlDb.query(
      `SELECT key FROM idempotency_keys AS k
        WHERE strpos(k::text, $1) > 0 OR strpos(k::text, $2) > 0`,
      secrets.map((s) => s.slice("whsec_".length, 30)),
    );
    assert.deepEqual(rows, []);
    const createdAgain = await request("/v1/webhooks", "subscribe-once").send(body);
    assert.equal(createdAgain.headers["idempotency-replayed"], "true");
    assert.deepEqual(createdAgain.body, created.body);
    const rotatedAgain = await request(`/v1/webhooks/${id}/rotate-secret`, "rotate-once");
    assert.equal(rotatedAgain.headers["idempotency-replayed"], "true");
    assert.equal(rotatedAgain.body.secret, secrets[1]);
    await unsubscribe(id);
  });

  it("a job callback URL gets the job's events signed with its own secret; its credentials are never shown or logged", async () => {
    const callbackSecret = `whsec_${Buffer.alloc(32, 5).toString("base64")}`;
    const callbackUrl =
      receiver.url.replace("http://", "http://hook-user:cb-pa55word@") + "/callback";
    const jobId = await runJob({ callbackUrl, callbackSecret });
    const received = await receiver.waitFor(3, "/callback");
    const types = received
      .map((r) => verify(callbackSecret, r) as { type: string; data: { sequence: number } })
      .sort((a, b) => a.data.sequence - b.data.sequence)
      .map((e) => e.type);
    assert.deepEqual(
      types,
      ["job.queued", "job.started", "job.succeeded"],
      "no per-step progress for callbacks",
    );
    assert.equal(
      received[0]?.headers.authorization,
      `Basic ${Buffer.from("hook-user:cb-pa55word").toString("base64")}`,
    );
    const job = await svc.http().get(`/v1/jobs/${jobId}`).set("authorization", svc.auth("write"));
    assert.equal(job.body.callbackUrl, `${receiver.url}/callback`);
    const deliveries = await svc
      .http()
      .get(`/v1/jobs/${jobId}/deliveries`)
      .set("authorization", svc.auth("read"));
    assert.equal(deliveries.body.items.length, 3);
    assert.ok(!JSON.stringify(deliveries.body).includes("cb-pa55word"));
    for (const line of svc.logs) assert.ok(!line.includes("cb-pa55word"), line);
    for (const r of received)
      assert.ok(!r.body.includes("cb-pa55word") && !r.body.includes(callbackSecret));
  });

  it("shows callback and subscription URLs whole only to keys whose scope could set them; others and payloads get the origin", async () => {
    const origin = `${receiver.url}/[redacted]`;
    const { subscription, secret } = await subscribe("/sub-path?token=SUB77", ["job.succeeded"]);
    const callbackSecret = `whsec_${Buffer.alloc(32, 7).toString("base64")}`;
    const callbackUrl = `${receiver.url}/cb-path?token=CB77`;
    const jobId = await runJob({ callbackUrl, callbackSecret });
    const get = (path: string, scope: "read" | "write" | "admin") =>
      svc.http().get(path).set("authorization", svc.auth(scope));

    // A job's callback URL is set with write scope.
    assert.equal((await get(`/v1/jobs/${jobId}`, "read")).body.callbackUrl, origin);
    assert.equal((await get(`/v1/jobs/${jobId}?wait=1`, "read")).body.callbackUrl, origin);
    assert.equal((await get(`/v1/jobs/${jobId}`, "write")).body.callbackUrl, callbackUrl);
    assert.equal((await get(`/v1/jobs/${jobId}`, "admin")).body.callbackUrl, callbackUrl);
    const listed = (await get("/v1/jobs?limit=200", "read")).body.items as { id: string }[];
    assert.equal(
      (listed.find((j) => j.id === jobId) as { callbackUrl?: string } | undefined)?.callbackUrl,
      origin,
    );
    const tenantId = (await get(`/v1/jobs/${jobId}`, "read")).body.tenantId as string;
    const status = await get(`/v1/tenants/${tenantId}/status`, "read");
    assert.equal(status.body.lastJob.callbackUrl, origin);

    // A subscription's URL is set with admin scope.
    for (const scope of ["read", "write"] as const) {
      assert.equal((await get(`/v1/webhooks/${subscription.id}`, scope)).body.url, origin);
      const page = (await get("/v1/webhooks", scope)).body.items as { id: string; url: string }[];
      assert.equal(page.find((w) => w.id === subscription.id)?.url, origin);
    }
    assert.equal(
      (await get(`/v1/webhooks/${subscription.id}`, "admin")).body.url,
      `${receiver.url}/sub-path?token=SUB77`,
    );

    // Deliveries: a subscription's URL whole to admin only, a callback's to write and admin.
    await receiver.waitFor(3, "/cb-path?token=CB77");
    const subscriptionReceived = await receiver.waitFor(1, "/sub-path?token=SUB77");
    const urlsSeenBy = async (scope: "read" | "write" | "admin") => {
      const items = (await get(`/v1/jobs/${jobId}/deliveries`, scope)).body.items as {
        subscriptionId: string | null;
        url: string;
      }[];
      return new Set(
        items.map((d) => `${d.subscriptionId === null ? "callback" : "sub"} ${d.url}`),
      );
    };
    assert.deepEqual(await urlsSeenBy("read"), new Set([`callback ${origin}`, `sub ${origin}`]));
    assert.deepEqual(
      await urlsSeenBy("write"),
      new Set([`callback ${callbackUrl}`, `sub ${origin}`]),
    );
    assert.deepEqual(
      await urlsSeenBy("admin"),
      new Set([`callback ${callbackUrl}`, `sub ${receiver.url}/sub-path?token=SUB77`]),
    );

    // Payloads carry the callback URL as its origin, to the callback and to subscribers alike.
    const callbackReceived = await receiver.waitFor(3, "/cb-path?token=CB77");
    for (const r of callbackReceived) {
      const event = verify(callbackSecret, r) as { data: { callbackUrl: string } };
      assert.equal(event.data.callbackUrl, origin);
    }
    const toSubscriber = subscriptionReceived.map(
      (r) => verify(secret, r) as { data: { id: string; callbackUrl: string } },
    );
    assert.equal(toSubscriber.find((e) => e.data.id === jobId)?.data.callbackUrl, origin);
    for (const r of [...callbackReceived, ...subscriptionReceived])
      assert.ok(!r.body.includes("CB77"), r.body);
    await unsubscribe(subscription.id);
  });

  it("stores and shows a rollout's callback URL without its credentials", async () => {
    const created = await rolloutOfANewTenant(
      receiver.url.replace("http://", "http://ro-user:ro-pa55word@") + "/ro-cred",
    );
    assert.equal(created.status, 202, created.text);
    assert.equal(created.body.callbackUrl, `${receiver.url}/ro-cred`);
    const rolloutId = created.body.id as string;
    const shown = await svc
      .http()
      .get(`/v1/rollouts/${rolloutId}`)
      .set("authorization", svc.auth("write"));
    assert.equal(shown.body.callbackUrl, `${receiver.url}/ro-cred`);
    const stored = await svc.controlDb.query("SELECT callback_url FROM rollouts WHERE id = $1", [
      rolloutId,
    ]);
    assert.equal(stored.rows[0]?.callback_url, `${receiver.url}/ro-cred`);
  });

  it("shows a rollout's callback URL whole to write keys only, and as its origin in its events", async () => {
    const origin = `${receiver.url}/[redacted]`;
    const callbackUrl = `${receiver.url}/rollout-cb?token=RO77`;
    const created = await rolloutOfANewTenant(callbackUrl);
    assert.equal(created.status, 202, created.text);
    assert.equal(created.body.callbackUrl, callbackUrl);
    const rolloutId = created.body.id as string;
    const get = (path: string, scope: "read" | "write") =>
      svc.http().get(path).set("authorization", svc.auth(scope));
    assert.equal((await get(`/v1/rollouts/${rolloutId}`, "read")).body.callbackUrl, origin);
    assert.equal((await get(`/v1/rollouts/${rolloutId}`, "write")).body.callbackUrl, callbackUrl);
    const listed = (await get("/v1/rollouts?limit=100", "read")).body.items as {
      id: string;
      callbackUrl: string;
    }[];
    assert.equal(listed.find((r) => r.id === rolloutId)?.callbackUrl, origin);
    const received = await receiver.waitFor(1, "/rollout-cb?token=RO77");
    for (const r of received) {
      assert.ok(!r.body.includes("RO77"), r.body);
      assert.equal(
        (JSON.parse(r.body) as { data: { callbackUrl: string } }).data.callbackUrl,
        origin,
      );
    }
  });

  it("refuses private, link-local and metadata addresses that are not allow-listed", async () => {
    for (const url of [
      "http://10.1.2.3/hook",
      "http://169.254.169.254/latest/meta-data",
      "http://[::1]:8080/x",
      "http://192.168.0.10/",
      // Private IPv4 addresses spelled as IPv6: mapped, compatible, NAT64, 6to4.
      "http://[::ffff:a9fe:a9fe]/latest/meta-data",
      "http://[::10.0.0.1]/hook",
      "http://[64:ff9b::169.254.169.254]/latest/meta-data",
      "http://[2002:a00:1::1]/hook",
    ]) {
      const response = await admin().send({ url, eventTypes: ["job.succeeded"] });
      assert.equal(response.status, 422, url);
      assert.equal(response.body.code, "WEBHOOK_URL_FORBIDDEN");
    }
    const job = await svc
      .http()
      .post("/v1/tenants/wh_1/jobs")
      .set("authorization", svc.auth("write"))
      .send({ operation: "upgrade", target: "head", callbackUrl: "http://10.0.0.5/cb" });
    assert.equal(job.status, 422);
    const nat64 = await svc
      .http()
      .post("/v1/tenants/wh_1/jobs")
      .set("authorization", svc.auth("write"))
      .send({ operation: "upgrade", target: "head", callbackUrl: "http://[64:ff9b::a00:5]/cb" });
    assert.equal(nat64.status, 422, nat64.text);
    assert.equal(nat64.body.code, "WEBHOOK_URL_FORBIDDEN");
  });

  it("checks again at connect time (DNS rebinding): a host that now resolves to loopback is refused", async () => {
    const lookup = guardedLookup(parseAllowList([]));
    const error = await new Promise<Error | null>((resolve) => {
      lookup("localhost", { all: false }, (err) => {
        resolve(err);
      });
    });
    assert.match(String(error?.message), /loopback, private, link-local or metadata/);
  });

  it("GET /v1/webhooks at limit=1: following nextCursor lists each subscription once, in order", async () => {
    const created: string[] = [];
    for (let i = 0; i < 4; i++)
      created.push((await subscribe(`/page${i}`, ["job.queued"])).subscription.id);
    // Microseconds a JavaScript Date cannot hold, and two rows created in the same instant (one
    // transaction's now()), which only the id orders.
    await svc.controlDb.query(
      `UPDATE webhook_subscriptions SET created_at = now() + CASE id WHEN $1 THEN interval '1.000123 s'
         WHEN $2 THEN interval '1.000456 s' ELSE interval '1.000789 s' END
        WHERE id = ANY ($3::uuid[])`,
      [created[0], created[1], created.slice(2)],
    );
    const list = (path: string) => svc.http().get(path).set("authorization", svc.auth("read"));
    const all = await list("/v1/webhooks?limit=200");
    const expected = (all.body.items as { id: string }[]).map((s) => s.id);
    assert.deepEqual(expected.slice(-4), [
      created[0],
      created[1],
      ...created.slice(2).sort((a, b) => (a < b ? -1 : 1)),
    ]);
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page <= expected.length && (page === 0 || cursor !== null); page++) {
      const r = await list(`/v1/webhooks?limit=1${cursor === null ? "" : `&cursor=${cursor}`}`);
      assert.equal(r.status, 200, r.text);
      seen.push(...(r.body.items as { id: string }[]).map((s) => s.id));
      cursor = r.body.nextCursor as string | null;
    }
    assert.equal(cursor, null, "the last page has no next cursor");
    assert.deepEqual(seen, expected);
    for (const id of created) assert.equal((await unsubscribe(id)).status, 204);
  });
});

describe("webhooks: redeliver while the next attempt is scheduled far ahead", () => {
  let svc: TestService;
  let receiver: Receiver;
  let tenantDb: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    revisions = await revisionDir([tableRevision("rd1")]);
    receiver = await startReceiver();
    tenantDb = await createTestDatabase();
    svc = await startTestService({
      migrationsDir: revisions.dir,
      // The first attempt fails; the second is an hour away.
      env: { FLEETWAY_WEBHOOK_ALLOW: "127.0.0.1", FLEETWAY_WEBHOOK_RETRY_SCHEDULE: "0,1h" },
    });
  });
  after(async () => {
    await svc.close();
    await receiver.close();
    await tenantDb.drop();
    await revisions.remove();
  });

  it("sends it now, not when the scheduled attempt comes due", async () => {
    receiver.script("/later", [{ status: 500 }, { status: 200 }]);
    const subscribed = await svc
      .http()
      .post("/v1/webhooks")
      .set("authorization", svc.auth("admin"))
      .send({ url: `${receiver.url}/later`, eventTypes: ["job.succeeded"] });
    assert.equal(subscribed.status, 201, subscribed.text);
    const subscriptionId = subscribed.body.subscription.id as string;
    const tenant = await svc
      .http()
      .post("/v1/tenants")
      .set("authorization", svc.auth("write"))
      .send({ id: "rd", name: "rd", databaseUrl: tenantDb.url, schema: "rd", migrateTo: "head" });
    assert.equal(tenant.status, 201, tenant.text);
    assert.equal((await waitForJob(svc, tenant.body.job.id as string)).state, "succeeded");
    await receiver.waitFor(1, "/later");
    let deliveryId: string | undefined;
    for (let i = 0; i < 200 && deliveryId === undefined; i++) {
      const list = await svc
        .http()
        .get(`/v1/webhooks/${subscriptionId}/deliveries`)
        .set("authorization", svc.auth("read"));
      const delivery = list.body.items[0] as { id: string; attempts: number } | undefined;
      if (delivery?.attempts === 1) deliveryId = delivery.id;
      else await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(deliveryId, "the failed first attempt was recorded");
    const redeliver = await svc
      .http()
      .post(`/v1/deliveries/${deliveryId}/redeliver`)
      .set("authorization", svc.auth("write"));
    assert.equal(redeliver.status, 202, redeliver.text);
    await receiver.waitFor(2, "/later", 5_000);
  });
});

describe("webhooks: redeliver while an attempt is in flight", () => {
  let svc: TestService;
  let receiver: Receiver;
  let tenantDb: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    revisions = await revisionDir([tableRevision("if1")]);
    receiver = await startReceiver();
    tenantDb = await createTestDatabase();
    svc = await startTestService({
      migrationsDir: revisions.dir,
      // One attempt, no retry: the attempt in flight failing would be the delivery's last word.
      env: {
        FLEETWAY_WEBHOOK_ALLOW: "127.0.0.1",
        FLEETWAY_WEBHOOK_RETRY_SCHEDULE: "0",
        FLEETWAY_WEBHOOK_TIMEOUT_MS: "3000",
      },
    });
  });
  after(async () => {
    await svc.close();
    await receiver.close();
    await tenantDb.drop();
    await revisions.remove();
  });

  it("sends it once more after that attempt, which does not overwrite it", async () => {
    // The first attempt hangs until its timeout; the redelivery is answered.
    receiver.script("/busy", ["hang", { status: 200 }]);
    const subscribed = await svc
      .http()
      .post("/v1/webhooks")
      .set("authorization", svc.auth("admin"))
      .send({ url: `${receiver.url}/busy`, eventTypes: ["job.succeeded"] });
    assert.equal(subscribed.status, 201, subscribed.text);
    const subscriptionId = subscribed.body.subscription.id as string;
    const tenant = await svc
      .http()
      .post("/v1/tenants")
      .set("authorization", svc.auth("write"))
      .send({
        id: "inf",
        name: "inf",
        databaseUrl: tenantDb.url,
        schema: "inf",
        migrateTo: "head",
      });
    assert.equal(tenant.status, 201, tenant.text);
    assert.equal((await waitForJob(svc, tenant.body.job.id as string)).state, "succeeded");
    // The first attempt has reached the receiver, which holds it: it is in flight.
    await receiver.waitFor(1, "/busy");
    const list = await svc
      .http()
      .get(`/v1/webhooks/${subscriptionId}/deliveries`)
      .set("authorization", svc.auth("read"));
    const deliveryId = (list.body.items[0] as { id: string }).id;
    const redeliver = await svc
      .http()
      .post(`/v1/deliveries/${deliveryId}/redeliver`)
      .set("authorization", svc.auth("write"));
    assert.equal(redeliver.status, 202, redeliver.text);

    let delivery: { state: string; attempts: number } | undefined;
    for (let i = 0; i < 400; i++) {
      const r = await svc
        .http()
        .get(`/v1/deliveries/${deliveryId}`)
        .set("authorization", svc.auth("read"));
      delivery = r.body as { state: string; attempts: number };
      if (delivery.state !== "pending") break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.deepEqual(
      { state: delivery?.state, attempts: delivery?.attempts },
      { state: "succeeded", attempts: 2 },
      "the redelivery was sent after the attempt in flight, and answered",
    );
    assert.equal(receiver.received.filter((r) => r.path === "/busy").length, 2);
  });
});
