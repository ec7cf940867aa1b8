import { randomBytes } from "node:crypto";

/**
 * A new revision id: 12 lowercase hex characters (48 random bits), like Alembic's. Short enough
 * to type, and it contains none of the characters the target syntax uses (`@ - + :`).
 *
 * @param random source of random bytes, injectable for tests
 */
export function generateRevisionId(random: (bytes: number) => Buffer = randomBytes): string {
  const id = random(6).toString("hex");
  if (id.length !== 12) throw new Error(`expected 6 random bytes, got ${id.length / 2}`);
  return id;
}
