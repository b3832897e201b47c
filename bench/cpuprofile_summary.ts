// Sums a V8 .cpuprofile (what `deno run --cpu-prof` writes) by function:
// self time (samples whose top frame is the function) and total time
// (samples with the function anywhere on the stack, counted once), largest
// first. For finding where a server's CPU goes during a benchmark run.
//
//   deno run -A bench/cpuprofile_summary.ts PROFILE.cpuprofile [--top 40] [--total]

import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: { top: { type: "string", default: "40" }, total: { type: "boolean", default: false } },
  allowPositionals: true,
  strict: true,
});

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const profile: Profile = JSON.parse(await Deno.readTextFile(positionals[0]));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const node of profile.nodes) {
  for (const child of node.children ?? []) parent.set(child, node.id);
}

function nameOf(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.replace(/^.*\/(?=[^/]+\/[^/]+$)/, "");
  return `${functionName || "(anonymous)"} ${file}${url ? `:${lineNumber + 1}` : ""}`;
}

const self = new Map<string, number>();
const total = new Map<string, number>();
let all = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const us = profile.timeDeltas[i + 1] ?? 0; // a sample's time is the delta to the next one
  all += us;
  let node = byId.get(profile.samples[i])!;
  self.set(nameOf(node), (self.get(nameOf(node)) ?? 0) + us);
  const seen = new Set<string>();
  for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
    node = byId.get(id)!;
    const name = nameOf(node);
    if (seen.has(name)) continue;
    seen.add(name);
    total.set(name, (total.get(name) ?? 0) + us);
  }
}

const table = values.total ? total : self;
console.log(`${(all / 1000).toFixed(0)} ms sampled; by ${values.total ? "total" : "self"} time`);
for (const [name, us] of [...table].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) {
  console.log(
    `${(us / 1000).toFixed(1).padStart(9)} ms ${(100 * us / all).toFixed(1).padStart(5)}%  ${name}`,
  );
}
