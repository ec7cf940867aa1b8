import type { Command } from "commander";
import { Option } from "commander";
import { ErrorCode, FleetwayError } from "../../engine/errors.js";
import { type CliIo, printJson, UsageError } from "../cli-io.js";
import { collectList } from "../cli-options.js";
import { ApiClient, type RemoteOptions } from "../remote/api-client.js";
import {
  FINAL_ROLLOUT_STATES,
  progressLine,
  type RolloutSnapshot,
} from "../remote/rollout-progress.js";

interface RemoteOpts extends RemoteOptions {
  json: boolean;
  wait: boolean;
}

const POLL_MS = 500;

/**
 * How long one `jobs submit --wait` request lets the service hold it (the API allows 55): under
 * the 30 s idle timeout of some proxies in front of it.
 */
const JOB_WAIT_SECONDS = 25;

function remote(command: Command): Command {
  return command
    .option("--url <url>", "Fleetway base URL (default $FLEETWAY_URL or http://127.0.0.1:8080)")
    .option("--api-key <key>", "API key (default $FLEETWAY_API_KEY)")
    .option("--json", "machine-readable output", false);
}

/** `--waves 1,10%,100%` → [{count:1},{percent:10},{percent:100}]. */
export function parseWaves(text: string): ({ count: number } | { percent: number })[] {
  return text.split(",").map((part) => {
    const match = /^\s*(\d+(?:\.\d+)?)(%?)\s*$/.exec(part);
    if (match?.[1] === undefined)
      throw new UsageError(`--waves: '${part}' is neither a count nor a percentage`);
    return match[2] === "%" ? { percent: Number(match[1]) } : { count: Number(match[1]) };
  });
}

function parseAmount(text: string): { count: number } | { percent: number } {
  const [amount] = parseWaves(text);
  if (amount === undefined) throw new UsageError("--failure-threshold needs a value");
  return amount;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });

/**
 * Which tenants a rollout takes. Only leaving out both --tags and --ids means every tenant: a
 * `--tags "$CANARY_TAGS"` whose variable is empty must not become a rollout of the whole fleet.
 */
function rolloutSelection(
  tags: readonly string[] | undefined,
  ids: readonly string[] | undefined,
): { ids: string[] } | { tags: string[] } | { all: true } {
  if (tags !== undefined && ids !== undefined)
    throw new UsageError("give --tags or --ids, not both");
  const given = tags ?? ids;
  if (given === undefined) return { all: true };
  // collectList has dropped the empty entries already.
  const list = [...given];
  if (list.length === 0) {
    throw new UsageError(
      `${tags === undefined ? "--ids" : "--tags"} is empty; leave it out to take every tenant`,
    );
  }
  return tags === undefined ? { ids: list } : { tags: list };
}

/** Remote verbs for deploy tooling: rollouts, jobs, the fleet, tenants. */
export function registerRemoteCommands(program: Command, io: CliIo, signal: AbortSignal): void {
  const rollout = program.command("rollout").description("fleet rollouts on a Fleetway service");

  remote(rollout.command("start"))
    .description("start a rollout; with --wait, follow it and exit non-zero unless it succeeds")
    .requiredOption("--target <target>", "target revision, e.g. head")
    .option("--tags <tags>", "tenants with any of these tags (comma-separated)", collectList)
    .option(
      "--ids <ids>",
      "these tenants (comma-separated); without --tags or --ids, every tenant",
      collectList,
    )
    .option("--waves <waves>", "cumulative waves, e.g. 1,10%,100%", "100%")
    .option("--max-parallel <n>", "jobs at once across all workers", "10")
    .option("--failure-threshold <n>", "failures a wave may have (count or N%)", "0")
    .option("--idempotency-key <key>", "make retries of this command safe")
    .option("--wait", "follow the rollout until it ends", false)
    .action(
      async (
        opts: RemoteOpts & {
          target: string;
          tags?: string[];
          ids?: string[];
          waves: string;
          maxParallel: string;
          failureThreshold: string;
          idempotencyKey?: string;
        },
      ) => {
        const client = ApiClient.from(io, opts);
        const tenants = rolloutSelection(opts.tags, opts.ids);
        const created = await client.post<RolloutSnapshot>(
          "/v1/rollouts",
          {
            target: opts.target,
            tenants,
            waves: parseWaves(opts.waves),
            maxParallel: Number(opts.maxParallel),
            failureThreshold: parseAmount(opts.failureThreshold),
          },
          opts.idempotencyKey,
        );
        io.stderr(
          `Rollout ${created.id} started: ${created.totalTenants} tenants to ${opts.target}\n`,
        );
        const final = opts.wait ? await follow(io, client, created.id, signal) : created;
        if (opts.json) printJson(io, final);
        else if (!opts.wait) io.stdout(`${created.id}\n`);
        if (opts.wait) finish(final);
      },
    );

  remote(rollout.command("status"))
    .description("show a rollout")
    .argument("<id>")
    .option("--wait", "follow the rollout until it ends", false)
    .action(async (id: string, opts: RemoteOpts) => {
      const client = ApiClient.from(io, opts);
      const view = opts.wait
        ? await follow(io, client, id, signal)
        : await client.get<RolloutSnapshot>(`/v1/rollouts/${id}`);
      if (opts.json) printJson(io, view);
      else describe(io, view);
      if (opts.wait) finish(view);
    });

  for (const [name, description] of [
    ["pause", "stop launching jobs"],
    ["resume", "launch jobs again"],
    ["cancel", "cancel the rollout"],
    ["retry", "re-queue the failed tenants of a halted rollout"],
  ] as const) {
    remote(rollout.command(name))
      .description(description)
      .argument("<id>")
      .action(async (id: string, opts: RemoteOpts) => {
        const view = await ApiClient.from(io, opts).post<RolloutSnapshot>(
          `/v1/rollouts/${id}/${name}`,
          {},
        );
        if (opts.json) printJson(io, view);
        else describe(io, view);
      });
  }

  const jobs = program.command("jobs").description("migration jobs on a Fleetway service");
  remote(jobs.command("submit"))
    .description("queue a job for one tenant; with --wait, exit non-zero unless it succeeds")
    .requiredOption("--tenant <id>", "tenant id")
    .requiredOption("--target <target>", "target revision")
    .addOption(
      new Option("--operation <op>", "upgrade, downgrade or stamp")
        .choices(["upgrade", "downgrade", "stamp"])
        .default("upgrade"),
    )
    .option("--wait", "wait for the job to end", false)
    .action(async (opts: RemoteOpts & { tenant: string; target: string; operation: string }) => {
      const client = ApiClient.from(io, opts);
      let job = await client.post<{
        id: string;
        state: string;
        error: { code?: string; message?: string } | null;
      }>(`/v1/tenants/${encodeURIComponent(opts.tenant)}/jobs`, {
        operation: opts.operation,
        target: opts.target,
      });
      io.stderr(`Job ${job.id} queued\n`);
      // Each request is held by the service until the job ends (or JOB_WAIT_SECONDS pass), so
      // the job's end is seen at once, without polling. Ctrl-C stops waiting, not the job.
      while (
        opts.wait &&
        !["succeeded", "failed", "cancelled"].includes(job.state) &&
        !signal.aborted
      ) {
        const last = job;
        const asked = Date.now();
        job = await client
          .get<typeof job>(`/v1/jobs/${job.id}?wait=${String(JOB_WAIT_SECONDS)}`, signal)
          .catch((error: unknown) => {
            if (signal.aborted) return last;
            throw error;
          });
        // A server that answered an active job at once (an older one, or one shutting down)
        // is asked again no faster than polling would.
        const early = POLL_MS - (Date.now() - asked);
        if (early > 0 && !["succeeded", "failed", "cancelled"].includes(job.state)) {
          await sleep(early, signal);
        }
      }
      if (opts.json) printJson(io, job);
      else
        io.stdout(
          `${job.id} ${job.state}${job.error === null ? "" : `: ${job.error.code ?? ""} ${job.error.message ?? ""}`}\n`,
        );
      if (opts.wait && job.state !== "succeeded") {
        throw new FleetwayError(ErrorCode.REMOTE_FAILED, `Job ${job.id} ended ${job.state}`, {
          jobId: job.id,
        });
      }
    });

  remote(program.command("fleet"))
    .description("tenants per revision, behind head, failing, active jobs and rollouts")
    .action(async (opts: RemoteOpts) => {
      const fleet = await ApiClient.from(io, opts).get<{
        heads: string[];
        tenants: number;
        atHead: number;
        behindHead: number;
        byRevision: { heads: string[] | null; tenants: number }[];
        failingTenants: { tenantId: string; code: string | null }[];
        activeJobs: { queued: number; running: number };
      }>("/v1/fleet");
      if (opts.json) {
        printJson(io, fleet);
        return;
      }
      io.stdout(
        `${fleet.tenants} tenants, ${fleet.atHead} at head (${fleet.heads.join(", ")}), ${fleet.behindHead} behind\n`,
      );
      for (const r of fleet.byRevision)
        io.stdout(`  ${(r.heads ?? ["<never seen>"]).join(", ").padEnd(30)} ${r.tenants}\n`);
      io.stdout(
        `jobs: ${fleet.activeJobs.queued} queued, ${fleet.activeJobs.running} running; failing tenants: ${fleet.failingTenants.length}\n`,
      );
    });

  const tenants = program.command("tenants").description("tenants on a Fleetway service");
  remote(tenants.command("add"))
    .description("register a tenant (optionally migrating it)")
    .requiredOption("--id <id>", "tenant id")
    .option("--name <name>", "display name (default: the id)")
    .requiredOption("--database-url <url>", "the tenant database")
    // Not $FLEETWAY_SCHEMA: that is the schema of the local verbs' one database, paired with
    // $DATABASE_URL, which this verb does not read either (--database-url is required). Taking
    // it here would pair an explicit database with a schema meant for another one, and the
    // tenant's first job would create that schema and migrate it instead of public.
    .option(
      "--schema <schema>",
      "schema holding the tenant's tables and version table; the API's default " +
        "(FLEETWAY_SCHEMA is not read: like DATABASE_URL, it names the local verbs' database)",
      "public",
    )
    .option("--tags <tags>", "tags (comma-separated)", collectList, [])
    .option("--migrate-to <target>", "queue an upgrade to this target")
    .action(
      async (
        opts: RemoteOpts & {
          id: string;
          name?: string;
          databaseUrl: string;
          schema: string;
          tags: string[];
          migrateTo?: string;
        },
      ) => {
        const created = await ApiClient.from(io, opts).post<{
          tenant: { id: string };
          job: { id: string } | null;
        }>("/v1/tenants", {
          id: opts.id,
          name: opts.name ?? opts.id,
          databaseUrl: opts.databaseUrl,
          schema: opts.schema,
          tags: opts.tags.flatMap((t) => t.split(",")).filter((t) => t !== ""),
          ...(opts.migrateTo === undefined ? {} : { migrateTo: opts.migrateTo }),
        });
        if (opts.json) printJson(io, created);
        else
          io.stdout(
            `${created.tenant.id}${created.job === null ? "" : ` (job ${created.job.id})`}\n`,
          );
      },
    );
}

/** Polls until the rollout ends: a bar redrawn in place on a terminal, a line per change in CI logs. */
async function follow(
  io: CliIo,
  client: ApiClient,
  id: string,
  signal: AbortSignal,
): Promise<RolloutSnapshot> {
  let last = "";
  for (;;) {
    const view = await client.get<RolloutSnapshot>(`/v1/rollouts/${id}`);
    const line = progressLine(view);
    if (io.interactive === true) io.stderr(`\r${line}\u001b[K`);
    else if (line !== last) io.stderr(`${line}\n`);
    last = line;
    if (FINAL_ROLLOUT_STATES.has(view.state) || signal.aborted) {
      if (io.interactive === true) io.stderr("\n");
      return view;
    }
    await sleep(POLL_MS, signal);
  }
}

function describe(io: CliIo, view: RolloutSnapshot): void {
  io.stdout(`${view.id} ${progressLine(view)}\n`);
  if (view.haltedReason !== null) io.stdout(`halted: ${view.haltedReason}\n`);
  for (const f of view.failures)
    io.stdout(
      `  failed: ${f.tenantId} (wave ${f.wave + 1}) ${f.error?.code ?? ""} ${f.error?.message ?? ""}\n`,
    );
  for (const d of view.deletedTenants ?? [])
    io.stdout(`  skipped: ${d.tenantId} (wave ${d.wave + 1}) TENANT_DELETED\n`);
}

function finish(view: RolloutSnapshot): void {
  if (view.state === "succeeded") return;
  const failed = view.failures.map((f) => f.tenantId).join(", ");
  throw new FleetwayError(
    ErrorCode.REMOTE_FAILED,
    `Rollout ${view.id} ended ${view.state}${view.haltedReason === null ? "" : `: ${view.haltedReason}`}${failed === "" ? "" : ` (failed: ${failed})`}`,
    { rolloutId: view.id, state: view.state },
  );
}
