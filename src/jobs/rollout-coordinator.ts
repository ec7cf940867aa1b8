import type { Logger } from "pino";
import { inTransaction } from "../control/control-db.js";
import type { Queryable } from "../control/queryable.js";
import {
  isRolloutRunning,
  lockRunningRollout,
  nextPendingTenants,
  runningRolloutIds,
  setRolloutTenant,
  TENANT_DELETED_ERROR,
  emptyCounts,
  sumCounts,
  syncAndCountRolloutTenants,
  transitionRollout,
  waveCounts,
  type FailureThreshold,
  type RolloutRecord,
} from "../control/rollout-store.js";
import { ErrorCode, isFleetwayError } from "../engine/errors.js";
import { planMigration } from "../engine/plan/plan-migration.js";
import type { WebhookEventType } from "../webhooks/job-event-publisher.js";
import { describeRollout } from "./rollout-status.js";
import { afterJobsCommitted, createJob, type CreatedJob, type SubmitDeps } from "./submit-job.js";

export interface CoordinatorSettings {
  /** How often running rollouts are advanced. */
  readonly tickMs: number;
}

/** Failures a wave of `size` tenants may have before the rollout halts. */
export function allowedFailures(threshold: FailureThreshold, size: number): number {
  // Multiplied first: (29 / 100) * 100 is 28.999999999999996, which floor makes 28.
  return "count" in threshold ? threshold.count : Math.floor((threshold.percent * size) / 100);
}

/**
 * Advances every running rollout (or those of `only`): brings its tenants in line with their
 * jobs, launches jobs for the current wave up to maxParallel, moves to the next wave once a wave
 * finished within its failure threshold, halts it otherwise. Each rollout is advanced by one
 * process at a time (its row is locked with SKIP LOCKED), and parallelism is counted from the
 * database, so maxParallel holds across every API and worker process.
 *
 * @returns the rollouts it looked at, and among them the running ones it skipped because another
 * transaction held them (another process's pass, or a route): that pass may have read them
 * before what this one was called for (a job's end) committed, so they are worth advancing again
 */
export async function advanceRollouts(
  deps: SubmitDeps,
  only?: readonly string[],
): Promise<{ visited: string[]; busy: string[] }> {
  const visited = only === undefined ? await runningRolloutIds(deps.pool) : [...only];
  const busy: string[] = [];
  for (const id of visited) {
    const launched: CreatedJob[] = [];
    const deliveries: string[] = [];
    try {
      await inTransaction(deps.pool, async (tx) => {
        const rollout = await lockRunningRollout(tx, id);
        if (rollout === null) {
          if (await isRolloutRunning(tx, id)) busy.push(id);
          return;
        }
        await advanceOne(deps, tx, rollout, launched, deliveries);
      });
      await afterJobsCommitted(deps, launched);
      await deps.events.enqueue(deliveries);
    } catch (error) {
      // One rollout's failure (its pass is rolled back and tried again on the next tick or
      // nudge) must not hold back the rollouts after it in this pass.
      deps.logger.warn({ err: error, rolloutId: id }, "advancing a rollout failed");
    }
  }
  return { visited, busy };
}

async function advanceOne(
  deps: SubmitDeps,
  tx: Queryable,
  initial: RolloutRecord,
  launched: CreatedJob[],
  deliveries: string[],
): Promise<void> {
  let rollout = initial;
  const emit = async (type: WebhookEventType, current: RolloutRecord): Promise<void> => {
    const view = await describeRollout(tx, current, "origin");
    deliveries.push(...(await deps.events.recordRolloutEvent(tx, current, type, view)));
  };
  let perWave = await syncAndCountRolloutTenants(tx, rollout.id);
  for (let pass = 0; ; pass++) {
    if (pass > 0) perWave = await waveCounts(tx, rollout.id);
    const wave = rollout.currentWave;
    const counts = perWave.get(wave) ?? emptyCounts();
    const size = Object.values(counts).reduce((a, b) => a + b, 0);
    const failures = counts.failed + counts.cancelled;
    if (failures > allowedFailures(rollout.failureThreshold, size)) {
      const reason = `wave ${wave + 1}: ${failures} of ${size} tenants failed, more than the threshold allows`;
      const halted = await transitionRollout(tx, rollout.id, ["running"], "halted", {
        haltedReason: reason,
      });
      if (halted !== null) await emit("rollout.halted", halted);
      deps.logger.warn({ rolloutId: rollout.id, wave }, "rollout halted");
      return;
    }
    if (counts.pending === 0 && counts.active === 0) {
      // Once per completion: a retry walks again through waves it re-queued nobody of, which
      // were announced already (resetFailedTenants forgets the announcement of those it did).
      if (!rollout.announcedWaves.includes(wave)) await emit("rollout.wave_completed", rollout);
      const last = wave + 1 >= rollout.waveSizes.length;
      if (last) {
        // Every wave stayed within its threshold; failures it tolerated still make the outcome
        // "failed", so deploy tooling notices them.
        const total = sumCounts(perWave.values());
        const outcome = total.failed + total.cancelled > 0 ? "failed" : "succeeded";
        const finished = await transitionRollout(tx, rollout.id, ["running"], outcome, {
          announcedWave: wave,
        });
        if (finished !== null)
          await emit(outcome === "failed" ? "rollout.failed" : "rollout.succeeded", finished);
        return;
      }
      const next = await transitionRollout(tx, rollout.id, ["running"], "running", {
        currentWave: wave + 1,
        announcedWave: wave,
      });
      if (next === null) return;
      rollout = next;
      continue;
    }
    const active = sumCounts(perWave.values()).active;
    const slots = rollout.maxParallel - active;
    if (slots <= 0 || counts.pending === 0) return;
    let launchedNow = 0;
    let settledNow = 0;
    for (const tenant of await nextPendingTenants(tx, rollout.id, wave, slots)) {
      if (!tenant.exists) {
        // Deleted since the rollout began (or since it failed, and a retry re-queued it).
        await skipDeletedTenant(tx, rollout.id, tenant.tenantId);
        settledNow++;
        continue;
      }
      if (tenant.heads !== null && alreadyAtTarget(deps, rollout.target, tenant.heads)) {
        await setRolloutTenant(tx, rollout.id, tenant.tenantId, "skipped");
        settledNow++;
        continue;
      }
      try {
        // The tenant was read with the pending list; the job's insert marks it active (insertJob).
        const created = await createJob(
          deps,
          tx,
          {
            tenantId: tenant.tenantId,
            operation: "upgrade",
            target: rollout.target,
            rolloutId: rollout.id,
          },
          { heads: tenant.heads },
        );
        launched.push(created);
        launchedNow++;
      } catch (error) {
        // A tenant busy with another job is tried again on a later pass, and so is one whose
        // database or schema is being dropped: a later pass finds it deleted (skipped as
        // TENANT_DELETED) once the drop succeeded, or launches its job if the drop failed.
        // Anything else is its failure.
        if (isFleetwayError(error, ErrorCode.TENANT_BUSY, ErrorCode.TENANT_DELETING)) continue;
        if (isFleetwayError(error, ErrorCode.TENANT_NOT_FOUND)) {
          // Deleted since the pending list read it (DELETE /v1/tenants/{id} committed meanwhile):
          // the insert found it gone and inserted nothing, so this pass goes on.
          await skipDeletedTenant(tx, rollout.id, tenant.tenantId);
          settledNow++;
          continue;
        }
        const detail = isFleetwayError(error)
          ? { code: error.code, message: error.message }
          : { code: ErrorCode.INTERNAL_ERROR, message: String(error) };
        await setRolloutTenant(tx, rollout.id, tenant.tenantId, "failed", { error: detail });
        settledNow++;
      }
    }
    // Skipped or refused tenants free their slots at once: look again. Each extra pass settles at
    // least one tenant, so this ends; busy tenants alone wait for the next tick.
    if (launchedNow > 0 || settledNow === 0) return;
  }
}

/**
 * Settles a rollout tenant deleted while the rollout runs: no longer part of the fleet, so
 * skipped, not failed (TENANT_DELETED_ERROR says why).
 */
async function skipDeletedTenant(
  tx: Queryable,
  rolloutId: string,
  tenantId: string,
): Promise<void> {
  await setRolloutTenant(tx, rolloutId, tenantId, "skipped", {
    error: { ...TENANT_DELETED_ERROR },
  });
}

/** The heads last seen on a tenant already include the target: nothing to run. */
function alreadyAtTarget(deps: SubmitDeps, target: string, heads: readonly string[]): boolean {
  if (heads.length === 0 || !heads.every((h) => deps.migrations.graph.has(h))) return false;
  try {
    return (
      planMigration(deps.migrations.graph, { operation: "upgrade", target, purge: false }, heads)
        .steps.length === 0
    );
  } catch {
    return false;
  }
}

export interface RolloutCoordinator {
  /**
   * Advance this rollout now (it was created, resumed or retried, or one of its jobs ended)
   * instead of at the next tick, or every running rollout without an id; calls coalesce.
   */
  nudge(rolloutId?: string): void;
  stop(): Promise<void>;
}

/** How soon a rollout another process was advancing is advanced again, and how many times. */
const BUSY_RETRY_MS = 25;
const BUSY_RETRIES = 8;

/**
 * Runs {@link advanceRollouts} every tick, and at once when nudged: routes nudge it when a
 * rollout is created, resumed or retried, when a rollout's queued job is cancelled and when the
 * drop of a tenant a rollout passed over as being dropped ended (dropTenant), workers
 * when a job finishes (its rollout's, or every rollout for a job outside any), so jobs start
 * without waiting for the tick. A rollout a nudged pass found busy (another process's pass held
 * it, and may have missed what this pass was for) is advanced again after a few milliseconds, a
 * few times. Left to the tick: a tenant busy with another rollout's job, which that job's end
 * does not nudge this rollout for, and anything a crash lost.
 */
export function startRolloutCoordinator(
  deps: SubmitDeps,
  settings: CoordinatorSettings,
  logger: Logger,
): RolloutCoordinator {
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  // What the pass waiting behind the current one will advance: everything, or these rollouts.
  let queued: "all" | Set<string> | null = null;
  // The rollouts that pass was nudged for by id (also when a tick's "all" absorbed them): found
  // busy, they are retried.
  let nudged = new Set<string>();
  // Rollouts found busy in a row, and how many times.
  const busyRetries = new Map<string, number>();
  const retryTimers = new Set<NodeJS.Timeout>();
  const retryBusy = (visited: readonly string[], busy: readonly string[]): void => {
    for (const id of visited) if (!busy.includes(id)) busyRetries.delete(id);
    if (stopped) return;
    for (const id of busy) {
      const retries = (busyRetries.get(id) ?? 0) + 1;
      if (retries > BUSY_RETRIES) {
        busyRetries.delete(id); // left to the tick
        continue;
      }
      busyRetries.set(id, retries);
      const timer = setTimeout(() => {
        retryTimers.delete(timer);
        schedule(id);
      }, BUSY_RETRY_MS * retries);
      timer.unref();
      retryTimers.add(timer);
    }
  };
  const schedule = (rolloutId?: string): void => {
    if (stopped) return;
    if (rolloutId !== undefined) nudged.add(rolloutId);
    // One pass waiting behind the current one is enough: it will see everything that happened.
    if (queued !== null) {
      if (rolloutId === undefined) queued = "all";
      else if (queued !== "all") queued.add(rolloutId);
      return;
    }
    queued = rolloutId === undefined ? "all" : new Set([rolloutId]);
    running = running.then(async () => {
      const which = queued;
      const wanted = nudged;
      queued = null;
      nudged = new Set();
      if (stopped || which === null) return;
      try {
        const { visited, busy } = await advanceRollouts(
          deps,
          which === "all" ? undefined : [...which],
        );
        // A tick was not called for anything that happened: what it found busy waits for the next.
        retryBusy(
          visited,
          busy.filter((id) => wanted.has(id)),
        );
      } catch (error) {
        logger.warn({ err: error }, "rollout coordinator pass failed");
      }
    });
  };
  const timer = setInterval(() => {
    schedule();
  }, settings.tickMs);
  timer.unref();
  return {
    nudge: schedule,
    async stop() {
      stopped = true;
      clearInterval(timer);
      for (const retry of retryTimers) clearTimeout(retry);
      await running;
    },
  };
}
