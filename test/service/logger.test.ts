/** Log redaction: connection strings, secrets and credentials never reach a log line. */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import Fastify from "fastify";
import { ErrorCode, FleetwayError } from "../../src/engine/errors.js";
import { createLogger, redactSecretFields, TOO_DEEP } from "../../src/http/logger.js";
import { REDACTED } from "../../src/webhooks/origin-only.js";

/** A logger whose JSON lines are collected, parsed. */
function capture(logLevel = "info"): {
  logger: ReturnType<typeof createLogger>;
  lines: string[];
  records: () => Record<string, unknown>[];
} {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      done();
    },
  });
  const logger = createLogger({ logLevel }, sink);
  return {
    logger,
    lines,
    records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

const url = (tag: string): string => `postgres://app:${tag}@db.internal:5432/tenant_a`;

describe("log redaction", () => {
  it("censors connection strings under databaseUrl and connectionString at several depths", () => {
    const { logger, lines, records } = capture();
    logger.info({ databaseUrl: url("LEAK01") }, "top");
    logger.info({ tenant: { databaseUrl: url("LEAK02") } }, "one level");
    logger.info({ job: { tenant: { connectionString: url("LEAK03") } } }, "two levels");
    logger.info({ a: { b: { c: { d: { databaseUrl: url("LEAK04") } } } } }, "four levels");
    logger.info({ tenants: [{ databaseUrl: url("LEAK05") }, { id: "t2" }] }, "array");
    logger.info({ body: { databaseUrl: url("LEAK06"), name: "acme" } }, "request body");
    logger.info(
      { config: { controlDatabaseUrl: url("LEAK07"), redisUrl: "redis://:LEAK08@r:6379" } },
      "config",
    );
    assert.equal(lines.length, 7);
    for (const line of lines) assert.doesNotMatch(line, /LEAK/);
    const [top, , , , array, body] = records();
    assert.equal(top?.databaseUrl, REDACTED);
    assert.deepEqual(array?.tenants, [{ databaseUrl: REDACTED }, { id: "t2" }]);
    assert.deepEqual(body?.body, { databaseUrl: REDACTED, name: "acme" }, "the rest stays");
  });

  it("censors authorization headers (any case), passwords, API keys and webhook secrets", () => {
    const { logger, lines } = capture();
    logger.info({ req: { headers: { authorization: "Bearer LEAK11" } } }, "request");
    logger.info({ headers: { Authorization: "Bearer LEAK12", cookie: "s=LEAK13" } }, "headers");
    logger.info({ password: "LEAK14", nested: { secret: "LEAK15" } }, "password");
    logger.info({ apiKeys: [{ name: "ci", scope: "admin", secret: "LEAK16" }] }, "keys");
    logger.info({ webhook: { callbackSecret: "whsec_LEAK17", previousSecret: "LEAK18" } }, "hook");
    logger.info({ job: { callbackUrl: "https://hooks.example/LEAK19" } }, "callback");
    assert.equal(lines.length, 6);
    for (const line of lines) assert.doesNotMatch(line, /LEAK/);
  });

  it("logs webhook URLs as their origin only: tokens are in the query, the fragment or the path", () => {
    const { logger, lines, records } = capture();
    logger.info({ url: "https://hooks.example/in?token=LEAK31&x=1" }, "attempt");
    logger.child({ url: "https://hooks.example/in?LEAK32" }).info("child");
    logger.info({ delivery: { webhookUrl: "http://h.example/p#LEAK33" } }, "nested");
    logger.info({ URL: "https://hooks.example/a?b=LEAK34" }, "any case");
    // Slack, Discord and Teams incoming webhooks carry their secret in the path.
    logger.info({ url: "https://hooks.slack.example/services/T0/B0/LEAK35" }, "slack");
    logger.info({ url: "https://u:LEAK36@hooks.example:8443/x" }, "userinfo");
    assert.equal(lines.length, 6);
    for (const line of lines) assert.doesNotMatch(line, /LEAK/);
    assert.equal(records()[0]?.url, `https://hooks.example/${REDACTED}`);
    assert.deepEqual(records()[2]?.delivery, { webhookUrl: `http://h.example/${REDACTED}` });
    assert.equal(records()[4]?.url, `https://hooks.slack.example/${REDACTED}`);
    assert.equal(records()[5]?.url, `https://${REDACTED}@hooks.example:8443/${REDACTED}`);
  });

  it("leaves a request's own path and query alone, and a bare origin", () => {
    const { logger, records } = capture();
    logger.info({ req: { url: "/v1/jobs?limit=5" }, url: "http://127.0.0.1:8080" }, "r");
    assert.deepEqual(records()[0]?.req, { url: "/v1/jobs?limit=5" });
    assert.equal(records()[0]?.url, "http://127.0.0.1:8080");
  });

  it("leaves ordinary fields and messages alone", () => {
    const { logger, records } = capture();
    logger.info({ jobId: "j1", tenantId: "t1", req: { url: "/v1/jobs" } }, "job queued");
    assert.deepEqual(
      { ...records()[0], time: undefined },
      {
        level: 30,
        time: undefined,
        service: "fleetway",
        jobId: "j1",
        tenantId: "t1",
        req: { url: "/v1/jobs" },
        msg: "job queued",
      },
    );
  });

  it("censors inside logged errors' data and in child-logger bindings", () => {
    const { logger, lines, records } = capture();
    const error = new FleetwayError(ErrorCode.INTERNAL_ERROR, "boom", {
      tenant: { databaseUrl: url("LEAK21") },
    });
    logger.error({ err: error }, "failed");
    logger.error(Object.assign(new Error("plain"), { connectionString: url("LEAK22") }));
    const child = logger.child({ tenant: { databaseUrl: url("LEAK23") } });
    child.info("from the child");
    child.child({ job: { connectionString: url("LEAK24") } }).info({ step: 1 }, "grandchild");
    assert.equal(lines.length, 4);
    for (const line of lines) assert.doesNotMatch(line, /LEAK/);
    const [failed] = records();
    const err = failed?.err as Record<string, unknown>;
    assert.equal(err.code, "INTERNAL_ERROR", "the error itself is still logged");
    assert.deepEqual(err.data, { tenant: { databaseUrl: REDACTED } });
  });

  it("never modifies the logged object, frozen or not", () => {
    const frozen = Object.freeze({ tenant: Object.freeze({ databaseUrl: url("KEEP") }) });
    const open = { tenant: { databaseUrl: url("KEEP"), id: "t1" }, other: { id: 2 } };
    const { logger, lines } = capture();
    logger.info({ frozen, open }, "objects");
    assert.doesNotMatch(lines[0] ?? "", /KEEP/);
    assert.equal(frozen.tenant.databaseUrl, url("KEEP"));
    assert.equal(open.tenant.databaseUrl, url("KEEP"));
    const redacted = redactSecretFields(open);
    assert.notEqual(redacted, open);
    assert.equal(redacted.other, open.other, "parts without secrets are shared, not copied");
  });

  it("ends cycles and drops plain data nested too deep to search", () => {
    const cyclic: Record<string, unknown> = { secret: "LEAK31", id: 1 };
    cyclic.self = cyclic;
    const redacted = redactSecretFields(cyclic);
    const text = JSON.stringify(redacted); // would throw on a cycle
    assert.doesNotMatch(text, /LEAK/);
    assert.match(text, new RegExp(TOO_DEEP.replace(/[[\]]/g, "\\$&")));
    assert.equal(cyclic.secret, "LEAK31");

    let deep: Record<string, unknown> = { databaseUrl: url("LEAK32") };
    for (let level = 0; level < 12; level++) deep = { inner: deep };
    const { logger, lines } = capture();
    logger.info(deep, "deep");
    assert.doesNotMatch(lines[0] ?? "", /LEAK/);
    assert.match(lines[0] ?? "", /"inner":\{"inner":/, "shallow levels are kept");
  });

  it("redacts in Fastify's request logs when given as loggerInstance", async () => {
    const { logger, lines } = capture();
    const app = Fastify({ loggerInstance: logger });
    app.post("/echo", (request, reply) => {
      request.log.info({ body: request.body }, "got a body");
      void reply.send({ ok: true });
    });
    try {
      const response = await app.inject({
        method: "POST",
        url: "/echo",
        headers: { authorization: "Bearer LEAK41" },
        payload: { databaseUrl: url("LEAK42") },
      });
      assert.equal(response.statusCode, 200);
    } finally {
      await app.close();
    }
    assert.ok(lines.some((line) => line.includes('"got a body"')));
    assert.ok(
      lines.some((line) => line.includes('"reqId"')),
      "request logs are children",
    );
    for (const line of lines) assert.doesNotMatch(line, /LEAK/);
  });

  it("honours the level", () => {
    const { logger, lines } = capture("warn");
    logger.info("hidden");
    logger.warn("shown");
    assert.equal(lines.length, 1);
  });
});
