import type { FastifyInstance } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import {
  deliveryNotFound,
  getDelivery,
  listAttempts,
  listDeliveries,
  resetForRedelivery,
  type DeliveryRecord,
} from "../../control/delivery-store.js";
import { requireJob } from "../../control/job-store.js";
import {
  deleteSubscription,
  insertSubscription,
  listSubscriptions,
  requireSubscription,
  rotateSubscriptionSecret,
  type SubscriptionRecord,
} from "../../control/webhook-store.js";
import { WEBHOOK_EVENT_TYPES } from "../../webhooks/job-event-publisher.js";
import { assertWebhookUrlAllowed } from "../../webhooks/ssrf-guard.js";
import { enqueueDeliveryNow } from "../../webhooks/webhook-queue.js";
import { generateWebhookSecret } from "../../webhooks/webhook-secret.js";
import type { AppDeps } from "../app-deps.js";
import { ErrorResponses, PageQuery, pageOf } from "../schemas/common-schemas.js";
import type { Principal } from "../plugins/api-key-auth.js";
import { showUrl, withoutCredentials } from "../../webhooks/origin-only.js";
import { CALLBACK_URL_SCOPE, SUBSCRIPTION_URL_SCOPE, urlViewFor } from "../views.js";

const Id = Type.Object({ id: Type.String({ format: "uuid" }) });
const EventType = Type.Union(WEBHOOK_EVENT_TYPES.map((t) => Type.Literal(t)));

const SubscriptionSchema = Type.Object(
  {
    id: Type.String(),
    url: Type.String({
      description:
        "Credentials in the URL are never shown; keys without admin scope see its origin only " +
        "(path and query, where receivers keep tokens, as /[redacted])",
    }),
    eventTypes: Type.Array(Type.String()),
    description: Type.Union([Type.String(), Type.Null()]),
    enabled: Type.Boolean(),
    disabledReason: Type.Union([Type.String(), Type.Null()]),
    previousSecretExpiresAt: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
    createdAt: Type.String({ format: "date-time" }),
  },
  { $id: "WebhookSubscription" },
);

const DeliverySchema = Type.Object(
  {
    id: Type.String(),
    subscriptionId: Type.Union([Type.String(), Type.Null()]),
    jobId: Type.Union([Type.String(), Type.Null()]),
    url: Type.String({
      description:
        "Credentials in the URL are never shown; its origin only (path and query as /[redacted]) " +
        "to keys without admin scope for a subscription's delivery, without write scope for a callback's",
    }),
    messageId: Type.String({ description: "The webhook-id header, the same on every attempt" }),
    eventType: Type.String(),
    state: Type.String(),
    attempts: Type.Integer(),
    nextAttemptAt: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
    lastStatusCode: Type.Union([Type.Integer(), Type.Null()]),
    lastError: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.String({ format: "date-time" }),
    attemptLog: Type.Optional(
      Type.Array(
        Type.Object({
          attempt: Type.Integer(),
          startedAt: Type.String({ format: "date-time" }),
          durationMs: Type.Integer(),
          statusCode: Type.Union([Type.Integer(), Type.Null()]),
          responseExcerpt: Type.Union([Type.String(), Type.Null()]),
          error: Type.Union([Type.String(), Type.Null()]),
          nextAttemptAt: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
        }),
      ),
    ),
  },
  { $id: "WebhookDelivery" },
);

export const WEBHOOK_SCHEMAS = [SubscriptionSchema, DeliverySchema];

/** A subscription as `principal` may see it: its URL whole to admin keys only. */
function subscriptionView(s: SubscriptionRecord, principal: Principal | null) {
  return {
    id: s.id,
    url: showUrl(s.urlMasked, urlViewFor(principal, SUBSCRIPTION_URL_SCOPE)),
    eventTypes: s.eventTypes,
    description: s.description,
    enabled: s.enabled,
    disabledReason: s.disabledReason,
    previousSecretExpiresAt: s.previousSecretExpiresAt?.toISOString() ?? null,
    createdAt: s.createdAt.toISOString(),
  };
}

/**
 * A delivery as `principal` may see it: its URL is a subscription's (admin sees it whole) or,
 * without a subscription (deleting one deletes its deliveries), a job's or rollout's callback
 * (write sees it whole).
 */
function deliveryView(d: DeliveryRecord, principal: Principal | null) {
  const owner = d.subscriptionId === null ? CALLBACK_URL_SCOPE : SUBSCRIPTION_URL_SCOPE;
  return {
    id: d.id,
    subscriptionId: d.subscriptionId,
    jobId: d.jobId,
    url: showUrl(d.urlMasked, urlViewFor(principal, owner)),
    messageId: d.messageId,
    eventType: d.eventType,
    state: d.state,
    attempts: d.attempts,
    nextAttemptAt: d.nextAttemptAt?.toISOString() ?? null,
    lastStatusCode: d.lastStatusCode,
    lastError: d.lastError,
    createdAt: d.createdAt.toISOString(),
  };
}

/** Webhook subscriptions, their secrets, and the delivery log. */
export function registerWebhookRoutes(root: FastifyInstance, deps: AppDeps): void {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const { pool, secretBox } = deps;

  app.post(
    "/v1/webhooks",
    {
      config: { scope: "admin" },
      schema: {
        tags: ["webhooks"],
        summary: "Subscribe a URL to job events; the signing secret is shown once, here",
        body: Type.Object(
          {
            url: Type.String({ format: "uri", pattern: "^https?://", maxLength: 2048 }),
            eventTypes: Type.Array(EventType, { minItems: 1, uniqueItems: true }),
            description: Type.Optional(Type.String({ maxLength: 500 })),
          },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({
            subscription: Type.Ref("WebhookSubscription"),
            secret: Type.String(),
          }),
          ...ErrorResponses,
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      await assertWebhookUrlAllowed(body.url, deps.webhookPolicy);
      const secret = generateWebhookSecret();
      const subscription = await insertSubscription(pool, {
        urlSealed: secretBox.encrypt(body.url),
        urlMasked: withoutCredentials(body.url),
        eventTypes: body.eventTypes,
        description: body.description ?? null,
        secretSealed: secretBox.encrypt(secret),
      });
      return reply
        .status(201)
        .header("location", `/v1/webhooks/${subscription.id}`)
        .send({ subscription: subscriptionView(subscription, request.principal), secret });
    },
  );

  app.get(
    "/v1/webhooks",
    {
      config: { scope: "read" },
      schema: {
        tags: ["webhooks"],
        summary: "List subscriptions",
        querystring: Type.Object({ ...PageQuery }),
        response: { 200: pageOf(Type.Ref("WebhookSubscription")), ...ErrorResponses },
      },
    },
    async (request) => {
      const page = await listSubscriptions(pool, {
        limit: request.query.limit ?? 50,
        ...(request.query.cursor === undefined ? {} : { cursor: request.query.cursor }),
      });
      return {
        items: page.items.map((s) => subscriptionView(s, request.principal)),
        nextCursor: page.nextCursor,
      };
    },
  );

  app.get(
    "/v1/webhooks/:id",
    {
      config: { scope: "read" },
      schema: {
        tags: ["webhooks"],
        summary: "One subscription",
        params: Id,
        response: { 200: Type.Ref("WebhookSubscription"), ...ErrorResponses },
      },
    },
    async (request) =>
      subscriptionView(await requireSubscription(pool, request.params.id), request.principal),
  );

  app.delete(
    "/v1/webhooks/:id",
    {
      config: { scope: "admin" },
      schema: {
        tags: ["webhooks"],
        summary: "Unsubscribe (its pending deliveries are dropped)",
        params: Id,
        response: { 204: Type.Null(), ...ErrorResponses },
      },
    },
    async (request, reply) => {
      await deleteSubscription(pool, request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    "/v1/webhooks/:id/rotate-secret",
    {
      config: { scope: "admin" },
      schema: {
        tags: ["webhooks"],
        summary:
          "New signing secret (shown once); the old one keeps signing beside it for a grace period",
        params: Id,
        response: {
          200: Type.Object({
            subscription: Type.Ref("WebhookSubscription"),
            secret: Type.String(),
          }),
          ...ErrorResponses,
        },
      },
    },
    async (request) => {
      const secret = generateWebhookSecret();
      const subscription = await rotateSubscriptionSecret(
        pool,
        request.params.id,
        secretBox.encrypt(secret),
        deps.webhookRotationGraceMs,
      );
      return { subscription: subscriptionView(subscription, request.principal), secret };
    },
  );

  const deliveriesPage = {
    querystring: Type.Object({ ...PageQuery }),
    response: { 200: pageOf(Type.Ref("WebhookDelivery")), ...ErrorResponses },
  };

  app.get(
    "/v1/webhooks/:id/deliveries",
    {
      config: { scope: "read" },
      schema: {
        tags: ["webhooks"],
        summary: "A subscription's deliveries, newest first",
        params: Id,
        ...deliveriesPage,
      },
    },
    async (request) => {
      await requireSubscription(pool, request.params.id);
      const page = await listDeliveries(pool, {
        subscriptionId: request.params.id,
        limit: request.query.limit ?? 50,
        ...(request.query.cursor === undefined ? {} : { cursor: request.query.cursor }),
      });
      return {
        items: page.items.map((d) => deliveryView(d, request.principal)),
        nextCursor: page.nextCursor,
      };
    },
  );

  app.get(
    "/v1/jobs/:id/deliveries",
    {
      config: { scope: "read" },
      schema: {
        tags: ["webhooks"],
        summary: "Deliveries of a job's events (subscriptions and callback)",
        params: Id,
        ...deliveriesPage,
      },
    },
    async (request) => {
      await requireJob(pool, request.params.id);
      const page = await listDeliveries(pool, {
        jobId: request.params.id,
        limit: request.query.limit ?? 50,
        ...(request.query.cursor === undefined ? {} : { cursor: request.query.cursor }),
      });
      return {
        items: page.items.map((d) => deliveryView(d, request.principal)),
        nextCursor: page.nextCursor,
      };
    },
  );

  app.get(
    "/v1/deliveries/:id",
    {
      config: { scope: "read" },
      schema: {
        tags: ["webhooks"],
        summary: "One delivery with every attempt",
        params: Id,
        response: { 200: Type.Ref("WebhookDelivery"), ...ErrorResponses },
      },
    },
    async (request) => {
      const delivery = await getDelivery(pool, request.params.id);
      if (delivery === null) throw deliveryNotFound(request.params.id);
      const attempts = await listAttempts(pool, delivery.id);
      return {
        ...deliveryView(delivery, request.principal),
        attemptLog: attempts.map((a) => ({
          ...a,
          startedAt: a.startedAt.toISOString(),
          nextAttemptAt: a.nextAttemptAt?.toISOString() ?? null,
        })),
      };
    },
  );

  app.post(
    "/v1/deliveries/:id/redeliver",
    {
      config: { scope: "write" },
      schema: {
        tags: ["webhooks"],
        summary: "Send a delivery again now (same webhook-id, so receivers can deduplicate)",
        description:
          "Whatever became of the delivery, it is pending again and one more attempt is sent now. " +
          "If an attempt is in flight, that attempt finishes and the redelivery is sent right " +
          "after it, whatever its outcome.",
        params: Id,
        response: { 202: Type.Ref("WebhookDelivery"), ...ErrorResponses },
      },
    },
    async (request, reply) => {
      const existing = await getDelivery(pool, request.params.id);
      if (existing === null) throw deliveryNotFound(request.params.id);
      const delivery = await resetForRedelivery(pool, existing.id);
      await enqueueDeliveryNow(deps.webhookQueue, delivery.id, delivery.attempts + 1);
      return reply
        .status(202)
        .header("location", `/v1/deliveries/${delivery.id}`)
        .send(deliveryView(delivery, request.principal));
    },
  );
}
