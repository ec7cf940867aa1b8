/**
 * One delivery attempt against a local receiver (attemptDelivery), with a real control database.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { getDelivery, insertDeliveries, listAttempts } from "../../src/control/delivery-store.js";
import { createSecretBox } from "../../src/control/secret-box.js";
import { insertSubscription } from "../../src/control/webhook-store.js";
import { attemptDelivery, type DeliveryDeps } from "../../src/webhooks/deliver-webhook.js";
import { parseAllowList } from "../../src/webhooks/ssrf-guard.js";
import { generateWebhookSecret } from "../../src/webhooks/webhook-secret.js";
import {
  createControlTestDatabase,
  type ControlTestDatabase,
} from "../support/control-database.js";

const secretBox = createSecretBox(Buffer.alloc(32, 7));
const silent = pino({ level: "silent" });

describe("a delivery attempt", () => {
  let control: ControlTestDatabase;
  let server: Server;
  let url: string;
  /** What the receiver answers next: status, headers and raw body bytes. */
  let answer: { status: number; body: Buffer; headers?: Record<string, string> } = {
    status: 200,
    body: Buffer.from("ok"),
  };
  let requests = 0;

  before(async () => {
    control = await createControlTestDatabase();
    server = createServer((request, response) => {
      request.resume();
      request.on("end", () => {
        requests++;
        response.writeHead(answer.status, {
          "content-type": "application/octet-stream",
          ...answer.headers,
        });
        response.end(answer.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await control.drop();
  });

  const deps = (allow: readonly string[] = ["127.0.0.1"]): DeliveryDeps => ({
    pool: control.pool,
    secretBox,
    logger: silent,
    policy: parseAllowList(allow),
    timeoutMs: 2000,
    schedule: [0, 60_000, 60_000],
    callbackSecret: generateWebhookSecret(),
  });

  async function pendingDelivery(to: string = url): Promise<string> {
    const subscription = await insertSubscription(control.pool, {
      urlSealed: secretBox.encrypt(to),
      urlMasked: to,
      eventTypes: ["job.succeeded"],
      description: null,
      secretSealed: secretBox.encrypt(generateWebhookSecret()),
    });
    const [id] = await insertDeliveries(control.pool, [
      {
        subscriptionId: subscription.id,
        jobId: null,
        urlSealed: subscription.urlSealed,
        urlMasked: subscription.urlMasked,
        eventType: "job.succeeded",
        payload: { type: "job.succeeded", data: {} },
      },
    ]);
    return id as string;
  }

  it("a 2xx whose body holds a NUL byte is delivered, and logged", async () => {
    answer = { status: 200, body: Buffer.from([0x6f, 0x6b, 0x00, 0x01, 0x02]) };
    const id = await pendingDelivery();
    const before = requests;
    const outcome = await attemptDelivery(deps(), id);
    assert.equal(requests, before + 1);
    assert.deepEqual(outcome, { kind: "done" });
    const delivery = await getDelivery(control.pool, id);
    assert.ok(delivery);
    assert.equal(delivery.state, "succeeded");
    assert.equal(delivery.attempts, 1);
    assert.equal((await listAttempts(control.pool, id)).length, 1);
  });

  it("a 500 whose body holds a NUL byte counts as a failed attempt and follows the schedule", async () => {
    answer = { status: 500, body: Buffer.from("boom\u0000") };
    const id = await pendingDelivery();
    const outcome = await attemptDelivery(deps(), id);
    assert.equal(outcome.kind, "retry");
    const delivery = await getDelivery(control.pool, id);
    assert.ok(delivery);
    assert.equal(delivery.attempts, 1);
    assert.equal(delivery.lastStatusCode, 500);
  });

  it("a 503 asking to retry after more seconds than a date can hold is a failed attempt, logged", async () => {
    answer = {
      status: 503,
      body: Buffer.from("busy"),
      headers: { "retry-after": "9000000000000" },
    };
    const id = await pendingDelivery();
    const outcome = await attemptDelivery(deps(), id);
    assert.equal(outcome.kind, "retry");
    const delivery = await getDelivery(control.pool, id);
    assert.ok(delivery);
    assert.equal(delivery.attempts, 1);
    assert.equal(delivery.lastStatusCode, 503);
  });

  it("an entry for another attempt than the delivery's next sends nothing (a stale entry queued again)", async () => {
    answer = { status: 200, body: Buffer.from("ok") };
    const id = await pendingDelivery();
    const before = requests;
    // Attempt 2's entry while attempt 1 is the delivery's next: a redelivery re-added an entry
    // just as its attempt ended and queued the next, so both would have sent the same attempt.
    assert.deepEqual(await attemptDelivery(deps(), id, 2), { kind: "done" });
    assert.equal(requests, before);
    const untouched = await getDelivery(control.pool, id);
    assert.equal(untouched?.state, "pending");
    assert.equal(untouched.attempts, 0);
    assert.deepEqual(await attemptDelivery(deps(), id, 1), { kind: "done" });
    assert.equal(requests, before + 1);
    assert.equal((await getDelivery(control.pool, id))?.state, "succeeded");
  });

  it("an address literal the SSRF guard forbids fails for good at once: retrying cannot change it", async () => {
    const id = await pendingDelivery();
    const before = requests;
    // 127.0.0.1 is not allowed here (FLEETWAY_WEBHOOK_ALLOW is empty), as after the allow-list
    // changed since the subscription was registered.
    assert.deepEqual(await attemptDelivery(deps([]), id), { kind: "done" });
    assert.equal(requests, before);
    const delivery = await getDelivery(control.pool, id);
    assert.equal(delivery?.state, "failed");
    assert.equal(delivery.attempts, 1);
    assert.equal(delivery.nextAttemptAt, null);
    const [attempt] = await listAttempts(control.pool, id);
    assert.match(attempt?.error ?? "", /resolves to 127\.0\.0\.1, a loopback, private/);
    assert.equal(attempt?.nextAttemptAt, null);
  });

  it("a host name that resolves to a forbidden address now is retried (its DNS may change)", async () => {
    const id = await pendingDelivery(url.replace("127.0.0.1", "localhost"));
    const before = requests;
    const outcome = await attemptDelivery(deps([]), id);
    assert.equal(outcome.kind, "retry");
    assert.equal(requests, before);
    const delivery = await getDelivery(control.pool, id);
    assert.equal(delivery?.state, "pending");
    assert.match(delivery.lastError ?? "", /Webhook host 'localhost' resolves to/);
  });
});
