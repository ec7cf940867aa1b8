/**
 * A generated sweep: for literal graphs of every shape, from every state the fleet can be in, to
 * every revision and symbolic target, each plan that can be made must satisfy the partial-order
 * and head-bookkeeping invariants (graph-helpers' assertPlanInvariants).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RevisionGraph } from "../../src/engine/graph/revision-graph.js";
import { isFleetwayError } from "../../src/engine/errors.js";
import { allDownRevisions } from "../../src/engine/graph/revision-node.js";
import { planMigration } from "../../src/engine/plan/plan-migration.js";
import type { Operation } from "../../src/engine/plan/migration-plan.js";
import { assertPlanInvariants, graph, reachableHeadSets } from "../support/graph-helpers.js";

const SHAPES: Record<string, RevisionGraph> = {
  linear: graph([
    ["a", []],
    ["b", "a"],
    ["c", "b"],
    ["d", "c"],
  ]),
  diamond: graph([
    ["a", []],
    ["b1", "a"],
    ["b2", "a"],
    ["m", ["b1", "b2"]],
    ["n", "m"],
  ]),
  "two heads": graph([
    ["a", []],
    ["b", "a"],
    ["c1", "b"],
    ["c2", "b"],
    ["d2", "c2"],
  ]),
  "labelled branches": graph([
    ["a", []],
    ["x1", "a", { labels: ["x"] }],
    ["x2", "x1"],
    ["y1", "a", { labels: ["y"] }],
    ["y2", "y1"],
  ]),
  depends_on: graph([
    ["l1", [], { labels: ["lib"] }],
    ["l2", "l1"],
    ["p1", []],
    ["p2", "p1", { dependsOn: ["l2"] }],
    ["p3", "p2"],
  ]),
  "several roots and a 3-way merge": graph([
    ["r1", []],
    ["r2", []],
    ["r3", []],
    ["s2", "r2"],
    ["m", ["r1", "s2", "r3"]],
    ["t", "m"],
  ]),
};

/** Ancestors through down_revision links only. */
function versionedAncestors(g: RevisionGraph, id: string): Set<string> {
  const seen = new Set<string>();
  const todo = [...g.node(id).downRevisions];
  while (todo.length > 0) {
    const next = todo.pop() as string;
    if (seen.has(next)) continue;
    seen.add(next);
    todo.push(...g.node(next).downRevisions);
  }
  return seen;
}

const SYMBOLIC = ["heads", "base", "+1", "-1", "+2", "-2"];

describe("plan sweep: every state × every target respects the graph", () => {
  for (const [name, g] of Object.entries(SHAPES)) {
    it(name, () => {
      const states = reachableHeadSets(g);
      assert.ok(states.length > g.size / 2, `explored ${states.length} states`);
      const targets = [
        ...g.revisions.map((r) => r.id),
        ...SYMBOLIC,
        ...[...g.branchLabels.keys()].flatMap((l) => [
          `${l}@head`,
          `${l}@base`,
          `${l}@+1`,
          `${l}@-1`,
        ]),
      ];
      let planned = 0;
      for (const heads of states) {
        for (const target of targets) {
          for (const operation of ["upgrade", "downgrade", "stamp"] as Operation[]) {
            let plan;
            try {
              plan = planMigration(g, { operation, target, purge: false }, heads);
            } catch (error) {
              // Refusals must be typed errors, never crashes.
              assert.ok(
                isFleetwayError(error),
                `${operation} ${target} from [${heads.join(",")}]: ${String(error)}`,
              );
              continue;
            }
            assertPlanInvariants(g, plan);
            if (operation === "upgrade" && g.has(target)) {
              assert.ok(
                g.appliedRevisions([...plan.toHeads]).includes(target),
                `upgrade to ${target} applies it`,
              );
            }
            if (
              operation === "downgrade" &&
              g.has(target) &&
              g.appliedRevisions(heads).includes(target)
            ) {
              // Alembic's downgrade to X undoes exactly the applied revisions that descend from X
              // through down_revision, and then whatever depends on one of those; a revision that
              // merely depends on X itself stays.
              const before = g.appliedRevisions(heads);
              const removed = new Set(
                before.filter((id) => id !== target && versionedAncestors(g, id).has(target)),
              );
              for (let grew = true; grew;) {
                grew = false;
                for (const id of before) {
                  if (
                    !removed.has(id) &&
                    allDownRevisions(g.node(id)).some((p) => removed.has(p))
                  ) {
                    removed.add(id);
                    grew = true;
                  }
                }
              }
              const expected = before.filter((id) => !removed.has(id));
              assert.deepEqual(
                g.appliedRevisions([...plan.toHeads]).sort(),
                expected.sort(),
                `downgrade to ${target} from [${heads.join(",")}]`,
              );
            }
            planned++;
          }
        }
      }
      assert.ok(planned > 0);
    });
  }
});
