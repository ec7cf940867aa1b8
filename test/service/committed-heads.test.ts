/**
 * CommittedHeads: what a run that stopped half-way committed to the tenant's version table, from
 * the runner's progress events alone.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ErrorCode, FleetwayError } from "../../src/engine/errors.js";
import type { MigrationPlan, PlanStep } from "../../src/engine/plan/migration-plan.js";
import type { TransactionMode } from "../../src/engine/runner/run-options.js";
import { CommittedHeads } from "../../src/jobs/committed-heads.js";

/** r3 -> r2 -> r1 -> base, as a downgrade to base plans it. */
const down = (revision: string, headsAfter: string[]): PlanStep => ({
  kind: "revision",
  revision,
  direction: "down",
  headChange: { kind: "delete", version: revision },
  headsAfter,
});
const STEPS = [down("r3", ["r2"]), down("r2", ["r1"]), down("r1", [])];
const PLAN: MigrationPlan = {
  operation: "downgrade",
  target: "base",
  fromHeads: ["r3"],
  steps: STEPS,
  toHeads: [],
};

/** A run that committed (or, in `all` mode, ran) the first `done` steps, then failed. */
function runFailingAfter(mode: TransactionMode, done: number): CommittedHeads {
  const committed = new CommittedHeads(mode);
  committed.onRunnerEvent({ kind: "planned", plan: PLAN });
  for (const [index, step] of STEPS.slice(0, done).entries()) {
    committed.onRunnerEvent({ kind: "step-started", step, index, total: 3, attempt: 1 });
    committed.onRunnerEvent({ kind: "step-succeeded", step, index, total: 3, durationMs: 1 });
  }
  return committed;
}

const sqlFailure = new FleetwayError(ErrorCode.MIGRATION_FAILED, "division by zero", {
  sqlstate: "22012",
});
/** What the runner makes of a connection terminated under a step (pg's error as the cause). */
function connectionLost(data: Record<string, unknown> = {}): FleetwayError {
  const cause = Object.assign(new Error("terminating connection due to administrator command"), {
    code: "57P01",
  });
  return new FleetwayError(ErrorCode.MIGRATION_FAILED, String(cause), data, { cause });
}

describe("CommittedHeads", () => {
  it("per-revision: the heads after the last step that committed", () => {
    assert.deepEqual(runFailingAfter("per-revision", 0).afterFailure(sqlFailure), {
      kind: "known",
      heads: ["r3"],
    });
    assert.deepEqual(runFailingAfter("per-revision", 2).afterFailure(sqlFailure), {
      kind: "known",
      heads: ["r1"],
    });
  });

  it("all: the heads the run started from, whatever its steps did before the failure", () => {
    assert.deepEqual(runFailingAfter("all", 2).afterFailure(sqlFailure), {
      kind: "known",
      heads: ["r3"],
    });
  });

  it("a run that failed before its plan read nothing", () => {
    const lockBusy = new FleetwayError(ErrorCode.LOCK_BUSY, "busy", {});
    assert.deepEqual(new CommittedHeads("per-revision").afterFailure(lockBusy), {
      kind: "not-seen",
    });
  });

  it("a connection lost while a COMMIT may have landed leaves the heads unknown", () => {
    assert.deepEqual(runFailingAfter("per-revision", 1).afterFailure(connectionLost()), {
      kind: "unknown",
    });
    assert.deepEqual(runFailingAfter("all", 3).afterFailure(connectionLost({ commit: true })), {
      kind: "unknown",
    });
    // In `all` mode a step's lost connection takes the open transaction with it.
    assert.deepEqual(runFailingAfter("all", 1).afterFailure(connectionLost()), {
      kind: "known",
      heads: ["r3"],
    });
  });
});
