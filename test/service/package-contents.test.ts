/**
 * The npm package holds what `fleetway serve` reads at start-up: the control database's own
 * revisions are read from src/control/migrations (CONTROL_MIGRATIONS_DIR), not compiled into dist.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdir } from "node:fs/promises";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { CONTROL_MIGRATIONS_DIR } from "../../src/control/control-db.js";

const run = promisify(execFile);
const root = new URL("../..", import.meta.url).pathname;

describe("the npm package", () => {
  it("ships the control database's revisions", async () => {
    const { stdout } = await run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
      cwd: root,
    });
    const [pack] = JSON.parse(stdout) as { files: { path: string }[] }[];
    const packed = new Set((pack?.files ?? []).map((f) => f.path));
    const revisions = (await readdir(CONTROL_MIGRATIONS_DIR)).filter((f) => f.endsWith(".sql"));
    assert.ok(revisions.length > 0);
    for (const file of revisions) {
      assert.ok(packed.has(`src/control/migrations/${file}`), `${file} is not in the package`);
    }
    assert.ok(packed.has("bin/fleetway.js"));
  });
});
