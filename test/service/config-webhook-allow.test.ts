/** FLEETWAY_WEBHOOK_ALLOW is validated at start-up like every other setting. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError } from "../../src/config/config-error.js";
import { loadConfig } from "../../src/config/load-config.js";
import { isForbiddenAddress, parseAllowList } from "../../src/webhooks/ssrf-guard.js";

describe("FLEETWAY_WEBHOOK_ALLOW", () => {
  it("accepts hosts, addresses and CIDRs", () => {
    const config = loadConfig(
      { FLEETWAY_WEBHOOK_ALLOW: "127.0.0.1, 10.1.0.0/16, hooks.internal" },
      "/srv",
    );
    assert.deepEqual(config.webhooks.allow, ["127.0.0.1", "10.1.0.0/16", "hooks.internal"]);
  });

  for (const value of ["10.1.0.0/", "10.0.0.0/33", "10.0.0.0/abc", "fd00::/129"]) {
    it(`refuses ${JSON.stringify(value)} with one line naming the setting`, () => {
      let policyError: unknown = null;
      try {
        // What start-up builds from the config: a bad prefix must not get this far.
        const policy = parseAllowList(
          loadConfig({ FLEETWAY_WEBHOOK_ALLOW: value }, "/srv").webhooks.allow,
        );
        assert.ok(
          isForbiddenAddress("169.254.169.254", policy),
          `${value} must not allow the metadata address`,
        );
        assert.fail(`${value} was accepted`);
      } catch (error) {
        policyError = error;
      }
      assert.ok(policyError instanceof ConfigError, `a ConfigError, got ${String(policyError)}`);
      assert.equal(policyError.setting, "FLEETWAY_WEBHOOK_ALLOW");
      assert.ok(policyError.message.startsWith("FLEETWAY_WEBHOOK_ALLOW"), policyError.message);
    });
  }
});
