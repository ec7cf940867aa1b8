/**
 * Percent waves and percent failure thresholds are whole numbers of tenants: `percent` of `n`
 * tenants, rounded up for a wave and down for a threshold, with no floating-point error on the way
 * ((7 / 100) * 100 is 7.000000000000001 in binary floating point).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveWaveSizes } from "../../src/control/rollout-store.js";
import { allowedFailures } from "../../src/jobs/rollout-coordinator.js";

describe("rollout percentages", () => {
  it("a percent wave of a fleet is exactly that share of it when it is a whole number", () => {
    assert.deepEqual(resolveWaveSizes([{ percent: 7 }, { percent: 100 }], 100), [7, 100]);
    assert.deepEqual(resolveWaveSizes([{ percent: 14 }, { percent: 100 }], 100), [14, 100]);
    assert.deepEqual(resolveWaveSizes([{ percent: 28 }, { percent: 100 }], 25), [7, 25]);
    assert.deepEqual(resolveWaveSizes([{ percent: 7 }, { percent: 100 }], 1000), [70, 1000]);
    // Rounded up otherwise: 10 % of 15 tenants is 2.
    assert.deepEqual(resolveWaveSizes([{ percent: 10 }, { percent: 100 }], 15), [2, 15]);
  });

  it("a percent threshold allows exactly that share of a wave when it is a whole number", () => {
    assert.equal(allowedFailures({ percent: 29 }, 100), 29);
    assert.equal(allowedFailures({ percent: 57 }, 100), 57);
    assert.equal(allowedFailures({ percent: 58 }, 50), 29);
    // Rounded down otherwise: 10 % of 15 tenants allows 1.
    assert.equal(allowedFailures({ percent: 10 }, 15), 1);
  });
});
