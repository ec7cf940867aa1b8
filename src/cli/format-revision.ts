import type { RevisionGraph } from "../engine/graph/revision-graph.js";
import { isBranchPoint, isMergePoint, type RevisionNode } from "../engine/graph/revision-node.js";
import type { RevisionScript } from "../engine/script/revision-script.js";

type Graph = RevisionGraph<RevisionScript>;
type Node = RevisionNode<RevisionScript>;

export interface FormatOptions {
  readonly includeBranches?: boolean;
  readonly includeDoc?: boolean;
  readonly includeParents?: boolean;
  readonly treeIndicators?: boolean;
  readonly current?: ReadonlySet<string>;
}

/** One line per revision, as Alembic's `Script._head_only` prints it. */
export function formatRevisionLine(graph: Graph, node: Node, options: FormatOptions = {}): string {
  let text = node.id;
  if (options.includeParents === true) {
    const down = formatDownRevisions(node);
    const deps = node.spec.dependsOn;
    text = deps.length > 0 ? `${down} (${deps.join(", ")}) -> ${text}` : `${down} -> ${text}`;
  }
  if (options.includeBranches === true && node.branchLabels.size > 0) {
    text += ` (${[...node.branchLabels].join(", ")})`;
  }
  const realHead = graph.realHeads.includes(node.id);
  if (realHead) text += " (head)";
  if (!realHead && node.nextRevisions.size === 0) text += " (effective head)";
  if (options.current?.has(node.id) === true) text += " (current)";
  if (options.treeIndicators !== false) {
    if (isBranchPoint(node)) text += " (branchpoint)";
    if (isMergePoint(node)) text += " (mergepoint)";
  }
  if (options.includeDoc === true) text += `, ${doc(node)}`;
  return text;
}

/**
 * The `--verbose` block, after Alembic's `Script.log_entry`. Its first line has marks of its own:
 * "(head)" for any revision with no down_revision child (`is_head`), so a revision that others
 * only depend on is "(head)" here, where the one-line form says "(effective head)"; and
 * "(current)" last, after "(branchpoint)" and "(mergepoint)" (the one-line form puts it before).
 */
export function formatRevisionEntry(node: Node, current?: ReadonlySet<string>): string {
  const marks = [
    node.nextRevisions.size === 0 ? " (head)" : "",
    isBranchPoint(node) ? " (branchpoint)" : "",
    isMergePoint(node) ? " (mergepoint)" : "",
    current?.has(node.id) === true ? " (current)" : "",
  ];
  const lines = [
    `Rev: ${node.id}${marks.join("")}`,
    // One line for the parents: "Merges:" at a merge point, "Parent:" otherwise.
    `${isMergePoint(node) ? "Merges" : "Parent"}: ${formatDownRevisions(node)}`,
  ];
  if (node.spec.dependsOn.length > 0)
    lines.push(`Also depends on: ${node.spec.dependsOn.join(", ")}`);
  if (isBranchPoint(node)) lines.push(`Branches into: ${[...node.nextRevisions].join(", ")}`);
  if (node.branchLabels.size > 0) lines.push(`Branch names: ${[...node.branchLabels].join(", ")}`);
  lines.push(`Path: ${node.spec.path}`);
  // Fleetway's own (Alembic has neither): after the fields log_entry prints, before the message.
  lines.push(`Transactional: ${node.spec.transactional ? "yes" : "no"}`);
  lines.push(`Checksum: ${node.spec.checksum}`, "", ...indentedLongDoc(node), "");
  return lines.join("\n");
}

/** Alembic's `Script.longdoc`: the whole message, trimmed. */
function longDoc(node: Node): string {
  return node.spec.message.trim();
}

/** Alembic's `Script.doc`, what one-line forms show: the message's first paragraph. */
function doc(node: Node): string {
  return longDoc(node).split("\n\n")[0] ?? "";
}

/** The message as a verbose entry ends: every line indented (an empty message, one empty line). */
function indentedLongDoc(node: Node): string[] {
  const text = longDoc(node);
  return text === "" ? [""] : text.split(/\r\n|\r|\n/).map((line) => `    ${line}`);
}

/** Alembic's `_format_down_revision`: the down revisions, or "<base>" for a root. */
function formatDownRevisions(node: Node): string {
  return node.downRevisions.length === 0 ? "<base>" : node.downRevisions.join(", ");
}

/** The JSON form of a revision, shared by every `--json` verb. */
export function revisionJson(graph: Graph, node: Node): Record<string, unknown> {
  return {
    revision: node.id,
    downRevisions: [...node.downRevisions],
    dependsOn: [...node.spec.dependsOn],
    branchLabels: [...node.branchLabels],
    message: node.spec.message,
    path: node.spec.path,
    format: node.spec.format,
    transactional: node.spec.transactional,
    reversible: node.spec.downgrade !== null,
    checksum: node.spec.checksum,
    isHead: graph.realHeads.includes(node.id),
    isBranchPoint: isBranchPoint(node),
    isMergePoint: isMergePoint(node),
  };
}
