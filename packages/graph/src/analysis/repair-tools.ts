/**
 * Repair and monitoring tools must keep working when what they watch is down. A service labelled
 * `role: repair-tool` or `role: monitoring` is reported when it sits in a dependency cycle, or
 * depends, directly or transitively, on a service it monitors or repairs. What it watches is the
 * `monitors` / `repairs` label (comma-separated service names) when present; without one a tool
 * is taken to watch every service that is not itself a tool, the usual case for a deployment
 * controller or a monitoring stack.
 */
import type { CompiledGraph } from './compiled.ts';
import type { SccResult } from './scc.ts';

export const TOOL_ROLES: ReadonlySet<string> = new Set([
  'repair-tool',
  'monitoring',
  'repair',
  'monitor',
]);

export interface RepairToolFinding {
  service: string;
  role: string;
  problem: 'in-cycle' | 'depends-on-watched';
  /** The cycle, or the dependency path from the tool to the watched service. */
  path: string[];
  explanation: string;
}

export function checkRepairTools(g: CompiledGraph, scc: SccResult): RepairToolFinding[] {
  const services = g.graph.services;
  const isTool = (v: number): string | undefined => {
    const role = services[v]!.labels.role?.toLowerCase();
    return role && TOOL_ROLES.has(role) ? role : undefined;
  };
  const cyclicComp = new Set(scc.cyclic.map((m) => scc.component[m[0]!]!));
  const findings: RepairToolFinding[] = [];
  for (let t = 0; t < g.n; t++) {
    const role = isTool(t);
    if (!role) continue;
    const name = g.names[t]!;
    if (cyclicComp.has(scc.component[t]!)) {
      const members = scc.cyclic.find((m) => scc.component[m[0]!] === scc.component[t])!;
      const path = members.map((v) => g.names[v]!);
      findings.push({
        service: name,
        role,
        problem: 'in-cycle',
        path,
        explanation: `${name} (${role}) is in a dependency cycle with ${path.filter((p) => p !== name).join(', ') || 'itself'}: when the cycle fails, the tool meant to fix it fails with it.`,
      });
    }
    const labels = services[t]!.labels;
    const listed = `${labels.monitors ?? ''},${labels.repairs ?? ''}`
      .split(/[\s,]+/)
      .filter(Boolean);
    const watched =
      listed.length > 0
        ? (v: number) => listed.includes(g.names[v]!)
        : (v: number) => v !== t && !isTool(v);
    // BFS over dependencies from the tool; report the first watched service on each branch.
    const parent = new Int32Array(g.n).fill(-1);
    parent[t] = t;
    const queue = [t];
    for (let qi = 0; qi < queue.length; qi++) {
      const v = queue[qi]!;
      for (let k = g.offsets[v]!; k < g.offsets[v + 1]!; k++) {
        const w = g.targets[k]!;
        if (parent[w] !== -1) continue;
        parent[w] = v;
        if (watched(w)) {
          const path = [w];
          for (let x = v; x !== t; x = parent[x]!) path.push(x);
          path.push(t);
          const names = path.reverse().map((x) => g.names[x]!);
          findings.push({
            service: name,
            role,
            problem: 'depends-on-watched',
            path: names,
            explanation: `${name} (${role}) depends on ${g.names[w]!}, which it ${role.startsWith('repair') ? 'repairs' : 'monitors'} (${names.join(' → ')}): if ${g.names[w]!} is down, so is the tool.`,
          });
          continue; // do not walk through a watched service: one finding per branch
        }
        queue.push(w);
      }
    }
  }
  return findings;
}
