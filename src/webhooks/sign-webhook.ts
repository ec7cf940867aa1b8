import { Webhook } from "standardwebhooks";

/** The three Standard Webhooks headers of one message. */
export interface SignedHeaders {
  readonly "webhook-id": string;
  readonly "webhook-timestamp": string;
  readonly "webhook-signature": string;
}

/**
 * Signs `body` per the Standard Webhooks specification v1 with every given secret: during a
 * rotation both the new and the previous secret sign, space-separated in one header, so a
 * receiver holding either verifies. Uses the reference implementation (`standardwebhooks`).
 */
export function signWebhook(
  messageId: string,
  timestamp: Date,
  body: string,
  secrets: readonly string[],
): SignedHeaders {
  if (secrets.length === 0) throw new Error("A webhook needs at least one signing secret");
  const signatures = secrets.map((secret) => new Webhook(secret).sign(messageId, timestamp, body));
  return {
    "webhook-id": messageId,
    "webhook-timestamp": String(Math.floor(timestamp.getTime() / 1000)),
    "webhook-signature": signatures.join(" "),
  };
}
