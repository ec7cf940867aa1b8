import type { Queryable } from "../control/queryable.js";
import {
  averageJobSeconds,
  rolloutFailuresAndDeletedTenants,
  emptyCounts,
  sumCounts,
  syncAndCountRolloutTenants,
  type RolloutRecord,
  type StateCounts,
} from "../control/rollout-store.js";
import { showUrl, type UrlView } from "../webhooks/origin-only.js";

/**
 * A rollout as the API and its webhooks show it: counts per state and per wave, failures, ETA;
 * its callback URL as `urls` says (whole to keys that may set one, else its origin).
 */
export async function describeRollout(
  db: Queryable,
  rollout: RolloutRecord,
  urls: UrlView = "origin",
) {
  // Paused, halted and cancelled rollouts are not advanced, but their running jobs still end.
  const perWave = await syncAndCountRolloutTenants(db, rollout.id);
  const waves = rollout.waveSizes.map((size, index) => {
    const counts: StateCounts = perWave.get(index) ?? emptyCounts();
    const previous = index === 0 ? 0 : (rollout.waveSizes[index - 1] ?? 0);
    return { index, spec: rollout.waves[index] ?? null, tenants: size - previous, counts };
  });
  const counts = sumCounts(waves.map((w) => w.counts));
  const { failures, deletedTenants } = await rolloutFailuresAndDeletedTenants(db, rollout.id);
  const remaining = counts.pending + counts.active;
  const average = await averageJobSeconds(db, rollout.id);
  const etaSeconds =
    rollout.state === "running" && average !== null
      ? Math.ceil((remaining / rollout.maxParallel) * average)
      : null;
  return {
    id: rollout.id,
    target: rollout.target,
    selector: rollout.selector,
    state: rollout.state,
    haltedReason: rollout.haltedReason,
    maxParallel: rollout.maxParallel,
    failureThreshold: rollout.failureThreshold,
    currentWave: rollout.currentWave,
    totalTenants: rollout.totalTenants,
    counts,
    waves,
    failures: failures.map((f) => ({
      tenantId: f.tenantId,
      state: f.state,
      wave: f.wave,
      jobId: f.jobId,
      error:
        f.error === null
          ? null
          : {
              code: f.error.code ?? null,
              message: f.error.message ?? null,
              sqlstate: f.error.sqlstate ?? null,
            },
    })),
    // Skipped (counted in `skipped`) because they were deleted while the rollout ran.
    deletedTenants,
    etaSeconds,
    callbackUrl: showUrl(rollout.callbackUrl, urls),
    createdAt: rollout.createdAt.toISOString(),
    updatedAt: rollout.updatedAt.toISOString(),
    finishedAt: rollout.finishedAt?.toISOString() ?? null,
  };
}

export type RolloutView = Awaited<ReturnType<typeof describeRollout>>;
