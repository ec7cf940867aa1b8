/**
 * BullMQ runs a queue entry at least once: when an entry's lock lapses during a slow POST, another
 * worker runs it again and both send the same attempt. The receiver deduplicates by `webhook-id`;
 * the second run's record of the attempt failed the attempts' primary key, its error escaped, and
 * that POST was never accounted for.
 */
import assert from "node:assert/strict";
import { createServer, type Server, type ServerResponse } from "node:http";
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

describe("one attempt sent by two runs of its queue entry", () => {
  let control: ControlTestDatabase;
  let server: Server;
  let url: string;
  /** Requests the receiver holds until the test answers them, in arrival order. */
  const held: { webhookId: string; response: ServerResponse }[] = [];
  const logLines: string[] = [];

  before(async () => {
    control = await createControlTestDatabase();
    server = createServer((request, response) => {
      request.resume();
      request.on("end", () => {
        held.push({ webhookId: String(request.headers["webhook-id"]), response });
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

  const deps = (): DeliveryDeps => ({
    pool: control.pool,
    secretBox,
    logger: pino({ level: "info" }, { write: (line: string) => logLines.push(line) }),
    policy: parseAllowList(["127.0.0.1"]),
    timeoutMs: 20_000,
    schedule: [0, 60_000, 60_000],
    callbackSecret: generateWebhookSecret(),
  });

  async function pendingDelivery(): Promise<string> {
    const subscription = await insertSubscription(control.pool, {
      urlSealed: secretBox.encrypt(url),
      urlMasked: url,
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

  async function requestsHeld(count: number): Promise<void> {
    while (held.length < count) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  function answer(index: number, status: number): void {
    const request = held[index];
    assert.ok(request);
    request.response.writeHead(status);
    request.response.end("answer");
  }

  it("is logged once, the first run's outcome stands and the second run warns instead of failing", async () => {
    const id = await pendingDelivery();
    // Both runs read the delivery as pending with no attempt made, and both send attempt 1.
    const first = attemptDelivery(deps(), id, 1);
    await requestsHeld(1);
    const second = attemptDelivery(deps(), id, 1);
    await requestsHeld(2);
    assert.equal(held[0]?.webhookId, held[1]?.webhookId, "the receiver can deduplicate them");

    answer(0, 200);
    assert.deepEqual(await first, { kind: "done" });
    // The second run's POST failed: its outcome must not overwrite the first run's success, nor
    // queue another attempt.
    answer(1, 500);
    const secondOutcome = await second.catch((error: unknown) => error);
    assert.deepEqual(secondOutcome, { kind: "done" });

    const delivery = await getDelivery(control.pool, id);
    assert.equal(delivery?.state, "succeeded");
    assert.equal(delivery.attempts, 1);
    assert.equal(delivery.lastStatusCode, 200);
    const attempts = await listAttempts(control.pool, id);
    assert.deepEqual(
      attempts.map((a) => [a.attempt, a.statusCode]),
      [[1, 200]],
    );
    const warnings = logLines
      .map((line) => JSON.parse(line) as { msg: string; deliveryId?: string; attempt?: number })
      .filter((entry) => entry.deliveryId === id && entry.msg.includes("sent twice"));
    assert.equal(warnings.length, 1, logLines.join(""));
    assert.equal(warnings[0]?.attempt, 1);
  });

  it("is logged once when both runs record it at the same moment", async () => {
    const id = await pendingDelivery();
    const sent = held.length;
    const runs = [attemptDelivery(deps(), id, 1), attemptDelivery(deps(), id, 1)];
    await requestsHeld(sent + 2);
    answer(sent, 500);
    answer(sent + 1, 500);
    const outcomes = await Promise.all(runs);
    // One run schedules attempt 2; the other leaves that to it.
    assert.deepEqual(outcomes.map((o) => o.kind).sort(), ["done", "retry"]);
    assert.equal((await getDelivery(control.pool, id))?.attempts, 1);
    assert.equal((await listAttempts(control.pool, id)).length, 1);
  });
});
