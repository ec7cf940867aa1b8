import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

/** Seals and opens secrets (tenant connection strings) for storage in the control database. */
export interface SecretBox {
  encrypt(plain: string): string;
  decrypt(sealed: string): string;
}

const VERSION = "v1";
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * AES-256-GCM with a random 96-bit IV per value; output `v1.<iv>.<ciphertext>.<tag>` (base64url).
 * GCM's tag makes tampering or a wrong key fail loudly instead of yielding garbage. The version
 * prefix leaves room for key rotation later.
 */
export function createSecretBox(key: Buffer): SecretBox {
  if (key.length !== 32) throw new Error("The encryption key must be exactly 32 bytes");
  return {
    encrypt(plain) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", key, iv);
      const ciphertext = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [VERSION, iv, ciphertext, tag]
        .map((part) => (typeof part === "string" ? part : part.toString("base64url")))
        .join(".");
    },
    decrypt(sealed) {
      const parts = sealed.split(".");
      const [version, iv, ciphertext, tag] = parts;
      if (
        parts.length !== 4 ||
        version !== VERSION ||
        iv === undefined ||
        ciphertext === undefined ||
        tag === undefined
      ) {
        throw new Error("Not a value sealed by Fleetway (unknown format)");
      }
      const ivBytes = Buffer.from(iv, "base64url");
      const tagBytes = Buffer.from(tag, "base64url");
      if (ivBytes.length !== IV_BYTES || tagBytes.length !== TAG_BYTES)
        throw new Error("Corrupt sealed value");
      try {
        const decipher = createDecipheriv("aes-256-gcm", key, ivBytes);
        decipher.setAuthTag(tagBytes);
        return Buffer.concat([
          decipher.update(Buffer.from(ciphertext, "base64url")),
          decipher.final(),
        ]).toString("utf8");
      } catch {
        // Never echo any of the value: the message may end up in a log.
        throw new Error(
          "Could not decrypt a sealed value: wrong FLEETWAY_ENCRYPTION_KEY or tampered data",
        );
      }
    },
  };
}
