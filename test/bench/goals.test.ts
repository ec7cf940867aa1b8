/** The benchmarks' verdicts on issue 6's goals: judged from a run's numbers, or not at all. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { atLeast, atMost } from "../../bench/lib/goals.js";

describe("bench goals", () => {
  it("judges a ratio against its limit, the limit itself included", () => {
    assert.deepEqual(atMost("fleet", 1.3, 1.2, "×"), {
      goal: "fleet",
      measured: "1.30×",
      met: false,
    });
    assert.equal(atMost("fleet", 1.2, 1.2, "×").met, true);
    assert.equal(atLeast("peer", 5, 5, "×").met, true);
    assert.equal(atLeast("peer", 4.99, 5, "×").met, false);
  });

  it("prints large numbers without decimals", () => {
    assert.equal(atLeast("post", 2500.4, 2000, " req/s").measured, "2500 req/s");
  });

  it("judges nothing when a contender was left out of the run", () => {
    for (const missing of [Number.NaN, 1 / 0])
      assert.deepEqual(atLeast("get", missing, 0.5, "×"), {
        goal: "get",
        measured: "n/a",
        met: null,
      });
  });
});
