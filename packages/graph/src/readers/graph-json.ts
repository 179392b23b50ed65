/**
 * Reads a graph Ward wrote (`ward graph analyze -o json`, or the bare `{services, edges}`)
 * back in: as an input to merge with others, and as the baseline of `ward graph check`.
 */
import { GraphError } from '../errors.ts';
import type { DependencyGraph, Edge, EntryPoint, PodPort, ServiceNode } from '../model.ts';
import { parseSketch } from '../sketch.ts';
import { isObject, stringMap } from '../util.ts';

const NODE_TYPES = new Set(['service', 'database', 'cache', 'messaging', 'external', 'resource']);

function podPortList(value: unknown): PodPort[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const out: PodPort[] = [];
  for (const p of value) {
    if (
      !isObject(p) ||
      !Number.isInteger(p.port) ||
      (p.port as number) < 1 ||
      (p.port as number) > 65_535
    )
      continue;
    const protocol = p.protocol === 'UDP' || p.protocol === 'SCTP' ? p.protocol : 'TCP';
    out.push({ port: p.port as number, protocol });
  }
  return out;
}

/** Validates untrusted JSON as a `DependencyGraph` (at the top level or under `graph`). */
export function parseGraphJson(value: unknown, file: string): DependencyGraph {
  const root = isObject(value) && isObject(value.graph) ? value.graph : value;
  const fail = (msg: string): never => {
    throw new GraphError('GRAPH_INPUT_MALFORMED', msg, {
      file,
      expected: 'Ward graph JSON: {"services": [...], "edges": [...]} (ward graph analyze -o json)',
    });
  };
  if (!isObject(root) || !Array.isArray(root.services) || !Array.isArray(root.edges)) {
    return fail('not a Ward graph');
  }
  const services: ServiceNode[] = root.services.map((s: unknown, i: number) => {
    if (!isObject(s) || typeof s.name !== 'string' || s.name === '')
      return fail(`services[${i}] has no "name"`);
    const node: ServiceNode = {
      name: s.name,
      type:
        typeof s.type === 'string' && NODE_TYPES.has(s.type)
          ? (s.type as ServiceNode['type'])
          : 'service',
      virtual: s.virtual === true,
      labels: stringMap(s.labels),
      sources: Array.isArray(s.sources)
        ? s.sources.filter((x: unknown) => typeof x === 'string')
        : [],
    };
    if (typeof s.namespace === 'string') node.namespace = s.namespace;
    if (typeof s.spiffeId === 'string') node.spiffeId = s.spiffeId;
    if (typeof s.serviceAccount === 'string') node.serviceAccount = s.serviceAccount;
    if (isObject(s.podSelector)) node.podSelector = stringMap(s.podSelector);
    if (typeof s.typedFrom === 'string') node.typedFrom = s.typedFrom;
    if (Array.isArray(s.entryPoints)) {
      node.entryPoints = s.entryPoints.flatMap((e: unknown): EntryPoint[] => {
        if (!isObject(e) || typeof e.via !== 'string' || typeof e.file !== 'string') return [];
        const entry: EntryPoint = { via: e.via, file: e.file };
        if (Number.isInteger(e.line)) entry.line = e.line as number;
        const ports = podPortList(e.ports);
        if (ports) entry.ports = ports;
        return [entry];
      });
    }
    return node;
  });
  const edges: Edge[] = root.edges.map((e: unknown, i: number) => {
    if (!isObject(e) || typeof e.from !== 'string' || typeof e.to !== 'string') {
      return fail(`edges[${i}] needs string "from" and "to"`);
    }
    const provenance =
      e.provenance === 'declared' || e.provenance === 'observed' || e.provenance === 'both'
        ? e.provenance
        : 'declared';
    const edge: Edge = {
      from: e.from,
      to: e.to,
      kind: e.kind === 'startup' ? 'startup' : 'runtime',
      provenance,
      sources: Array.isArray(e.sources)
        ? e.sources.filter(
            (x: unknown): x is Edge['sources'][number] =>
              isObject(x) && typeof x.file === 'string' && typeof x.type === 'string',
          )
        : [],
    };
    if (typeof e.condition === 'string') edge.condition = e.condition;
    if (Array.isArray(e.ports))
      edge.ports = e.ports.filter((p: unknown): p is number => Number.isInteger(p));
    const podPorts = podPortList(e.podPorts);
    if (podPorts && podPorts.length > 0) edge.podPorts = podPorts;
    if (isObject(e.metrics)) {
      const m = e.metrics;
      const num = (v: unknown): number =>
        typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0;
      edge.metrics = { calls: num(m.calls), errors: num(m.errors), denied: num(m.denied) };
      const sketch = parseSketch(m.sketch);
      if (sketch) edge.metrics.sketch = sketch;
    }
    return edge;
  });
  return { services, edges };
}
