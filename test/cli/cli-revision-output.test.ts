/**
 * The text of `show`, `heads`, `branches` and `history` against Alembic's: `Script.log_entry`
 * (`-v`, `show`), `Script._head_only` (one line) and command.py's `branches`. No database.
 *
 *   a1 (alpha) ─┬─ a2 ─┬─ a4 ─┐
 *               │      └─ a5  ├─ m1 (merges a3, a4; depends_on d1)
 *               └─ a3 ────────┘
 *   d1 (data): only depended on, an "effective head"
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fleetway } from "../support/cli-harness.js";

interface Revision {
  readonly id: string;
  readonly down: string;
  readonly extra?: readonly string[];
}

const revisions: readonly Revision[] = [
  { id: "a1", down: "none", extra: ["-- branch_labels: alpha"] },
  { id: "a2", down: "a1" },
  { id: "a3", down: "a1" },
  { id: "a4", down: "a2" },
  { id: "a5", down: "a2" },
  { id: "m1", down: "a3, a4", extra: ["-- depends_on: d1"] },
  { id: "d1", down: "none", extra: ["-- branch_labels: data"] },
];

function sqlFile({ id, down, extra = [] }: Revision): string {
  return [
    `-- revision: ${id}`,
    `-- down_revision: ${down}`,
    `-- message: ${id} msg`,
    ...extra,
    "",
    "-- upgrade",
    "SELECT 1;",
    "",
    "-- downgrade",
    "SELECT 1;",
    "",
  ].join("\n");
}

describe("revision output (Alembic's log_entry, _head_only, branches)", () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "fleetway-output-"));
    for (const revision of revisions) {
      await writeFile(join(dir, `${revision.id}.sql`), sqlFile(revision));
    }
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** stdout, with the checksums (which depend on the file text) blanked. */
  const run = async (...args: string[]): Promise<string> => {
    const result = await fleetway([...args, "--dir", dir]);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.replace(/^Checksum: [0-9a-f]+$/gm, "Checksum: -");
  };
  const entry = (id: string, fields: readonly string[]): string =>
    [
      ...fields,
      `Path: ${join(dir, `${id}.sql`)}`,
      "Transactional: yes",
      "Checksum: -",
      "",
      `    ${id} msg`,
      "",
    ].join("\n");

  it("-v: a merge point's parents are on a Merges: line instead of Parent:", async () => {
    assert.equal(
      await run("show", "m1"),
      entry("m1", [
        "Rev: m1 (head) (mergepoint)",
        "Merges: a3, a4",
        "Also depends on: d1",
        "Branch names: alpha",
      ]) + "\n",
    );
  });
  it("-v: Branches into: comes before Branch names:, in log_entry's order", async () => {
    assert.equal(
      await run("show", "a1"),
      entry("a1", [
        "Rev: a1 (branchpoint)",
        "Parent: <base>",
        "Branches into: a2, a3",
        "Branch names: alpha",
      ]) + "\n",
    );
  });
  it("(effective head) is one-line only: -v says (head) for any revision with no down_revision child", async () => {
    // _head_only: "(head)" for a real head, "(effective head)" for a revision only depended on.
    assert.deepEqual((await run("heads")).trimEnd().split("\n").sort(), [
      "a5 (alpha) (head)",
      "d1 (data) (effective head)",
      "m1 (alpha) (head)",
    ]);
    assert.match(await run("history"), /^<base> -> d1 \(data\) \(effective head\), d1 msg$/m);
    // log_entry: "(head)" for is_head, which a dependent does not change.
    assert.match(await run("show", "d1"), /^Rev: d1 \(head\)$/m);
    assert.match(await run("heads", "-v"), /^Rev: d1 \(head\)$/m);
  });
  it("branches: each branch point, then its children as one-liners (message with -v only), then a blank line", async () => {
    // command.branches: cmd_format(verbose) for the point, the children with
    // cmd_format(False, include_branches=True, include_doc=verbose), tree indicators included,
    // printed as "%s\n%s\n" (print_stdout adds the blank line's newline).
    assert.equal(
      await run("branches"),
      [
        "a2 (alpha) (branchpoint)",
        "   -> a4 (alpha)",
        "   -> a5 (alpha) (head)",
        "",
        "a1 (alpha) (branchpoint)",
        "   -> a2 (alpha) (branchpoint)",
        "   -> a3 (alpha)",
        "",
        "",
      ].join("\n"),
    );
    assert.equal(
      await run("branches", "-v"),
      [
        entry("a2", [
          "Rev: a2 (branchpoint)",
          "Parent: a1",
          "Branches into: a4, a5",
          "Branch names: alpha",
        ]),
        "   -> a4 (alpha), a4 msg",
        "   -> a5 (alpha) (head), a5 msg",
        "",
        entry("a1", [
          "Rev: a1 (branchpoint)",
          "Parent: <base>",
          "Branches into: a2, a3",
          "Branch names: alpha",
        ]),
        "   -> a2 (alpha) (branchpoint), a2 msg",
        "   -> a3 (alpha), a3 msg",
        "",
        "",
      ].join("\n"),
    );
  });
  it("a message of several lines: its first paragraph on one line, every line indented in -v", async () => {
    // Script.doc (re.split("\n\n", longdoc)[0]) for one line, Script.longdoc line by line for -v.
    const own = await mkdtemp(join(tmpdir(), "fleetway-output-doc-"));
    try {
      await writeFile(
        join(own, "p1.mjs"),
        [
          'export const revision = "p1";',
          "export const down_revision = null;",
          'export const message = "Add phones\\n\\nBackfilled from the CRM,\\nin batches.\\n";',
          "export async function upgrade() {}",
          "",
        ].join("\n"),
      );
      const history = await fleetway(["history", "--dir", own]);
      assert.equal(history.stdout, "<base> -> p1 (head), Add phones\n");
      const shown = await fleetway(["show", "p1", "--dir", own]);
      assert.ok(
        shown.stdout.endsWith(
          "\n\n    Add phones\n    \n    Backfilled from the CRM,\n    in batches.\n\n",
        ),
        shown.stdout,
      );
    } finally {
      await rm(own, { recursive: true, force: true });
    }
  });
});
