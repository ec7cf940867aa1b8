/** Sealed connection strings (AES-256-GCM). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createSecretBox } from "../../src/control/secret-box.js";

const KEY = Buffer.alloc(32, 1);
const URL_WITH_PASSWORD = "postgres://app:s3cret-pw@db.internal:5432/tenant_a";

/** `sealed` with one bit of part `index` (1 iv, 2 ciphertext, 3 tag) flipped. */
function flipBit(sealed: string, index: number): string {
  const parts = sealed.split(".");
  const bytes = Buffer.from(parts[index] ?? "", "base64url");
  bytes[0] = (bytes[0] ?? 0) ^ 1;
  parts[index] = bytes.toString("base64url");
  return parts.join(".");
}

const failsWithoutEcho = (run: () => unknown, message: RegExp): void => {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof Error);
    assert.match(error.message, message);
    assert.doesNotMatch(error.message, /s3cret/);
    return true;
  });
};

describe("secret box", () => {
  const box = createSecretBox(KEY);

  it("round-trips, including empty and non-ASCII text", () => {
    for (const plain of [URL_WITH_PASSWORD, "", "postgres://üser:pässwörd@h/d?x=✓"]) {
      assert.equal(box.decrypt(box.encrypt(plain)), plain);
    }
    const other = createSecretBox(Buffer.from(KEY));
    assert.equal(other.decrypt(box.encrypt(URL_WITH_PASSWORD)), URL_WITH_PASSWORD, "same key");
  });

  it("writes v1.<iv>.<ciphertext>.<tag> in base64url with a 12-byte IV and a 16-byte tag", () => {
    const sealed = box.encrypt(URL_WITH_PASSWORD);
    assert.match(sealed, /^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const [, iv, ciphertext, tag] = sealed.split(".");
    assert.equal(Buffer.from(iv ?? "", "base64url").length, 12);
    assert.equal(Buffer.from(tag ?? "", "base64url").length, 16);
    assert.equal(Buffer.from(ciphertext ?? "", "base64url").length, URL_WITH_PASSWORD.length);
    assert.doesNotMatch(sealed, /s3cret/);
  });

  it("uses a fresh random IV for every value", () => {
    const sealed = Array.from({ length: 200 }, () => box.encrypt(URL_WITH_PASSWORD));
    const ivs = new Set(sealed.map((s) => s.split(".")[1]));
    assert.equal(ivs.size, sealed.length, "no IV repeats");
    assert.equal(new Set(sealed).size, sealed.length, "equal plaintexts seal differently");
  });

  it("detects tampering with the IV, the ciphertext or the tag", () => {
    const sealed = box.encrypt(URL_WITH_PASSWORD);
    for (const part of [1, 2, 3]) {
      failsWithoutEcho(
        () => box.decrypt(flipBit(sealed, part)),
        /wrong FLEETWAY_ENCRYPTION_KEY or tampered/,
      );
    }
    const [version, iv, , tag] = sealed.split(".");
    const swapped = [version, iv, box.encrypt("postgres://x:y@h/d").split(".")[2], tag].join(".");
    failsWithoutEcho(() => box.decrypt(swapped), /wrong FLEETWAY_ENCRYPTION_KEY or tampered/);
  });

  it("refuses a wrong key", () => {
    const sealed = box.encrypt(URL_WITH_PASSWORD);
    failsWithoutEcho(
      () => createSecretBox(Buffer.alloc(32, 2)).decrypt(sealed),
      /wrong FLEETWAY_ENCRYPTION_KEY or tampered/,
    );
  });

  it("refuses values that are not sealed, or cut short", () => {
    const sealed = box.encrypt(URL_WITH_PASSWORD);
    const parts = sealed.split(".");
    failsWithoutEcho(() => box.decrypt(URL_WITH_PASSWORD), /unknown format/);
    failsWithoutEcho(() => box.decrypt(`v2.${parts.slice(1).join(".")}`), /unknown format/);
    failsWithoutEcho(() => box.decrypt(parts.slice(0, 3).join(".")), /unknown format/);
    failsWithoutEcho(() => box.decrypt(`${sealed}.extra`), /unknown format/);
    const shortTag = [...parts.slice(0, 3), (parts[3] ?? "").slice(0, 8)].join(".");
    failsWithoutEcho(() => box.decrypt(shortTag), /Corrupt/);
  });

  it("wants a 32-byte key", () => {
    assert.throws(() => createSecretBox(Buffer.alloc(16)), /32 bytes/);
    assert.throws(() => createSecretBox(Buffer.alloc(33)), /32 bytes/);
  });
});
