/** The fields of GET /v1/rollouts/{id} the CLI draws. */
export interface RolloutSnapshot {
  readonly id: string;
  readonly state: string;
  readonly currentWave: number;
  readonly totalTenants: number;
  readonly haltedReason: string | null;
  readonly etaSeconds: number | null;
  readonly waves: readonly unknown[];
  readonly counts: Readonly<Record<string, number>>;
  readonly failures: readonly {
    tenantId: string;
    wave: number;
    error: { code: string | null; message: string | null } | null;
  }[];
  /** Absent from services older than this CLI. */
  readonly deletedTenants?: readonly { tenantId: string; wave: number }[];
}

const BAR_WIDTH = 30;

/** One line: wave, a bar of finished tenants, counts per state, ETA. */
export function progressLine(r: RolloutSnapshot): string {
  const c = r.counts;
  const done = (c.succeeded ?? 0) + (c.failed ?? 0) + (c.skipped ?? 0) + (c.cancelled ?? 0);
  const filled = r.totalTenants === 0 ? BAR_WIDTH : Math.round((done / r.totalTenants) * BAR_WIDTH);
  const bar = `[${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}]`;
  const eta = r.etaSeconds === null ? "" : `  eta ${r.etaSeconds}s`;
  return (
    `${r.state.padEnd(9)} wave ${Math.min(r.currentWave + 1, r.waves.length)}/${r.waves.length} ${bar} ${done}/${r.totalTenants}` +
    `  ok ${c.succeeded ?? 0}  failed ${c.failed ?? 0}  skipped ${c.skipped ?? 0}  running ${c.active ?? 0}${eta}`
  );
}

export const FINAL_ROLLOUT_STATES: ReadonlySet<string> = new Set([
  "succeeded",
  "failed",
  "halted",
  "cancelled",
]);
