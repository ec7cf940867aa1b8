import type { FastifyInstance } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { inSnapshotTransaction, inTransaction } from "../../control/control-db.js";
import type { Queryable } from "../../control/queryable.js";
import { cancelJob } from "../../jobs/cancel-job.js";
import {
  activeRolloutJobIds,
  cancelPendingTenants,
  getRollout,
  insertRollout,
  listRollouts,
  requireRollout,
  rolloutNotFound,
  resetFailedTenants,
  transitionRollout,
  type RolloutState,
} from "../../control/rollout-store.js";
import { ErrorCode, FleetwayError } from "../../engine/errors.js";
import { describeRollout } from "../../jobs/rollout-status.js";
import { validateTarget } from "../../jobs/validate-target.js";
import type { WebhookEventType } from "../../webhooks/job-event-publisher.js";
import { assertWebhookUrlAllowed } from "../../webhooks/ssrf-guard.js";
import type { AppDeps } from "../app-deps.js";
import { ErrorResponses, PageQuery, pageOf, Tag, TenantId } from "../schemas/common-schemas.js";
import { withoutCredentials } from "../../webhooks/origin-only.js";
import { CALLBACK_URL_SCOPE, urlViewFor } from "../views.js";

const Id = Type.Object({ id: Type.String({ format: "uuid" }) });

const Selector = Type.Union([
  Type.Object({ all: Type.Literal(true) }, { additionalProperties: false }),
  Type.Object(
    { ids: Type.Array(TenantId, { minItems: 1, maxItems: 100_000 }) },
    { additionalProperties: false },
  ),
  Type.Object({ tags: Type.Array(Tag, { minItems: 1 }) }, { additionalProperties: false }),
]);
const Amount = Type.Union([
  Type.Object({ count: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
  Type.Object(
    { percent: Type.Number({ minimum: 0, maximum: 100 }) },
    { additionalProperties: false },
  ),
]);

const CreateRolloutBody = Type.Object(
  {
    target: Type.String({ minLength: 1, maxLength: 200 }),
    tenants: Selector,
    waves: Type.Optional(
      Type.Array(Amount, {
        minItems: 1,
        maxItems: 100,
        description: "Cumulative: e.g. [{count:1},{percent:10},{percent:100}]",
      }),
    ),
    maxParallel: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
    failureThreshold: Type.Optional(Amount),
    callbackUrl: Type.Optional(
      Type.String({ format: "uri", pattern: "^https?://", maxLength: 2048 }),
    ),
  },
  { additionalProperties: false },
);

const RolloutSchema = Type.Object(
  {
    id: Type.String(),
    target: Type.String(),
    selector: Type.Unknown(),
    state: Type.String(),
    haltedReason: Type.Union([Type.String(), Type.Null()]),
    maxParallel: Type.Integer(),
    failureThreshold: Type.Unknown(),
    currentWave: Type.Integer(),
    totalTenants: Type.Integer(),
    counts: Type.Record(Type.String(), Type.Integer()),
    waves: Type.Array(
      Type.Object({
        index: Type.Integer(),
        spec: Type.Unknown(),
        tenants: Type.Integer(),
        counts: Type.Record(Type.String(), Type.Integer()),
      }),
    ),
    failures: Type.Array(
      Type.Object({
        tenantId: Type.String(),
        state: Type.Union([Type.Literal("failed"), Type.Literal("cancelled")]),
        wave: Type.Integer(),
        jobId: Type.Union([Type.String(), Type.Null()]),
        error: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
      }),
    ),
    deletedTenants: Type.Array(Type.Object({ tenantId: Type.String(), wave: Type.Integer() }), {
      description:
        "Tenants deleted while the rollout ran (the first 100): skipped (counted in counts.skipped, " +
        "recorded with code TENANT_DELETED), not failed, so they neither halt the rollout nor fail it",
    }),
    etaSeconds: Type.Union([Type.Integer(), Type.Null()]),
    callbackUrl: Type.Union([Type.String(), Type.Null()], {
      description:
        "Credentials in the URL are never shown; keys without write scope, and webhook payloads, " +
        "get its origin only (path and query, where receivers keep tokens, as /[redacted])",
    }),
    createdAt: Type.String({ format: "date-time" }),
    updatedAt: Type.String({ format: "date-time" }),
    finishedAt: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
  },
  { $id: "Rollout" },
);

export const ROLLOUT_SCHEMAS = [RolloutSchema];

/**
 * Why an action did not move a rollout, read after its update found nothing to move (not from
 * an earlier read, which retention or another action may have overtaken): the rollout does not
 * exist (any more: a failed rollout's retry can race retention deleting it), or it is in a
 * state the action does not start from.
 */
async function refusal(db: Queryable, id: string, action: string): Promise<FleetwayError> {
  const current = await getRollout(db, id);
  if (current === null) return rolloutNotFound(id);
  return new FleetwayError(
    ErrorCode.ROLLOUT_STATE_CONFLICT,
    `Cannot ${action} a rollout that is ${current.state}`,
    { rolloutId: id, state: current.state },
  );
}

/** Fleet-wide rollouts: create, follow, pause, resume, cancel, retry. */
export function registerRolloutRoutes(root: FastifyInstance, deps: AppDeps): void {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const { pool } = deps;

  app.post(
    "/v1/rollouts",
    {
      config: { scope: "write" },
      schema: {
        tags: ["rollouts"],
        summary: "Bring a set of tenants to a target, wave by wave",
        description:
          "Jobs are created wave by wave, at most maxParallel at once across all workers. A wave starts when the " +
          "previous one finished within failureThreshold; otherwise the rollout halts. Tenants already at the " +
          "target are skipped, and so are tenants deleted while it runs (listed in deletedTenants). A " +
          "selection by ids that names a tenant not registered is refused with 400 UNKNOWN_TENANTS " +
          "(data.unknownIds, data.unknownCount), and nothing is created.",
        body: CreateRolloutBody,
        response: { 202: Type.Ref("Rollout"), ...ErrorResponses },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const urls = urlViewFor(request.principal, CALLBACK_URL_SCOPE);
      validateTarget(deps.migrations, "upgrade", body.target, null);
      if (body.callbackUrl !== undefined)
        await assertWebhookUrlAllowed(body.callbackUrl, deps.webhookPolicy);
      // One snapshot for counting the selected tenants and inserting them (see insertRollout).
      // A webhook subscription deleted meanwhile fails its delivery's foreign key with a
      // serialization failure: the creation then starts again on a new snapshot.
      const { view, deliveries } = await inSnapshotTransaction(pool, async (tx) => {
        const rollout = await insertRollout(tx, {
          target: body.target,
          selector: body.tenants,
          waves: body.waves ?? [{ percent: 100 }],
          maxParallel: body.maxParallel ?? 10,
          failureThreshold: body.failureThreshold ?? { count: 0 },
          callbackUrl: body.callbackUrl === undefined ? null : withoutCredentials(body.callbackUrl),
          callbackUrlSealed:
            body.callbackUrl === undefined ? null : deps.secretBox.encrypt(body.callbackUrl),
        });
        const described = await describeRollout(tx, rollout, urls);
        return {
          view: described,
          deliveries: await deps.events.recordRolloutEvent(
            tx,
            rollout,
            "rollout.started",
            described,
          ),
        };
      });
      await deps.events.enqueue(deliveries);
      deps.onRolloutRunnable?.(view.id);
      request.log.info({ rolloutId: view.id, tenants: view.totalTenants }, "rollout created");
      return reply.status(202).header("location", `/v1/rollouts/${view.id}`).send(view);
    },
  );

  app.get(
    "/v1/rollouts",
    {
      config: { scope: "read" },
      schema: {
        tags: ["rollouts"],
        summary: "List rollouts, newest first",
        querystring: Type.Object({ ...PageQuery }),
        response: { 200: pageOf(Type.Ref("Rollout")), ...ErrorResponses },
      },
    },
    async (request) => {
      const page = await listRollouts(pool, {
        limit: request.query.limit ?? 20,
        ...(request.query.cursor === undefined ? {} : { cursor: request.query.cursor }),
      });
      const urls = urlViewFor(request.principal, CALLBACK_URL_SCOPE);
      const items = [];
      for (const rollout of page.items) items.push(await describeRollout(pool, rollout, urls));
      return { items, nextCursor: page.nextCursor };
    },
  );

  app.get(
    "/v1/rollouts/:id",
    {
      config: { scope: "read" },
      schema: {
        tags: ["rollouts"],
        summary: "State, counts per state and wave, failures, ETA",
        description:
          "A finished rollout (succeeded, failed, cancelled) is deleted with its deliveries " +
          "`FLEETWAY_RETENTION_DAYS` (default 30) days after it ended, and its jobs after it (but each " +
          "tenant's latest job); then this answers 404 ROLLOUT_NOT_FOUND.",
        params: Id,
        response: { 200: Type.Ref("Rollout"), ...ErrorResponses },
      },
    },
    async (request) =>
      describeRollout(
        pool,
        await requireRollout(pool, request.params.id),
        urlViewFor(request.principal, CALLBACK_URL_SCOPE),
      ),
  );

  const action = (
    name: string,
    summary: string,
    from: readonly RolloutState[],
    to: RolloutState,
    event: WebhookEventType | null,
    before?: (id: string) => Promise<void>,
  ): void => {
    app.post(
      `/v1/rollouts/:id/${name}`,
      {
        config: { scope: "write" },
        schema: {
          tags: ["rollouts"],
          summary,
          params: Id,
          response: { 202: Type.Ref("Rollout"), ...ErrorResponses },
        },
      },
      async (request, reply) => {
        const id = request.params.id;
        const { view, deliveries } = await inTransaction(pool, async (tx) => {
          const moved = await transitionRollout(
            tx,
            id,
            from,
            to,
            to === "running" ? { haltedReason: null } : {},
          );
          if (moved === null) throw await refusal(tx, id, name);
          let now = moved;
          if (name === "retry") {
            await resetFailedTenants(tx, id);
            now = await requireRollout(tx, id); // its current wave may have moved back
          }
          if (name === "cancel") await cancelPendingTenants(tx, id);
          const described = await describeRollout(
            tx,
            now,
            urlViewFor(request.principal, CALLBACK_URL_SCOPE),
          );
          return {
            view: described,
            deliveries:
              event === null ? [] : await deps.events.recordRolloutEvent(tx, now, event, described),
          };
        });
        await before?.(id);
        await deps.events.enqueue(deliveries);
        if (to === "running") deps.onRolloutRunnable?.(id);
        return reply.status(202).header("location", `/v1/rollouts/${id}`).send(view);
      },
    );
  };

  action("pause", "Stop launching jobs (running ones finish)", ["running"], "paused", null);
  action("resume", "Launch jobs again", ["paused"], "running", null);
  action(
    "retry",
    "Re-queue the failed tenants of a halted or failed rollout",
    ["halted", "failed"],
    "running",
    null,
  );
  action(
    "cancel",
    "Stop the rollout: queued jobs are cancelled, running ones have their statement cancelled",
    ["running", "paused", "halted"],
    "cancelled",
    "rollout.cancelled",
    async (id) => {
      for (const jobId of await activeRolloutJobIds(pool, id)) await cancelJob(deps, jobId);
    },
  );
}
