import type { FastifyInstance } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import type { JobEndWait } from "../../control/job-end-listener.js";
import { listJobEvents } from "../../control/job-event-store.js";
import { listJobs, requireJob } from "../../control/job-store.js";
import { decodeCursor, seqKey, toPage } from "../../control/pagination.js";
import { ErrorCode, FleetwayError } from "../../engine/errors.js";
import { assertWebhookUrlAllowed } from "../../webhooks/ssrf-guard.js";
import { cancelJob } from "../../jobs/cancel-job.js";
import { submitJob } from "../../jobs/submit-job.js";
import type { AppDeps } from "../app-deps.js";
import { ErrorResponses, PageQuery, pageOf, TenantId } from "../schemas/common-schemas.js";
import { JobEventSchema, JobRequestBody, JobState } from "../schemas/job-schemas.js";
import { jobView } from "../../webhooks/payload-views.js";
import { CALLBACK_URL_SCOPE, urlViewFor } from "../views.js";

const JobParams = Type.Object({ id: Type.String({ format: "uuid" }) });

/** The longest `GET /v1/jobs/{id}?wait=` (below common proxy and load-balancer idle timeouts). */
const MAX_WAIT_SECONDS = 55;

/**
 * A waiting request reads its job again at least this often: the end's notification can be
 * missed (see JobEndListener), and this bounds how late the answer comes then.
 */
const WAIT_RECHECK_MS = 5_000;

const ACTIVE_STATES: ReadonlySet<string> = new Set(["queued", "running"]);

/** Submitting, inspecting and cancelling migration jobs. */
export function registerJobRoutes(root: FastifyInstance, deps: AppDeps): void {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const { pool } = deps;

  app.post(
    "/v1/tenants/:id/jobs",
    {
      config: { scope: "write" },
      schema: {
        tags: ["jobs"],
        summary: "Queue an upgrade, downgrade or stamp of one tenant",
        description:
          "The target is resolved against the migration graph first (unknown revision, multiple heads, " +
          "ambiguous prefix are refused with their code). At most one active job per tenant: 409 TENANT_BUSY. " +
          "None for a tenant whose database or schema is being dropped (DELETE ?drop=true): 409 TENANT_DELETING.",
        params: Type.Object({ id: TenantId }),
        body: JobRequestBody,
        response: { 202: Type.Ref("Job"), ...ErrorResponses },
      },
    },
    async (request, reply) => {
      const body = request.body;
      if (body.callbackUrl !== undefined)
        await assertWebhookUrlAllowed(body.callbackUrl, deps.webhookPolicy);
      const job = await submitJob(deps, {
        tenantId: request.params.id,
        operation: body.operation,
        target: body.target,
        transactionMode: body.transactionMode,
        lockTimeoutMs: body.lockTimeoutMs,
        statementTimeoutMs: body.statementTimeoutMs,
        callbackUrl: body.callbackUrl,
        callbackSecret: body.callbackSecret,
      });
      request.log.info({ jobId: job.id, tenantId: job.tenantId }, "job queued");
      return reply
        .status(202)
        .header("location", `/v1/jobs/${job.id}`)
        .send(jobView(job, urlViewFor(request.principal, CALLBACK_URL_SCOPE)));
    },
  );

  app.get(
    "/v1/jobs",
    {
      config: { scope: "read" },
      schema: {
        tags: ["jobs"],
        summary: "List jobs, newest first",
        querystring: Type.Object({
          ...PageQuery,
          tenant: Type.Optional(TenantId),
          state: Type.Optional(JobState),
        }),
        response: { 200: pageOf(Type.Ref("Job")), ...ErrorResponses },
      },
    },
    async (request) => {
      const q = request.query;
      const urls = urlViewFor(request.principal, CALLBACK_URL_SCOPE);
      const page = await listJobs(pool, {
        limit: q.limit ?? 50,
        ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
        ...(q.tenant === undefined ? {} : { tenantId: q.tenant }),
        ...(q.state === undefined ? {} : { state: q.state }),
      });
      return { items: page.items.map((job) => jobView(job, urls)), nextCursor: page.nextCursor };
    },
  );

  app.get(
    "/v1/jobs/:id",
    {
      config: { scope: "read" },
      schema: {
        tags: ["jobs"],
        summary: "A job's state, phase, progress, steps with timings and error detail",
        description:
          "With `wait`, a queued or running job's answer is held until the job ends or `wait` " +
          "seconds pass, whichever comes first; the job is answered as it is then (check `state`). " +
          "Deploy tooling can follow a job to its end with one request per `wait` seconds instead of polling. " +
          "A finished job is deleted with its events and deliveries `FLEETWAY_RETENTION_DAYS` (default 30) " +
          "days after it ended, unless it is its tenant's latest job or belongs to a rollout still kept; " +
          "then this answers 404 JOB_NOT_FOUND.",
        params: JobParams,
        querystring: Type.Object({
          wait: Type.Optional(
            Type.Integer({
              minimum: 0,
              maximum: MAX_WAIT_SECONDS,
              default: 0,
              description: "Seconds to wait for an active job to end (0: answer at once)",
            }),
          ),
        }),
        response: { 200: Type.Ref("Job"), ...ErrorResponses },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const waitMs = (request.query.wait ?? 0) * 1000;
      const urls = urlViewFor(request.principal, CALLBACK_URL_SCOPE);
      if (waitMs === 0) return jobView(await requireJob(pool, id), urls);
      const deadline = Date.now() + waitMs;
      let wait: JobEndWait | null = null;
      // The client may have left before the handler ran (its close event is then past).
      let gone = request.raw.socket.destroyed;
      reply.raw.once("close", () => {
        gone = true;
        wait?.cancel();
      });
      for (;;) {
        // Registered before the read: an end committed in between still wakes this request.
        wait = deps.jobEnds.waitForEnd(id, Math.min(deadline - Date.now(), WAIT_RECHECK_MS));
        try {
          const job = await requireJob(pool, id);
          const answerNow =
            !ACTIVE_STATES.has(job.state) || Date.now() >= deadline || gone || deps.jobEnds.stopped;
          if (answerNow) return jobView(job, urls);
          await wait.ended;
        } finally {
          wait.cancel();
        }
      }
    },
  );

  app.get(
    "/v1/jobs/:id/events",
    {
      config: { scope: "read" },
      schema: {
        tags: ["jobs"],
        summary: "The job's ordered event log",
        description:
          "Pages like every list (limit, cursor, nextCursor); `after` starts after a given seq instead, for a client following the log",
        params: JobParams,
        querystring: Type.Object({
          after: Type.Optional(
            Type.Integer({ minimum: 0, description: "Only events with a larger seq" }),
          ),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 200 })),
          cursor: PageQuery.cursor,
        }),
        response: { 200: pageOf(JobEventSchema), ...ErrorResponses },
      },
    },
    async (request) => {
      await requireJob(pool, request.params.id);
      const limit = request.query.limit ?? 200;
      const afterSeq = decodeCursor(request.query.cursor, seqKey) ?? request.query.after ?? 0;
      const events = await listJobEvents(pool, request.params.id, { limit: limit + 1, afterSeq });
      const page = toPage(events, limit, (e) => e.seq);
      return {
        items: page.items.map((e) => ({
          seq: e.seq,
          type: e.type,
          data: e.data,
          createdAt: e.createdAt.toISOString(),
        })),
        nextCursor: page.nextCursor,
      };
    },
  );

  app.post(
    "/v1/jobs/:id/cancel",
    {
      config: { scope: "write" },
      schema: {
        tags: ["jobs"],
        summary: "Cancel a job",
        description:
          "A queued job is cancelled at once. A running job's current statement is cancelled and its step " +
          "rolled back; the job ends 'cancelled' at its last committed revision (poll the job).",
        params: JobParams,
        response: { 202: Type.Ref("Job"), ...ErrorResponses },
      },
    },
    async (request, reply) => {
      const id = request.params.id;
      const outcome = await cancelJob(deps, id, { name: request.principal?.name ?? null });
      if (outcome.kind === "not-active") {
        const job = await requireJob(pool, id);
        throw new FleetwayError(
          ErrorCode.JOB_NOT_CANCELLABLE,
          `Job ${id} is already ${job.state}`,
          {
            jobId: id,
            state: job.state,
          },
        );
      }
      // A rollout's queued job ended here, not in a worker: its rollout settles it and fills
      // the slot now. (A running job's worker nudges when the job stops.)
      if (outcome.kind === "cancelled" && outcome.job.rolloutId !== null)
        deps.onRolloutRunnable?.(outcome.job.rolloutId);
      return reply
        .status(202)
        .header("location", `/v1/jobs/${id}`)
        .send(jobView(outcome.job, urlViewFor(request.principal, CALLBACK_URL_SCOPE)));
    },
  );
}
