/**
 * Literal revision graphs for planner tests, and the invariant every plan must satisfy:
 * it respects the graph's partial order and its head changes add up.
 */
import assert from "node:assert/strict";
import { buildRevisionGraph } from "../../src/engine/graph/build-revision-graph.js";
import type { RevisionGraph } from "../../src/engine/graph/revision-graph.js";
import { allDownRevisions } from "../../src/engine/graph/revision-node.js";
import { applyHeadChange } from "../../src/engine/plan/head-maintainer.js";
import type { MigrationPlan, Operation } from "../../src/engine/plan/migration-plan.js";
import { planMigration } from "../../src/engine/plan/plan-migration.js";

export type LiteralRevision =
  | readonly [id: string, down: string | readonly string[]]
  | readonly [
      id: string,
      down: string | readonly string[],
      extra: { labels?: string[]; dependsOn?: string[] },
    ];

/** `graph([["a", []], ["b", "a"], ["c", ["a", "b"], { labels: ["x"] }]])`, in load order. */
export function graph(revisions: readonly LiteralRevision[]): RevisionGraph {
  return buildRevisionGraph(
    revisions.map(([id, down, extra]) => ({
      id,
      downRevisions: typeof down === "string" ? [down] : [...down],
      branchLabels: extra?.labels ?? [],
      dependsOn: extra?.dependsOn ?? [],
      message: id,
    })),
  );
}

/** A plan's steps as "up:b" / "down:c" / "stamp:x,y". */
export function stepList(plan: MigrationPlan): string[] {
  return plan.steps.map((s) =>
    s.kind === "revision" ? `${s.direction}:${s.revision}` : `stamp:${s.to.join(",")}`,
  );
}

/** Plans, checks the invariants, and returns the steps and resulting heads (sorted). */
export function plan(
  g: RevisionGraph,
  operation: Operation,
  target: string,
  heads: readonly string[],
  purge = false,
): { steps: string[]; heads: string[]; plan: MigrationPlan } {
  const result = planMigration(g, { operation, target, purge }, heads);
  assertPlanInvariants(g, result);
  return { steps: stepList(result), heads: [...result.toHeads].sort(), plan: result };
}

/**
 * (a) an upgrade step runs only when every parent and dependency is applied, and never twice;
 * (b) a downgrade step undoes only an applied revision none of whose applied children remain;
 * (c) replaying each step's head change from the starting heads gives its headsAfter and, at the
 *     end, the plan's toHeads; (d) the revisions the final heads imply are exactly those applied.
 */
export function assertPlanInvariants(g: RevisionGraph, p: MigrationPlan): void {
  const applied = new Set(g.appliedRevisions(p.fromHeads));
  const heads = new Set(p.fromHeads);
  for (const step of p.steps) {
    if (step.kind === "revision") {
      const node = g.node(step.revision);
      if (step.direction === "up") {
        assert.ok(!applied.has(step.revision), `${step.revision} applied twice`);
        for (const parent of allDownRevisions(node)) {
          assert.ok(
            applied.has(parent),
            `${step.revision} runs before its parent/dependency ${parent}`,
          );
        }
        applied.add(step.revision);
      } else {
        assert.ok(applied.has(step.revision), `${step.revision} undone but not applied`);
        for (const other of applied) {
          if (other === step.revision) continue;
          assert.ok(
            !allDownRevisions(g.node(other)).includes(step.revision),
            `${step.revision} undone while its child ${other} is still applied`,
          );
        }
        applied.delete(step.revision);
      }
    }
    applyHeadChange(heads, step.headChange);
    assert.deepEqual(
      [...heads].sort(),
      [...step.headsAfter].sort(),
      `heads after ${JSON.stringify(step.headChange)}`,
    );
    if (step.kind === "stamp") {
      applied.clear();
      for (const id of g.appliedRevisions([...heads])) applied.add(id);
    }
  }
  assert.deepEqual([...heads].sort(), [...p.toHeads].sort(), "replayed heads equal toHeads");
  assert.deepEqual(
    [...applied].sort(),
    g.appliedRevisions([...heads]).sort(),
    "the final version table implies exactly the applied revisions",
  );
  for (const head of heads) {
    for (const other of heads) {
      if (head !== other)
        assert.ok(
          !g.appliedRevisions([other]).includes(head),
          `${head} is not a head: ${other} implies it`,
        );
    }
  }
}

/** Every set of heads a graph can be at: antichains of revisions reachable by upgrades from base. */
export function reachableHeadSets(g: RevisionGraph): string[][] {
  const seen = new Map<string, string[]>([["", []]]);
  const queue: string[][] = [[]];
  while (queue.length > 0) {
    const heads = queue.shift() ?? [];
    for (const rev of g.revisions) {
      let next: readonly string[];
      try {
        next = planMigration(
          g,
          { operation: "upgrade", target: rev.id, purge: false },
          heads,
        ).toHeads;
      } catch {
        continue;
      }
      const key = [...next].sort().join(",");
      if (!seen.has(key)) {
        seen.set(key, [...next].sort());
        queue.push([...next]);
      }
    }
  }
  return [...seen.values()];
}
