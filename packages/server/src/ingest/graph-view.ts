/**
 * The graph as the console draws it (`GET /v1/graph/view`): one compact record per service and
 * per edge, each edge with every state it is in — declared (a Service document's dependency),
 * observed (traces, decision logs, wire samples), approved (an intention allows it), denied and
 * dry-run-denied (decision logs) — and the details an operator opens on it. Pure: the caller
 * loads the graph (graph-source.ts), analyses it and supplies the approvals.
 */
import type {
  EdgeStateV1 as EdgeState,
  GraphViewV1 as GraphView,
  GraphViewEdgeV1 as ViewEdge,
  GraphViewNodeV1 as ViewNode,
} from '@ward/api-types';
import { type AnalysisReport, namespaceOfNode } from '@ward/graph';
import type { ApprovingRule } from './approvals.ts';
import type { GraphSource } from './graph-source.ts';

export interface ViewLimits {
  services: number;
  edges: number;
}

interface EdgeFacts {
  firstSeen: number;
  lastSeen: number;
  denied: number;
  dryRunDenied: number;
  latest?: { rule: string; at: number; count: number };
  http: boolean;
  destType?: string;
  wire: boolean;
  spiffe: number;
  named: number;
}

export function graphView(
  source: GraphSource,
  analysis: AnalysisReport,
  approving: (from: string, to: string) => ApprovingRule[],
  limits: ViewLimits,
): GraphView {
  const { graph } = source;
  // Observations name callers by SPIFFE ID or name; the graph merged both into the service name.
  const alias = new Map<string, string>();
  for (const s of graph.services) if (s.spiffeId) alias.set(s.spiffeId, s.name);
  const name = (n: string) => alias.get(n) ?? n;
  const facts = new Map<string, EdgeFacts>();
  const factsOf = (from: string, to: string, first: number, last: number): EdgeFacts => {
    const k = `${name(from)}\u0000${name(to)}`;
    let f = facts.get(k);
    if (!f) {
      f = {
        firstSeen: first,
        lastSeen: last,
        denied: 0,
        dryRunDenied: 0,
        http: false,
        wire: false,
        spiffe: 0,
        named: 0,
      };
      facts.set(k, f);
    }
    f.firstSeen = Math.min(f.firstSeen, first);
    f.lastSeen = Math.max(f.lastSeen, last);
    return f;
  };
  for (const t of source.traces) {
    const f = factsOf(t.source, t.destination, t.firstSeen, t.lastSeen);
    f.destType = t.destType;
  }
  for (const w of source.wire)
    factsOf(w.source, w.destination, w.firstSeen, w.lastSeen).wire = true;
  for (const d of source.decisions) {
    const f = factsOf(d.source, d.destination, d.firstSeen, d.lastSeen);
    if (d.effect === 'deny') {
      if (d.enforced) f.denied += d.count;
      else f.dryRunDenied += d.count;
    }
    if (d.method !== '') f.http = true;
    if (d.source.startsWith('spiffe://')) f.spiffe += d.count;
    else f.named += d.count;
    if (
      !f.latest ||
      d.lastSeen > f.latest.at ||
      (d.lastSeen === f.latest.at && d.count > f.latest.count)
    )
      f.latest = { rule: d.rule, at: d.lastSeen, count: d.count };
  }

  const waveOf = new Map<string, number>();
  analysis.bootOrder.waves.forEach((w, i) => {
    for (const s of w) waveOf.set(s, i);
  });
  const inCycle = new Set(analysis.components.flat());
  // Under the cap, keep services in boot order (waves first, blocked ones after) so a truncated
  // view still shows the start of the map rather than an arbitrary slice.
  const ordered = [...graph.services].sort(
    (a, b) =>
      (waveOf.get(a.name) ?? Number.MAX_SAFE_INTEGER) -
        (waveOf.get(b.name) ?? Number.MAX_SAFE_INTEGER) ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  const kept = ordered.slice(0, limits.services);
  const keptNames = new Set(kept.map((s) => s.name));
  const nodes: ViewNode[] = kept.map((s) => ({
    id: s.name,
    name: s.name,
    namespace: viewNamespace(s),
    team: s.labels.owner ?? null,
    wave: waveOf.get(s.name) ?? null,
    inCycle: inCycle.has(s.name),
    kind: s.type,
    virtual: s.virtual,
  }));
  const edges: ViewEdge[] = [];
  let truncated = kept.length < graph.services.length;
  for (const e of graph.edges) {
    if (!keptNames.has(e.from) || !keptNames.has(e.to)) continue;
    if (edges.length >= limits.edges) {
      truncated = true;
      break;
    }
    const f = facts.get(`${e.from}\u0000${e.to}`);
    const approvals = approving(e.from, e.to);
    const states: EdgeState[] = [];
    if (e.provenance !== 'observed') states.push('declared');
    if (e.provenance !== 'declared') states.push('observed');
    if (approvals.length > 0) states.push('approved');
    if (f && f.dryRunDenied > 0) states.push('dry-run-denied');
    if (f && f.denied > 0) states.push('denied');
    edges.push({
      from: e.from,
      to: e.to,
      states,
      startup: e.kind === 'startup',
      calls: e.metrics?.calls ?? 0,
      errors: e.metrics?.errors ?? 0,
      denied: f?.denied ?? 0,
      dryRunDenied: f?.dryRunDenied ?? 0,
      firstSeen: f ? new Date(f.firstSeen).toISOString() : null,
      lastSeen: f ? new Date(f.lastSeen).toISOString() : null,
      rule: f?.latest?.rule ?? approvals[0]?.rule ?? null,
      protocol: protocolOf(f),
      ports: e.ports ?? [],
      mtls: f && f.spiffe + f.named > 0 ? f.spiffe > 0 : null,
    });
  }
  return {
    nodes,
    edges,
    cycles: analysis.cycles.map((c) => c.services),
    components: analysis.components,
    waves: analysis.bootOrder.waves,
    truncated: truncated || analysis.cyclesTruncated,
    totals: { services: graph.services.length, edges: graph.edges.length },
  };
}

/** A node's namespace as the console filters and groups by it (see `namespaceOfNode`). */
export const viewNamespace = namespaceOfNode;

function protocolOf(f: EdgeFacts | undefined): string | null {
  if (!f) return null;
  if (f.http) return 'http';
  // A traced call to a service says nothing of its protocol (HTTP or gRPC); a store or broker does.
  if (f.destType && f.destType !== 'service') return f.destType;
  if (f.wire) return 'tcp';
  return null;
}
