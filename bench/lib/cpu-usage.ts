/**
 * CPU time spent by each part of the system during a benchmark: the API and worker processes,
 * PostgreSQL (postmaster and all its backends, including those that exited meanwhile) and Redis.
 * Read from /proc, so Linux only; elsewhere every part reads as unavailable. It answers "where
 * does the time go" when two cores are shared by everything.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { Redis } from "ioredis";
import pg from "pg";
import { ADMIN_URL, REDIS_URL } from "./bench-util.js";

export interface CpuParts {
  readonly [part: string]: number | null;
}

const TICKS_PER_SECOND = clockTicks();

function clockTicks(): number {
  try {
    return Number.parseInt(execFileSync("getconf", ["CLK_TCK"]).toString().trim(), 10) || 100;
  } catch {
    return 100;
  }
}

interface ProcStat {
  readonly ppid: number;
  /** utime + stime of the process itself, in ticks. */
  readonly own: number;
  /** cutime + cstime: children it has already reaped, in ticks. */
  readonly reaped: number;
}

function readStat(pid: number): ProcStat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name is in parentheses and may contain spaces: fields start after the last ')'.
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    const num = (i: number): number => Number(fields[i] ?? 0);
    // fields[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14..17.
    return { ppid: num(1), own: num(11) + num(12), reaped: num(13) + num(14) };
  } catch {
    return null;
  }
}

/** CPU milliseconds of a process and every descendant, alive or already reaped. */
function treeCpuMs(root: number): number | null {
  const rootStat = readStat(root);
  if (rootStat === null) return null;
  const stats = new Map<number, ProcStat>();
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (stat !== null) stats.set(pid, stat);
  }
  let ticks = rootStat.own + rootStat.reaped;
  const pending = [root];
  while (pending.length > 0) {
    const parent = pending.pop();
    for (const [pid, stat] of stats) {
      if (stat.ppid !== parent) continue;
      ticks += stat.own + stat.reaped;
      pending.push(pid);
    }
  }
  return (ticks / TICKS_PER_SECOND) * 1000;
}

/**
 * CPU ticks of each live PostgreSQL client backend, with the database its process title names
 * ("postgres: [cluster: ]user database host(port) state"); other processes are left out.
 */
function backendTicksByPid(postmaster: number): Map<number, { database: string; ticks: number }> {
  const out = new Map<number, { database: string; ticks: number }>();
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (stat?.ppid !== postmaster) continue;
    let title: string;
    try {
      title = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
    } catch {
      continue;
    }
    // With a cluster_name the title starts "postgres: 15/main: "; the client's address ends it.
    const database = /^postgres: (?:\S+: )?\S+ (\S+) (?:\[local\]|\S+\(\d+\))/.exec(title)?.[1];
    if (database !== undefined) out.set(pid, { database, ticks: stat.own });
  }
  return out;
}

/**
 * PostgreSQL's CPU split by what its backends served, between `before()` and `after()`:
 * `group(database)` names the part a database belongs to. What cannot be attributed (backends
 * that exited meanwhile, background processes) is `other`: PostgreSQL's total minus the parts.
 */
export function postgresCpuSplit(
  postmaster: number | null,
  group: (database: string) => string,
): { after(): Record<string, number> } | null {
  if (postmaster === null) return null;
  const totalBefore = treeCpuMs(postmaster);
  const before = backendTicksByPid(postmaster);
  return {
    after() {
      const parts: Record<string, number> = {};
      let attributed = 0;
      for (const [pid, now] of backendTicksByPid(postmaster)) {
        const ms = ((now.ticks - (before.get(pid)?.ticks ?? 0)) / TICKS_PER_SECOND) * 1000;
        const part = group(now.database);
        parts[part] = (parts[part] ?? 0) + ms;
        attributed += ms;
      }
      const total = treeCpuMs(postmaster);
      parts.other = total === null || totalBefore === null ? 0 : total - totalBefore - attributed;
      return parts;
    },
  };
}

/** The postmaster's pid, from postmaster.pid in the data directory (needs a superuser). */
export async function postgresPid(adminUrl: string): Promise<number | null> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ data_directory: string }>("SHOW data_directory");
    const dir = rows[0]?.data_directory;
    if (dir === undefined) return null;
    return Number.parseInt(readFileSync(`${dir}/postmaster.pid`, "utf8").split("\n")[0] ?? "", 10);
  } catch {
    return null;
  } finally {
    await client.end();
  }
}

export async function redisPid(redisUrl: string): Promise<number | null> {
  const redis = new Redis(redisUrl);
  try {
    const info = await redis.info("server");
    const match = /process_id:(\d+)/.exec(info);
    return match?.[1] === undefined ? null : Number(match[1]);
  } finally {
    redis.disconnect();
  }
}

/** Reads the CPU of named process trees; `delta` is what each spent since `snapshot`. */
export class CpuMeter {
  constructor(private readonly parts: Readonly<Record<string, number | null | undefined>>) {}

  snapshot(): CpuParts {
    const out: Record<string, number | null> = {};
    for (const [name, pid] of Object.entries(this.parts)) {
      out[name] = pid == null ? null : treeCpuMs(pid);
    }
    return out;
  }

  /** Milliseconds of CPU per part since `before`, and their total. */
  delta(before: CpuParts): CpuParts {
    const now = this.snapshot();
    const out: Record<string, number | null> = {};
    let total = 0;
    for (const name of Object.keys(now)) {
      const a = before[name];
      const b = now[name];
      const spent = a == null || b == null ? null : b - a;
      out[name] = spent;
      total += spent ?? 0;
    }
    out.total = total;
    return out;
  }
}

/**
 * CPU milliseconds the whole machine has spent so far outside idle and I/O wait (/proc/stat):
 * the fair measure of what a contender costs when its work is spread over several processes.
 */
export function machineCpuMs(): number | null {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
    // cpu user nice system idle iowait irq softirq steal ...
    const [user, nice, system, , , irq, softirq, steal] = line
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const busy = [user, nice, system, irq, softirq, steal].reduce<number>(
      (a, b) => a + (b ?? 0),
      0,
    );
    return (busy / TICKS_PER_SECOND) * 1000;
  } catch {
    return null;
  }
}

/** Wall and machine CPU milliseconds of `work`, and PostgreSQL's share when its pid is given. */
export async function measured(
  work: () => Promise<void>,
  postgres: number | null = null,
): Promise<{ ms: number; cpuMs: number; postgresCpuMs: number }> {
  const cpuBefore = machineCpuMs();
  const pgBefore = postgres === null ? null : treeCpuMs(postgres);
  const started = performance.now();
  await work();
  const ms = performance.now() - started;
  const cpuAfter = machineCpuMs();
  const pgAfter = postgres === null ? null : treeCpuMs(postgres);
  return {
    ms,
    cpuMs: cpuBefore === null || cpuAfter === null ? Number.NaN : cpuAfter - cpuBefore,
    postgresCpuMs: pgBefore === null || pgAfter === null ? Number.NaN : pgAfter - pgBefore,
  };
}

/** A meter over Fleetway's API and worker processes, PostgreSQL and Redis. */
export async function fleetwayMeter(processes: {
  readonly api: { readonly pid?: number | undefined };
  readonly worker: { readonly pid?: number | undefined };
}): Promise<CpuMeter> {
  return new CpuMeter({
    api: processes.api.pid,
    worker: processes.worker.pid,
    postgres: await postgresPid(ADMIN_URL),
    redis: await redisPid(REDIS_URL),
  });
}
