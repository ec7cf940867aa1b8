import type { Migrations } from "../../engine/load-migrations.js";
import type { RevisionGraph } from "../../engine/graph/revision-graph.js";
import { isBranchPoint } from "../../engine/graph/revision-node.js";
import { topologicalSort } from "../../engine/graph/topological-sort.js";
import type { RevisionScript } from "../../engine/script/revision-script.js";
import { type CliIo, ExitCode, printJson, printLines } from "../cli-io.js";
import { formatRevisionEntry, formatRevisionLine, revisionJson } from "../format-revision.js";

type Graph = RevisionGraph<RevisionScript>;

export interface ReadOptions {
  readonly json: boolean;
  readonly verbose: boolean;
}

/** `fleetway heads`: the head revisions (`--resolve-dependencies`: the real heads). */
export function showHeads(
  io: CliIo,
  { graph }: Migrations,
  options: ReadOptions & { resolveDependencies: boolean },
): void {
  const ids = options.resolveDependencies ? graph.realHeads : graph.heads;
  const nodes = ids.map((id) => graph.node(id));
  if (options.json) {
    printJson(
      io,
      nodes.map((n) => revisionJson(graph, n)),
    );
    return;
  }
  printLines(
    io,
    nodes.map((n) =>
      options.verbose
        ? formatRevisionEntry(n)
        : formatRevisionLine(graph, n, { includeBranches: true, treeIndicators: false }),
    ),
  );
}

/**
 * `fleetway branches`: every branch point and where it branches into, as Alembic's `branches`
 * prints them: the children as one-liners with their own marks, their messages only with `-v`,
 * and a blank line after each branch point.
 */
export function showBranches(io: CliIo, { graph }: Migrations, options: ReadOptions): void {
  const points = topDown(graph)
    .map((id) => graph.node(id))
    .filter(isBranchPoint);
  if (options.json) {
    printJson(
      io,
      points.map((p) => ({ ...revisionJson(graph, p), branchesInto: [...p.nextRevisions] })),
    );
    return;
  }
  const lines: string[] = [];
  for (const point of points) {
    lines.push(
      options.verbose
        ? formatRevisionEntry(point)
        : formatRevisionLine(graph, point, { includeBranches: true }),
    );
    for (const child of point.nextRevisions) {
      const line = formatRevisionLine(graph, graph.node(child), {
        includeBranches: true,
        includeDoc: options.verbose,
      });
      lines.push(`${" ".repeat(point.id.length)} -> ${line}`);
    }
    lines.push("");
  }
  printLines(io, lines);
}

/**
 * `fleetway history`: every revision, newest first (or within `-r start:end`). `current` (the
 * database's revisions, given with `-i`) marks them "(current)" and adds `isCurrent` to the JSON;
 * null leaves both out, as Alembic's `history` without `--indicate-current`.
 */
export function showHistory(
  io: CliIo,
  { graph }: Migrations,
  options: ReadOptions & { range: readonly string[] | null; current: ReadonlySet<string> | null },
): void {
  const current = options.current ?? undefined;
  const ids = options.range ?? topDown(graph);
  const nodes = ids.map((id) => graph.node(id));
  if (options.json) {
    printJson(
      io,
      nodes.map((n) =>
        current === undefined
          ? revisionJson(graph, n)
          : { ...revisionJson(graph, n), isCurrent: current.has(n.id) },
      ),
    );
    return;
  }
  printLines(
    io,
    nodes.map((n) =>
      options.verbose
        ? formatRevisionEntry(n, current)
        : formatRevisionLine(graph, n, {
            includeBranches: true,
            includeDoc: true,
            includeParents: true,
            current,
          }),
    ),
  );
}

/** `fleetway show <rev>`: one revision in full. */
export function showRevision(
  io: CliIo,
  { graph }: Migrations,
  target: string,
  options: Pick<ReadOptions, "json">,
): void {
  const nodes = graph.getRevisions(target);
  if (options.json) {
    printJson(
      io,
      nodes.map((n) => revisionJson(graph, n)),
    );
    return;
  }
  printLines(
    io,
    nodes.map((n) => formatRevisionEntry(n)),
  );
}

export interface CheckProblem {
  readonly code: "MULTIPLE_HEADS" | "MISSING_DOWNGRADE" | "EMPTY";
  readonly message: string;
  readonly revisions: readonly string[];
}

/**
 * `fleetway check`: the directory loads into a valid graph (loading already proved that),
 * has exactly one head, and every revision can be downgraded. Exit 2 when anything is wrong.
 */
export function checkMigrations(
  io: CliIo,
  { graph }: Migrations,
  options: Pick<ReadOptions, "json">,
): ExitCode {
  const problems: CheckProblem[] = [];
  if (graph.size === 0) {
    problems.push({ code: "EMPTY", message: "No revisions found", revisions: [] });
  }
  if (graph.heads.length > 1) {
    problems.push({
      code: "MULTIPLE_HEADS",
      message: `Multiple heads (${graph.heads.join(", ")}); join them with \`fleetway merge -m "..." heads\``,
      revisions: [...graph.heads],
    });
  }
  for (const script of graph.revisions.filter((r) => r.downgrade === null)) {
    problems.push({
      code: "MISSING_DOWNGRADE",
      message: `Revision ${script.id} (${script.path}) has no downgrade section`,
      revisions: [script.id],
    });
  }
  if (options.json) {
    printJson(io, {
      ok: problems.length === 0,
      revisions: graph.size,
      heads: graph.heads,
      problems,
    });
  } else if (problems.length === 0) {
    io.stdout(`OK: ${graph.size} revisions, head ${graph.heads.join(", ")}\n`);
  } else {
    io.stderr(problems.map((p) => `${p.code}: ${p.message}`).join("\n") + "\n");
  }
  return problems.length === 0 ? ExitCode.OK : ExitCode.USAGE;
}

/** Every revision, heads first, in the order Alembic's `walk_revisions` gives. */
export function topDown(graph: Graph): string[] {
  const all = graph.revisions.map((r) => graph.node(r.id));
  return topologicalSort(
    graph,
    all,
    graph.realHeads.map((id) => graph.node(id)),
  );
}
