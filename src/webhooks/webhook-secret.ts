import { randomBytes } from "node:crypto";

/** Standard Webhooks secrets: `whsec_` + base64 of 24 to 64 random bytes. */
export const SECRET_PATTERN = /^whsec_[A-Za-z0-9+/]{32,88}={0,2}$/;

export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}

export function isWebhookSecret(value: string): boolean {
  if (!SECRET_PATTERN.test(value)) return false;
  const bytes = Buffer.from(value.slice("whsec_".length), "base64");
  return bytes.length >= 24 && bytes.length <= 64;
}
