import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ErrorCode, FleetwayError } from "../../engine/errors.js";
import type { CliIo } from "../cli-io.js";

const README = `# Migrations

One file per revision, managed with the \`fleetway\` CLI:

    fleetway revision -m "create users"        # new .sql revision on top of the current head
    fleetway revision -m "backfill" --format ts # a TypeScript revision for data migrations
    fleetway heads | history | check            # inspect the graph
    fleetway upgrade head --database-url postgres://...

A \`.sql\` revision has a header and two sections:

    -- revision: 3f2a9c1b7d10
    -- down_revision: none
    -- message: create users

    -- upgrade
    CREATE TABLE users (id bigint PRIMARY KEY);

    -- downgrade
    DROP TABLE users;
`;

/** `fleetway init`: creates an empty migration directory with a short guide. */
export async function initDirectory(io: CliIo, dir: string): Promise<void> {
  const existing = await readdir(dir).catch(() => null);
  if (existing !== null && existing.length > 0) {
    throw new FleetwayError(
      ErrorCode.USAGE_ERROR,
      `Directory ${dir} already exists and is not empty`,
      { dir },
    );
  }
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "README.md"), README);
  io.stdout(`Created ${dir}. Next: fleetway revision -m "first revision" --dir ${dir}\n`);
}
