// Which callers see URLs whole. The shapes of jobs and tenants themselves, shared with the event
// payloads, are in webhooks/payload-views.ts (and webhooks/origin-only.ts for URLs).

import type { UrlView } from "../webhooks/origin-only.js";
import { scopeAllows, type Principal, type Scope } from "./plugins/api-key-auth.js";

/**
 * The scope that sets job and rollout callback URLs (POST /v1/tenants/{id}/jobs, /v1/rollouts):
 * keys with it see them whole, others see their origin.
 */
export const CALLBACK_URL_SCOPE: Scope = "write";

/** The scope that creates webhook subscriptions (POST /v1/webhooks), and so sees their URLs. */
export const SUBSCRIPTION_URL_SCOPE: Scope = "admin";

/**
 * How `principal` sees URLs set with scope `owner`: whole if its scope allows `owner`, else as
 * their origin. Receivers put tokens in the path or query string, and a read-only key (a
 * dashboard, a CI status check) must not get what lets it post to them.
 */
export function urlViewFor(principal: Principal | null, owner: Scope): UrlView {
  return principal !== null && scopeAllows(principal.scope, owner) ? "whole" : "origin";
}
