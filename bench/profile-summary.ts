/**
 * node --import tsx bench/profile-summary.ts <file.cpuprofile> [--top 30]
 *
 * The functions a V8 CPU profile spent the most time in: self time, and total time (self plus
 * everything it called), grouped by function and file. Enough to see where a benchmark's CPU goes
 * without opening DevTools.
 */
import { readFile } from "node:fs/promises";
import { flags, intFlag } from "./lib/bench-util.js";

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { functionName: string; url: string; lineNumber: number };
  readonly children?: readonly number[];
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const file = process.argv[2];
if (file === undefined) throw new Error("usage: profile-summary.ts <file.cpuprofile> [--top 30]");
const top = intFlag(flags(process.argv.slice(3)), "top", 30);
const profile = JSON.parse(await readFile(file, "utf8")) as Profile;

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const node of profile.nodes)
  for (const child of node.children ?? []) parent.set(child, node.id);

const label = (node: ProfileNode): string => {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url.replace(/^file:\/\//, "").replace(/.*\/node_modules\//, "~/");
  return `${functionName || "(anonymous)"} ${where}${url === "" ? "" : `:${lineNumber + 1}`}`;
};

const self = new Map<string, number>();
const total = new Map<string, number>();
let all = 0;
profile.samples.forEach((id, i) => {
  const micros = profile.timeDeltas[i] ?? 0;
  all += micros;
  const node = byId.get(id);
  if (node === undefined) return;
  self.set(label(node), (self.get(label(node)) ?? 0) + micros);
  // Each function counts once per sample even when it recurses.
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const n = byId.get(at);
    if (n === undefined) break;
    const key = label(n);
    if (seen.has(key)) continue;
    seen.add(key);
    total.set(key, (total.get(key) ?? 0) + micros);
  }
});

const print = (title: string, table: Map<string, number>): void => {
  process.stdout.write(`\n${title} (of ${(all / 1000).toFixed(0)} ms sampled)\n`);
  for (const [key, micros] of [...table].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${((micros / all) * 100).toFixed(1).padStart(5)} %  ${key}\n`);
  }
};
print("self time", self);
print("total time", total);
