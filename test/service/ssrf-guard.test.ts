/**
 * The SSRF guard judges an IPv6 address that carries an IPv4 address (mapped, compatible,
 * translated, NAT64, 6to4, Teredo) by that IPv4 address too, in every spelling, both when a URL
 * is registered and when DNS answers at delivery time.
 */
import assert from "node:assert/strict";
import type { LookupAddress } from "node:dns";
import { describe, it } from "node:test";
import { FleetwayError } from "../../src/engine/errors.js";
import { postWebhook } from "../../src/webhooks/post-webhook.js";
import {
  assertWebhookUrlAllowed,
  guardedLookup,
  isForbiddenAddress,
  parseAllowList,
  type Resolver,
} from "../../src/webhooks/ssrf-guard.js";
import { startReceiver } from "../support/webhook-receiver.js";

/** IPv6 spellings of loopback, private and metadata IPv4 addresses. */
const EMBEDDED_PRIVATE = [
  "::ffff:127.0.0.1",
  "::ffff:7f00:1",
  "::FFFF:7F00:0001",
  "0:0:0:0:0:ffff:127.0.0.1",
  "0000:0000:0000:0000:0000:ffff:7f00:0001",
  "::ffff:169.254.169.254",
  "::127.0.0.1",
  "::7f00:1",
  "::10.0.0.1",
  "::ffff:0:127.0.0.1",
  "::ffff:0:a9fe:a9fe",
  "64:ff9b::7f00:1",
  "64:ff9b::127.0.0.1",
  "64:ff9b::a9fe:a9fe",
  "64:ff9b::192.168.1.1",
  "64:ff9b:1::1.2.3.4",
  "2002:7f00:1::",
  "2002:a9fe:a9fe::1",
  "2002:c0a8:101:1::1",
  "2001:0:7f00:1::1",
  // Teredo: the client's address is stored inverted (127.0.0.1 → 80ff:fffe).
  "2001:0:4136:e378:8000:63bf:80ff:fffe",
  "fec0::1",
];

/** Public addresses, in the same forms: these must stay allowed. */
const EMBEDDED_PUBLIC = [
  "::ffff:8.8.8.8",
  "::ffff:808:808",
  "64:ff9b::808:808",
  "64:ff9b::8.8.8.8",
  "2002:808:808::1",
  "2001:4860:4860::8888",
  "2606:4700:4700::1111",
  "8.8.8.8",
];

const NONE = parseAllowList([]);

/** A resolver that answers `answers` for every host (what a DNS server could answer). */
const answering =
  (answers: string[]): Resolver =>
  (_hostname, _options, callback) => {
    callback(
      null,
      answers.map((address): LookupAddress => ({ address, family: address.includes(":") ? 6 : 4 })),
    );
  };

const lookupError = (lookup: ReturnType<typeof guardedLookup>, host: string) =>
  new Promise<Error | null>((resolve) => {
    lookup(host, { all: false }, (error) => {
      resolve(error);
    });
  });

describe("SSRF guard: IPv4 addresses inside IPv6", () => {
  for (const address of EMBEDDED_PRIVATE) {
    it(`refuses ${address}`, async () => {
      assert.equal(isForbiddenAddress(address, NONE), true);
      // Registration: the literal as a URL host (the URL parser rewrites it to its own spelling).
      await assert.rejects(
        assertWebhookUrlAllowed(`http://[${address}]:8080/hook?x=1`, NONE),
        (error: unknown) =>
          error instanceof FleetwayError && error.code === "WEBHOOK_URL_FORBIDDEN",
      );
      // Delivery: a DNS answer.
      const error = await lookupError(guardedLookup(NONE, answering([address])), "hooks.example");
      assert.match(String(error?.message), /loopback, private, link-local or metadata/);
    });
  }

  for (const address of EMBEDDED_PUBLIC) {
    it(`allows ${address}`, async () => {
      assert.equal(isForbiddenAddress(address, NONE), false);
      const host = address.includes(":") ? `[${address}]` : address;
      await assertWebhookUrlAllowed(`https://${host}/hook`, NONE);
      assert.equal(
        await lookupError(guardedLookup(NONE, answering([address])), "hooks.example"),
        null,
      );
    });
  }

  it("refuses a host when any of its DNS answers is forbidden", async () => {
    const error = await lookupError(
      guardedLookup(NONE, answering(["8.8.8.8", "64:ff9b::a9fe:a9fe"])),
      "hooks.example",
    );
    assert.match(String(error?.message), /64:ff9b::a9fe:a9fe/);
  });

  it("an allow-listed IPv4 address is allowed in its IPv6 spellings too", async () => {
    const policy = parseAllowList(["127.0.0.1"]);
    for (const address of ["127.0.0.1", "::ffff:127.0.0.1", "::ffff:7f00:1", "::7f00:1"]) {
      assert.equal(isForbiddenAddress(address, policy), false, address);
    }
    await assertWebhookUrlAllowed("http://[::ffff:127.0.0.1]:8080/hook", policy);
    assert.equal(isForbiddenAddress("127.0.0.2", policy), true);
    assert.equal(isForbiddenAddress("::ffff:10.0.0.1", policy), true);
  });

  it("allow-listed IPv6 addresses, networks and hosts stay allowed", async () => {
    const policy = parseAllowList(["64:ff9b::/96", "::1", "hooks.internal"]);
    assert.equal(isForbiddenAddress("64:ff9b::7f00:1", policy), false);
    assert.equal(isForbiddenAddress("::1", policy), false);
    assert.equal(isForbiddenAddress("2002:7f00:1::", policy), true);
    await assertWebhookUrlAllowed("http://hooks.internal/hook", policy);
    assert.equal(
      await lookupError(guardedLookup(policy, answering(["10.0.0.1"])), "hooks.internal"),
      null,
    );
  });

  it("still refuses the plain private ranges", () => {
    for (const address of ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "fd00::1", "fe80::1"])
      assert.equal(isForbiddenAddress(address, NONE), true, address);
  });

  it("checks an address literal again when sending (no DNS lookup happens for one)", async () => {
    // A URL stored earlier (before these rules, or under a wider allow-list) is not sent.
    const receiver = await startReceiver();
    try {
      const port = new URL(receiver.url).port;
      for (const host of ["127.0.0.1", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]"]) {
        const result = await postWebhook(
          `http://${host}:${port}/stored`,
          "{}",
          {},
          {
            timeoutMs: 2000,
            policy: NONE,
          },
        );
        assert.equal(result.statusCode, null, host);
        assert.match(String(result.error), /loopback, private, link-local or metadata/, host);
      }
      assert.equal(receiver.received.length, 0);
      const allowed = await postWebhook(
        `http://[::ffff:127.0.0.1]:${port}/stored`,
        "{}",
        {},
        {
          timeoutMs: 2000,
          policy: parseAllowList(["127.0.0.1"]),
        },
      );
      assert.equal(allowed.statusCode, 200, String(allowed.error));
    } finally {
      await receiver.close();
    }
  });
});
