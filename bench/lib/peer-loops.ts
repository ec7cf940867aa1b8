/**
 * bench:fleet's peers: an established migration CLI run once per tenant, as deploy tooling runs
 * it in a shell loop. Each peer gets the example set's SQL (example-sql.ts) in its own migration
 * format, written to a temporary directory, and a command line per tenant.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { SqlStep } from "./example-sql.js";

export const PEERS = ["dbmate", "node-pg-migrate"] as const;
export type PeerName = (typeof PEERS)[number];

export interface PeerTenant {
  readonly url: string;
  readonly schema: string;
}

export interface Peer {
  /** Where its migration files are (removed by the caller at the end). */
  readonly dir: string;
  /** Migrates one tenant from base to head: one run of the CLI. */
  migrate(tenant: PeerTenant): Promise<void>;
}

const execFileAsync = promisify(execFile);
const BIN = new URL("../../node_modules/.bin/", import.meta.url).pathname;

export async function createPeer(name: PeerName, steps: readonly SqlStep[]): Promise<Peer> {
  switch (name) {
    case "dbmate":
      return dbmate(steps);
    case "node-pg-migrate":
      return nodePgMigrate(steps);
  }
}

/** dbmate (a Go binary shipped by the npm package), as `npx dbmate` runs it. */
async function dbmate(steps: readonly SqlStep[]): Promise<Peer> {
  const dir = await mkdtemp(join(tmpdir(), "fleetway-bench-dbmate-"));
  for (const [i, step] of steps.entries()) {
    const flag = step.transactional ? "" : " transaction:false";
    await writeFile(
      join(dir, `${String(20260101000000 + i)}_${step.id}.sql`),
      `-- migrate:up${flag}\n${step.up}\n\n-- migrate:down${flag}\n${step.down}\n`,
    );
  }
  return {
    dir,
    migrate: (tenant) => {
      const url = new URL(tenant.url);
      url.searchParams.set("sslmode", "disable");
      url.searchParams.set("search_path", tenant.schema);
      return run(`${BIN}dbmate`, [
        ...["--url", url.toString(), "--migrations-dir", dir],
        ...["--no-dump-schema", "up"],
      ]);
    },
  };
}

/**
 * node-pg-migrate (a Node CLI), as `npx node-pg-migrate up` runs it: a transaction per
 * migration (`--no-single-transaction`, like every other contender; its default would put all
 * fifteen in one, which CREATE INDEX CONCURRENTLY refuses) and its advisory lock, keyed per
 * tenant (`--lock-value`): with its one default key, the tenants of one database would refuse
 * each other. JavaScript migration files, because only they can run a migration outside a
 * transaction (`pgm.noTransaction()`); each runs its step's SQL as it is (`pgm.sql`).
 */
async function nodePgMigrate(steps: readonly SqlStep[]): Promise<Peer> {
  const dir = await mkdtemp(join(tmpdir(), "fleetway-bench-node-pg-migrate-"));
  for (const [i, step] of steps.entries()) {
    const body = (sql: string): string =>
      `(pgm) => {${step.transactional ? "" : " pgm.noTransaction();"} pgm.sql(${JSON.stringify(sql)}); }`;
    await writeFile(
      join(dir, `${String(1000 + i)}_${step.id}.cjs`),
      `exports.up = ${body(step.up)};\nexports.down = ${body(step.down)};\n`,
    );
  }
  return {
    dir,
    migrate: (tenant) =>
      run(
        `${BIN}node-pg-migrate`,
        [
          ...["up", "--migrations-dir", dir, "--schema", tenant.schema],
          ...["--no-single-transaction", "--lock-value", lockValueOf(tenant)],
          ...["--no-verbose"],
        ],
        { DATABASE_URL: tenant.url },
      ),
  };
}

/** A per-tenant advisory lock key that fits in a JavaScript number, as node-pg-migrate takes it. */
function lockValueOf(tenant: PeerTenant): string {
  const digest = createHash("sha256").update(`${tenant.url} ${tenant.schema}`).digest();
  return String(digest.readUIntBE(0, 6));
}

/** Runs the CLI to its end; a failure rejects with its exit code and stderr (execFile's error). */
async function run(
  command: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<void> {
  await execFileAsync(command, args, { env: { ...process.env, ...env } });
}
