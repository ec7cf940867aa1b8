/**
 * JobProgressRecorder: what the runner reports is written in order and completely, but a run of
 * fast steps costs a few control-database writes, not one per step.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type pg from "pg";
import { pino } from "pino";
import { claimJobForRun } from "../../src/control/claim-job.js";
import { appendJobEvent, listJobEvents } from "../../src/control/job-event-store.js";
import { getJob } from "../../src/control/job-store.js";
import type { Queryable, TransactionalQueryable } from "../../src/control/queryable.js";
import { ErrorCode, FleetwayError } from "../../src/engine/errors.js";
import type { MigrationPlan, PlanStep } from "../../src/engine/plan/migration-plan.js";
import { NO_EARLIER_ATTEMPTS, type EarlierAttempts } from "../../src/jobs/earlier-attempts.js";
import { JobProgressRecorder } from "../../src/jobs/job-progress-recorder.js";
import { JobEventPublisher } from "../../src/webhooks/job-event-publisher.js";
import {
  createControlTestDatabase,
  type ControlTestDatabase,
} from "../support/control-database.js";

const STEPS = 12;

/**
 * A recorder of job `id` writing through `db`, with no webhook queue, no callback and no
 * subscription: it never needs a transaction.
 */
function recorderFor(
  db: Queryable,
  id: string,
  earlier: EarlierAttempts = NO_EARLIER_ATTEMPTS,
): JobProgressRecorder {
  const silent = pino({ level: "silent" });
  const withoutTransactions: TransactionalQueryable = {
    query: ((text: string, values?: unknown[]) =>
      db.query(text, values)) as TransactionalQueryable["query"],
    connect: (() =>
      Promise.reject(new Error("no transaction expected"))) as TransactionalQueryable["connect"],
  };
  return new JobProgressRecorder(
    withoutTransactions,
    id,
    silent,
    new JobEventPublisher(null, silent),
    { hasCallback: false, subscribed: false },
    earlier,
  );
}

/** A plan of one step, `r0`, from base. */
function oneStepPlan(): { step: PlanStep; plan: MigrationPlan } {
  const step: PlanStep = {
    kind: "revision",
    revision: "r0",
    direction: "up",
    headChange: { kind: "insert", version: "r0" },
    headsAfter: ["r0"],
  };
  return {
    step,
    plan: { operation: "upgrade", target: "head", fromHeads: [], steps: [step], toHeads: ["r0"] },
  };
}

/** Upgrade steps through `revisions` in order, from base. */
function linearSteps(revisions: readonly string[]): PlanStep[] {
  return revisions.map((revision, i) => ({
    kind: "revision",
    revision,
    direction: "up",
    headChange:
      i === 0
        ? { kind: "insert", version: revision }
        : { kind: "update", from: revisions[i - 1] ?? "", to: revision },
    headsAfter: [revision],
  }));
}

/** `pool` as a Queryable that counts the statements sent through it. */
function countingWrites(pool: pg.Pool): { queryable: Queryable; writes: () => number } {
  let writes = 0;
  const queryable: Queryable = {
    query: (async (text: string, values?: unknown[]) => {
      writes++;
      return pool.query(text, values);
    }) as Queryable["query"],
  };
  return { queryable, writes: () => writes };
}

describe("JobProgressRecorder", () => {
  let control: ControlTestDatabase;
  let pool: pg.Pool;

  before(async () => {
    control = await createControlTestDatabase();
    pool = control.pool;
  });
  after(async () => {
    await control.drop();
  });

  /** A new job of acme's, claimed: its earlier active job (one at most) is ended first. */
  async function claimedJob(): Promise<string> {
    await pool.query("UPDATE jobs SET state = 'succeeded' WHERE state IN ('queued', 'running')");
    const id = await control.queuedJob();
    await claimJobForRun(pool, id, "worker-1");
    return id;
  }

  it("writes every step and event of a fast run, in order, in a few writes", async () => {
    const id = await control.queuedJob();
    await claimJobForRun(pool, id, "worker-1");
    const { queryable, writes } = countingWrites(pool);
    const recorder = recorderFor(queryable, id);
    const steps: PlanStep[] = Array.from({ length: STEPS }, (_v, i) => ({
      kind: "revision",
      revision: `r${i}`,
      direction: "up",
      headChange: { kind: "update", from: `r${i - 1}`, to: `r${i}` },
      headsAfter: [`r${i}`],
    }));
    const plan: MigrationPlan = {
      operation: "upgrade",
      target: "head",
      fromHeads: [],
      steps,
      toHeads: [`r${STEPS - 1}`],
    };
    recorder.onRunnerEvent({ kind: "lock-acquired", waitedMs: 0 });
    recorder.onRunnerEvent({ kind: "planned", plan });
    for (const [index, step] of steps.entries()) {
      recorder.onRunnerEvent({ kind: "step-started", step, index, total: STEPS, attempt: 1 });
      await new Promise((resolve) => setTimeout(resolve, 3));
      recorder.onRunnerEvent({ kind: "step-succeeded", step, index, total: STEPS, durationMs: 3 });
    }
    await recorder.flush();

    const events = await listJobEvents(pool, id, { limit: 100 });
    assert.deepEqual(
      events.map((e) => e.type),
      ["job.queued", "job.running", "job.started", ...steps.map(() => "job.progress")],
    );
    assert.deepEqual(
      events.map((e) => e.seq),
      events.map((_e, i) => i + 1),
    );
    assert.deepEqual(
      events.slice(3).map((e) => (e.data.step as { revision: string }).revision),
      steps.map((s) => (s.kind === "revision" ? s.revision : "")),
    );
    const job = await getJob(pool, id);
    assert.equal(job?.phase, "migrating");
    assert.equal(job.stepsDone, STEPS);
    assert.ok(job.steps.every((s) => s.state === "succeeded"));
    // Steps ~3 ms apart, writes at most every 100 ms: far fewer writes than the 13 reports (with
    // room for a slow machine).
    assert.ok(writes() <= 6, `${writes()} writes for ${STEPS + 1} reports`);
  });

  it("a job with nothing to do writes nothing before its outcome, which carries its plan", async () => {
    const id = await claimedJob();
    const { queryable, writes } = countingWrites(pool);
    const recorder = recorderFor(queryable, id);
    const plan: MigrationPlan = {
      operation: "upgrade",
      target: "head",
      fromHeads: ["r0"],
      steps: [],
      toHeads: ["r0"],
    };
    recorder.onRunnerEvent({ kind: "lock-acquired", waitedMs: 0 });
    recorder.onRunnerEvent({ kind: "planned", plan });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const left = await recorder.close();

    assert.equal(writes(), 0, "the plan goes with the outcome");
    assert.deepEqual(
      left.events.map((e) => e.type),
      ["job.started"],
    );
    assert.deepEqual(
      { stepsTotal: left.progress.stepsTotal, fromHeads: left.progress.fromHeads },
      { stepsTotal: 0, fromHeads: ["r0"] },
    );
  });

  it("writes a plan with steps before they run, without waiting the interval", async () => {
    const id = await claimedJob();
    const { queryable, writes } = countingWrites(pool);
    const recorder = recorderFor(queryable, id);
    const { plan } = oneStepPlan();
    // The lock wait's report starts the writer's pause; the plan ends it.
    recorder.onRunnerEvent({ kind: "lock-waiting", holder: null });
    recorder.onRunnerEvent({ kind: "planned", plan });
    // Well within the 100 ms interval: only a plan written at once is written by now.
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(writes(), 1);
    // Should this attempt's outcome never be written, the next one finds this plan recorded.
    await recorder.flush();
    const job = await getJob(pool, id);
    assert.deepEqual(
      { stepsTotal: job?.stepsTotal, steps: job?.steps.map((s) => s.revision) },
      { stepsTotal: 1, steps: ["r0"] },
    );
    const events = await listJobEvents(pool, id, { limit: 100 });
    assert.deepEqual(
      events.map((e) => e.type),
      ["job.queued", "job.running", "job.waiting_for_lock", "job.started"],
    );
    const left = await recorder.close();
    assert.deepEqual(left.events, []);
  });

  it("close() waits for the write in flight and hands back what is left, for the job's outcome", async () => {
    // acme has one active job at most: end the one of the test above.
    const id = await claimedJob();
    let releaseWrite: () => void = () => undefined;
    const writeHeld = new Promise<void>((resolve) => {
      releaseWrite = resolve;
    });
    let writes = 0;
    const slow: Queryable = {
      query: (async (text: string, values?: unknown[]) => {
        writes++;
        await writeHeld;
        return pool.query(text, values);
      }) as Queryable["query"],
    };
    const recorder = recorderFor(slow, id);
    const { step, plan } = oneStepPlan();
    recorder.onRunnerEvent({ kind: "planned", plan }); // a plan with steps: written at once
    await new Promise((resolve) => setImmediate(resolve)); // the write has begun, held above
    recorder.onRunnerEvent({ kind: "step-started", step, index: 0, total: 1, attempt: 1 });
    recorder.onRunnerEvent({ kind: "step-succeeded", step, index: 0, total: 1, durationMs: 1 });
    const closing = recorder.close();
    releaseWrite();
    const left = await closing;

    assert.equal(writes, 1, "nothing written after close()");
    assert.deepEqual(
      left.events.map((e) => e.type),
      ["job.progress"],
    );
    // The step's progress came after the write began: it is handed back, for the outcome to carry.
    assert.equal(left.progress.stepsDone, 1);
    const events = await listJobEvents(pool, id, { limit: 100 });
    assert.deepEqual(
      events.map((e) => e.type),
      ["job.queued", "job.running", "job.started"],
    );
    assert.equal(recorder.currentSteps[0]?.state, "succeeded");
  });

  for (const [mode, retryFrom] of [
    ["all", 0],
    ["per-revision", 2],
  ] as const) {
    it(`a retry in ${mode} mode shows the steps it rolled back pending again, and only those`, async () => {
      const id = await claimedJob();
      const recorder = recorderFor(pool, id);
      const steps = linearSteps(["r0", "r1", "r2"]);
      const plan: MigrationPlan = {
        operation: "upgrade",
        target: "head",
        fromHeads: [],
        steps,
        toHeads: ["r2"],
      };
      recorder.onRunnerEvent({ kind: "planned", plan });
      for (const [index, step] of steps.entries()) {
        recorder.onRunnerEvent({ kind: "step-started", step, index, total: 3, attempt: 1 });
        if (index < 2)
          recorder.onRunnerEvent({ kind: "step-succeeded", step, index, total: 3, durationMs: 1 });
      }
      const error = new FleetwayError(ErrorCode.MIGRATION_FAILED, "deadlock detected", {
        sqlstate: "40P01",
      });
      const [, , failed] = steps;
      assert.ok(failed !== undefined);
      recorder.onRunnerEvent({
        kind: "step-retrying",
        step: failed,
        index: 2,
        retryFrom,
        attempt: 1,
        delayMs: 500,
        cause: "deadlock",
        error,
      });
      await recorder.flush();

      const job = await getJob(pool, id);
      assert.equal(job?.stepsDone, retryFrom);
      // The failed step itself has not succeeded in either mode.
      assert.deepEqual(
        job.steps.slice(0, 2).map((s) => s.state),
        mode === "all" ? ["pending", "pending"] : ["succeeded", "succeeded"],
      );
      assert.notEqual(job.steps[2]?.state, "succeeded");
      const events = await listJobEvents(pool, id, { limit: 100 });
      const retrying = events.find((e) => e.type === "job.step_retrying");
      assert.equal(retrying?.data.stepsDone, retryFrom);
      assert.equal(retrying.data.revision, "r2");
    });
  }

  it("an all-mode retry after its COMMIT failed shows its one step pending again", async () => {
    const id = await claimedJob();
    const recorder = recorderFor(pool, id);
    const { step, plan } = oneStepPlan();
    recorder.onRunnerEvent({ kind: "planned", plan });
    recorder.onRunnerEvent({ kind: "step-started", step, index: 0, total: 1, attempt: 1 });
    recorder.onRunnerEvent({ kind: "step-succeeded", step, index: 0, total: 1, durationMs: 1 });
    const error = new FleetwayError(ErrorCode.MIGRATION_FAILED, "lock timeout at COMMIT", {
      sqlstate: "55P03",
      commit: true,
    });
    recorder.onRunnerEvent({
      kind: "step-retrying",
      step,
      index: 0,
      retryFrom: 0,
      attempt: 1,
      delayMs: 500,
      cause: "lock-timeout",
      error,
    });
    await recorder.flush();

    const job = await getJob(pool, id);
    assert.equal(job?.stepsDone, 0);
    assert.equal(job.steps[0]?.state, "pending");
    const events = await listJobEvents(pool, id, { limit: 100 });
    assert.equal(events.find((e) => e.type === "job.step_retrying")?.data.stepsDone, 0);
  });

  it("a write that fails is carried by the next one: no event is lost to a passing error", async () => {
    const id = await claimedJob();
    let writes = 0;
    const failingOnce: Queryable = {
      query: (async (text: string, values?: unknown[]) => {
        writes++;
        // PostgreSQL out of connections: an outage, not a fault of the write.
        if (writes === 1)
          throw Object.assign(new Error("sorry, too many clients already"), { code: "53300" });
        return pool.query(text, values);
      }) as Queryable["query"],
    };
    const recorder = recorderFor(failingOnce, id);
    const { step, plan } = oneStepPlan();
    recorder.onRunnerEvent({ kind: "planned", plan }); // written at once: the write that fails
    await new Promise((resolve) => setImmediate(resolve));
    recorder.onRunnerEvent({ kind: "step-started", step, index: 0, total: 1, attempt: 1 });
    recorder.onRunnerEvent({ kind: "step-succeeded", step, index: 0, total: 1, durationMs: 1 });
    // The writer retries after a pause, with what failed and what came since.
    await new Promise((resolve) => setTimeout(resolve, 1_300));
    await recorder.flush();

    assert.equal(writes, 2);
    const events = await listJobEvents(pool, id, { limit: 100 });
    assert.deepEqual(
      events.map((e) => e.type),
      ["job.queued", "job.running", "job.started", "job.progress"],
    );
    const job = await getJob(pool, id);
    assert.deepEqual(
      { stepsTotal: job?.stepsTotal, stepsDone: job?.stepsDone, fromHeads: job?.fromHeads },
      { stepsTotal: 1, stepsDone: 1, fromHeads: [] },
    );
  });

  it("close() while the control database fails hands back the failed write too", async () => {
    const id = await claimedJob();
    // Fails a moment after it is sent, so that close() comes while the write is in flight.
    const down: Queryable = {
      query: () =>
        new Promise<never>((_resolve, reject) =>
          setTimeout(() => {
            reject(new Error("connect ECONNREFUSED 127.0.0.1:5432"));
          }, 20),
        ),
    };
    const recorder = recorderFor(down, id);
    const { plan } = oneStepPlan();
    recorder.onRunnerEvent({ kind: "planned", plan }); // a plan with steps: written at once
    await new Promise((resolve) => setImmediate(resolve)); // the write has begun
    const closing = Date.now();
    const left = await recorder.close();
    // Not after the 1 s pause before a retry: close() does not wait on a database that is down.
    assert.ok(Date.now() - closing < 800, "close() waited for the retry");
    assert.deepEqual(
      left.events.map((e) => e.type),
      ["job.started"],
    );
    assert.equal(left.progress.stepsTotal, 1);
  });

  for (const [what, refusal] of [
    [
      "its data refused",
      Object.assign(new Error("invalid input syntax for type json"), { code: "22P02" }),
    ],
    ["an error of this process", new TypeError("Do not know how to serialize a BigInt")],
  ] as const) {
    it(`a write that fails for ${what} is dropped, not retried into the job's outcome`, async () => {
      const id = await claimedJob();
      let writes = 0;
      const refusingFirst: Queryable = {
        query: (async (text: string, values?: unknown[]) => {
          writes++;
          if (writes === 1) throw refusal;
          return pool.query(text, values);
        }) as Queryable["query"],
      };
      const recorder = recorderFor(refusingFirst, id);
      recorder.onRunnerEvent({ kind: "log", revision: "r0", message: "first" });
      await recorder.flush();
      recorder.onRunnerEvent({ kind: "log", revision: "r0", message: "second" });
      const left = await recorder.close();
      assert.deepEqual(left.events, [], "nothing handed on to the outcome");
      const events = await listJobEvents(pool, id, { limit: 100 });
      assert.deepEqual(
        events.map((e) => [e.type, e.data.message]),
        [
          ["job.queued", undefined],
          ["job.running", undefined],
          ["job.log", "second"],
        ],
      );
    });
  }

  it("a re-run after an interruption carries on the job's starting heads and applied steps", async () => {
    const id = await claimedJob();
    const steps = linearSteps(["r0", "r1", "r2"]);
    const planFrom = (from: number): MigrationPlan => ({
      operation: "upgrade",
      target: "head",
      fromHeads: from === 0 ? [] : [`r${from - 1}`],
      steps: steps.slice(from),
      toHeads: ["r2"],
    });
    // The first attempt commits r0 and is stopped during r1 (rolled back).
    const first = recorderFor(pool, id);
    first.onRunnerEvent({ kind: "planned", plan: planFrom(0) });
    const [r0, r1, r2] = steps as [PlanStep, PlanStep, PlanStep];
    first.onRunnerEvent({ kind: "step-started", step: r0, index: 0, total: 3, attempt: 1 });
    first.onRunnerEvent({ kind: "step-succeeded", step: r0, index: 0, total: 3, durationMs: 1 });
    first.onRunnerEvent({ kind: "step-started", step: r1, index: 1, total: 3, attempt: 1 });
    await first.flush();
    await first.close();

    const recorded = await getJob(pool, id);
    assert.ok(recorded !== null);
    const rerun = recorderFor(pool, id, {
      fromHeads: recorded.fromHeads,
      steps: recorded.steps,
      planApplied: () => false,
    });
    rerun.onRunnerEvent({ kind: "planned", plan: planFrom(1) });
    for (const [index, step] of [r1, r2].entries()) {
      rerun.onRunnerEvent({ kind: "step-started", step, index, total: 2, attempt: 1 });
      rerun.onRunnerEvent({ kind: "step-succeeded", step, index, total: 2, durationMs: 1 });
    }
    await rerun.flush();

    assert.deepEqual(
      { fromHeads: rerun.fromHeads, appliedBefore: rerun.stepsAppliedBefore },
      { fromHeads: [], appliedBefore: 1 },
    );
    const job = await getJob(pool, id);
    assert.deepEqual(
      {
        fromHeads: job?.fromHeads,
        steps: job?.steps.map((s) => [s.revision, s.state]),
        stepsDone: job?.stepsDone,
        stepsTotal: job?.stepsTotal,
      },
      {
        fromHeads: [],
        steps: [
          ["r0", "succeeded"],
          ["r1", "succeeded"],
          ["r2", "succeeded"],
        ],
        stepsDone: 3,
        stepsTotal: 3,
      },
    );
    const events = await listJobEvents(pool, id, { limit: 100 });
    assert.deepEqual(
      events.map((e) =>
        e.type === "job.progress"
          ? `${e.type} ${String(e.data.stepsDone)}/${String(e.data.stepsTotal)}`
          : e.type,
      ),
      [
        "job.queued",
        "job.running",
        "job.started",
        "job.progress 1/3",
        "job.progress 2/3",
        "job.progress 3/3",
      ],
    );
  });

  it("records a log line holding NUL or a lone surrogate, which jsonb refuses, with U+FFFD", async () => {
    const id = await claimedJob();
    const recorder = recorderFor(pool, id);
    recorder.onRunnerEvent({ kind: "log", revision: "r0", message: "a\u0000b\ud800c\u{1F600}" });
    await recorder.flush();
    const events = await listJobEvents(pool, id, { limit: 100 });
    assert.equal(events.at(-1)?.data.message, "a\uFFFDb\uFFFDc\u{1F600}");
  });

  it("an event appended on its own (a retry's, an interruption's) stores NUL as U+FFFD too", async () => {
    await pool.query("UPDATE jobs SET state = 'succeeded' WHERE state IN ('queued', 'running')");
    const id = await control.queuedJob();
    await appendJobEvent(pool, id, "job.retrying", { error: { message: "x\u0000y" } });
    const events = await listJobEvents(pool, id, { limit: 100 });
    assert.deepEqual(events.at(-1)?.data, { error: { message: "x\uFFFDy" } });
  });
});
