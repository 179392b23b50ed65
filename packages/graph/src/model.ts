/**
 * The dependency graph model: services (nodes) and dependencies (edges) with where each came
 * from. Plain JSON-serializable data, so the CLI can write it, a baseline can hold it and the
 * control plane can serve it; `GraphBuilder` is the one mutable accumulator the readers share.
 */
import { LatencySketch, type LatencySketchJSON } from './sketch.ts';

/** `startup`: needed to start (Compose depends_on, init containers). `runtime`: needed to serve. */
export type EdgeKind = 'startup' | 'runtime';
/** Declared in configuration, observed in traffic, or both. */
export type Provenance = 'declared' | 'observed' | 'both';
/**
 * What a node stands for. A virtual `database`/`messaging` node is an uninstrumented peer; a
 * workload typed `database`, `cache` or `messaging` from its image or ports (see `typedFrom`) is a
 * data store or broker the manifests run: a sink that starts first and calls nothing.
 */
export type NodeType = 'service' | 'database' | 'cache' | 'messaging' | 'external' | 'resource';

export type StoreType = Extract<NodeType, 'database' | 'cache' | 'messaging'>;

/**
 * A workload typed a data store or broker (not a virtual peer of that type): boot order starts it
 * before whatever calls it, exports open no egress for it.
 */
export function isStoreWorkload(node: {
  type: NodeType;
  virtual: boolean;
  typedFrom?: string;
}): boolean {
  return !node.virtual && node.typedFrom !== undefined && node.type !== 'service';
}

/** A port on the pods of a workload (what a NetworkPolicy or an Istio `ports` rule matches). */
export interface PodPort {
  port: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
}

/**
 * Traffic from outside the graph into a workload: a LoadBalancer or NodePort Service, an Ingress,
 * a Gateway API route or an Istio Gateway + VirtualService. Exports allow it from any source.
 */
export interface EntryPoint {
  /** What opens it, e.g. `Service/LoadBalancer shop/storefront`, `Ingress shop/web`. */
  via: string;
  file: string;
  line?: number;
  /** Pod ports it reaches; absent when they could not be resolved (then all ports are open). */
  ports?: PodPort[];
}

/**
 * Something a reader noticed about a document or a reference: a document it skipped or used for
 * something other than a node, or a hostname it could not resolve. Nothing is dropped silently.
 */
export interface GraphDiagnostic {
  file: string;
  line?: number;
  /** Document kind (`NetworkPolicy`, `VirtualService`, …) or `reference` for a hostname. */
  kind: string;
  /** `namespace/name` of the document, or the hostname. */
  name: string;
  action: 'used' | 'skipped' | 'unresolved' | 'hint';
  reason: string;
}

/** Every input format the readers understand. */
export type InputType =
  | 'otlp-json'
  | 'otlp-proto'
  | 'jaeger'
  | 'jaeger-deps'
  | 'zipkin'
  | 'kubernetes'
  | 'compose'
  | 'backstage'
  | 'ward'
  | 'decision-log'
  | 'graph-json'
  /** `ward graph scan`: a reference found in source code or configuration. */
  | 'scan'
  /** TCP connections a node agent sampled (`/proc/net/tcp`), via the control plane. */
  | 'wire';

/** Where an edge or a node was found. `line` is set for declared edges (1-based). */
export interface SourceRef {
  type: InputType;
  file: string;
  line?: number;
  /** 1-based column of the match (`scan` sources). */
  col?: number;
  /** What kind of reference a `scan` source is (`url`, `host-port`, `env-var`, …). */
  evidence?: string;
  /** How sure a `scan` source is that it names a dependency: `high`, `medium` or `low`. */
  confidence?: string;
}

export interface ServiceNode {
  /** Node id: the service name as traces (`service.name`) and declarations name it. */
  name: string;
  type: NodeType;
  /** True when only seen as a peer (a database, `peer.service`, a host): nothing describes it. */
  virtual: boolean;
  namespace?: string;
  /** `spiffe://<trust-domain>/ns/<ns>/sa/<sa>` when known. */
  spiffeId?: string;
  serviceAccount?: string;
  /** Labels Ward reads: `tier`, `criticality`, `role` (`repair-tool`, `monitoring`), and others. */
  labels: Record<string, string>;
  /** Kubernetes pod labels that select this service's pods (for NetworkPolicy/Istio export). */
  podSelector?: Record<string, string>;
  /** Why the node is typed a data store or broker: `image redis:7`, `port 5432`. */
  typedFrom?: string;
  /** Traffic from outside the graph allowed into this workload. */
  entryPoints?: EntryPoint[];
  /** Files that mention the node. */
  sources: string[];
}

/** Observed traffic on an edge. Latencies are of the calling (client/producer) span, in ms. */
export interface EdgeMetrics {
  calls: number;
  errors: number;
  /** Calls a Ward PDP denied (from decision logs). */
  denied: number;
  latencyMs?: { p50: number; p90: number; p99: number; max: number; mean: number };
  sketch?: LatencySketchJSON;
}

export interface Edge {
  from: string;
  to: string;
  /** `startup` when any declaration says so, else `runtime`. */
  kind: EdgeKind;
  provenance: Provenance;
  sources: SourceRef[];
  /** Compose `depends_on` condition (`service_healthy`, …). */
  condition?: string;
  /** Destination ports named by the declaration (`host:port`) or seen on the wire, when known. */
  ports?: number[];
  /**
   * Pod ports of the callee this edge reaches (Service port resolved through `targetPort`, named
   * ports too). Absent when any declaration of the edge left them unknown: then exports leave
   * ports open between the pair.
   */
  podPorts?: PodPort[];
  metrics?: EdgeMetrics;
}

export interface DependencyGraph {
  services: ServiceNode[];
  edges: Edge[];
}

/** Fields a reader may set on a node; labels merge, the first value of a field wins. */
export interface ServicePatch {
  type?: NodeType;
  virtual?: boolean;
  namespace?: string;
  spiffeId?: string;
  serviceAccount?: string;
  labels?: Record<string, string>;
  podSelector?: Record<string, string>;
  typedFrom?: string;
  entryPoints?: EntryPoint[];
}

interface EdgeAcc {
  from: string;
  to: string;
  startup: boolean;
  declared: boolean;
  observed: boolean;
  sources: SourceRef[];
  sourceKeys: Set<string>;
  condition?: string;
  ports?: Set<number>;
  podPorts?: Map<string, PodPort>;
  /** A declaration without pod ports: the ports of the edge are unknown (open). */
  podPortsUnknown: boolean;
  calls: number;
  errors: number;
  denied: number;
  sketch?: LatencySketch;
}

/**
 * Accumulates nodes and edges from any number of readers. Edges are keyed by (from, to): a
 * declared startup edge that traces also observe is one edge, `kind: startup`, `provenance: both`.
 */
export class GraphBuilder {
  private readonly nodes = new Map<string, ServiceNode>();
  // Nested maps keyed by the (hash-cached) service names: no key string is built per call.
  private readonly edges = new Map<string, Map<string, EdgeAcc>>();
  private readonly edgeList: EdgeAcc[] = [];
  /** SPIFFE ID → service name, so decision logs naming callers by SPIFFE ID join their node. */
  private readonly aliases = new Map<string, string>();
  /** Documents skipped or used, references left unresolved: reported, never dropped silently. */
  readonly diagnostics: GraphDiagnostic[] = [];

  note(diagnostic: GraphDiagnostic): void {
    this.diagnostics.push(diagnostic);
  }

  /** Ensures a node exists and merges what the reader knows about it. */
  service(name: string, patch: ServicePatch = {}, file?: string): ServiceNode {
    let node = this.nodes.get(name);
    if (!node) {
      node = {
        name,
        type: patch.type ?? 'service',
        virtual: patch.virtual ?? false,
        labels: {},
        sources: [],
      };
      this.nodes.set(name, node);
    } else {
      // A real description beats an inferred peer.
      if (patch.virtual === false && node.virtual) {
        node.virtual = false;
        if (patch.type) node.type = patch.type;
      }
    }
    if (patch.namespace && !node.namespace) node.namespace = patch.namespace;
    if (patch.spiffeId && !node.spiffeId) {
      node.spiffeId = patch.spiffeId;
      this.aliases.set(patch.spiffeId, name);
    }
    if (patch.serviceAccount && !node.serviceAccount) node.serviceAccount = patch.serviceAccount;
    if (patch.podSelector && !node.podSelector) node.podSelector = { ...patch.podSelector };
    if (patch.typedFrom && !node.typedFrom) {
      node.typedFrom = patch.typedFrom;
      if (patch.type) node.type = patch.type;
    }
    if (patch.entryPoints?.length) {
      node.entryPoints ??= [];
      const seen = new Set(node.entryPoints.map((e) => `${e.via}\u0000${e.file}`));
      for (const e of patch.entryPoints)
        if (!seen.has(`${e.via}\u0000${e.file}`)) node.entryPoints.push(structuredClone(e));
    }
    if (patch.labels) {
      for (const [k, v] of Object.entries(patch.labels))
        if (!(k in node.labels)) node.labels[k] = v;
    }
    if (file !== undefined && node.sources[node.sources.length - 1] !== file) {
      if (!node.sources.includes(file)) node.sources.push(file);
    }
    return node;
  }

  has(name: string): boolean {
    return this.nodes.has(name);
  }

  /** Records a declared dependency. */
  declare(
    from: string,
    to: string,
    kind: EdgeKind,
    source: SourceRef,
    extra: { condition?: string; port?: number; podPorts?: PodPort[] } = {},
  ): void {
    const edge = this.edge(from, to);
    edge.declared = true;
    if (kind === 'startup') edge.startup = true;
    if (extra.condition && !edge.condition) edge.condition = extra.condition;
    if (extra.port !== undefined) {
      edge.ports ??= new Set();
      edge.ports.add(extra.port);
    }
    if (extra.podPorts && extra.podPorts.length > 0) {
      edge.podPorts ??= new Map();
      for (const p of extra.podPorts) edge.podPorts.set(`${p.protocol}/${p.port}`, { ...p });
    } else edge.podPortsUnknown = true;
    this.addSource(edge, source);
  }

  /**
   * Records observed traffic. The hot path of trace ingest: one Map lookup, counters and a
   * sketch insert.
   */
  observe(
    from: string,
    to: string,
    source: SourceRef,
    calls: number,
    errors: number,
    latencyMs?: number,
    denied = 0,
  ): void {
    const edge = this.edge(from, to);
    edge.observed = true;
    edge.calls += calls;
    edge.errors += errors;
    edge.denied += denied;
    if (latencyMs !== undefined) {
      edge.sketch ??= new LatencySketch();
      edge.sketch.add(latencyMs);
    }
    this.addSource(edge, source);
  }

  /**
   * Merges a whole observed edge (from a previously written graph, a Jaeger links file, or the
   * control plane's buckets); `ports` are destination ports seen (wire observation).
   */
  observeAggregate(
    from: string,
    to: string,
    source: SourceRef,
    metrics: { calls: number; errors: number; denied: number; sketch?: LatencySketchJSON },
    ports?: readonly number[],
  ): void {
    this.observe(from, to, source, metrics.calls, metrics.errors, undefined, metrics.denied);
    if (metrics.sketch || ports?.length) {
      const edge = this.edge(from, to);
      if (metrics.sketch) {
        edge.sketch ??= new LatencySketch();
        edge.sketch.merge(metrics.sketch);
      }
      if (ports?.length) {
        edge.ports ??= new Set();
        for (const p of ports) edge.ports.add(p);
      }
    }
  }

  get nodeCount(): number {
    return this.nodes.size;
  }

  get edgeCount(): number {
    return this.edgeList.length;
  }

  /** A snapshot of the graph, sorted for stable output. The builder stays usable. */
  build(): DependencyGraph {
    const resolve = (name: string): string => this.aliases.get(name) ?? name;
    const merged = new Map<string, Edge>();
    // Create edge objects in output order: analyses then walk them sequentially in memory.
    const accs = [...this.edgeList].sort((a, b) => cmp(a.from, b.from) || cmp(a.to, b.to));
    for (const acc of accs) {
      const from = resolve(acc.from);
      const to = resolve(acc.to);
      if (from === to && acc.from !== acc.to) continue; // an alias collapsed it into a self-loop
      const key = `${from}\u0000${to}`;
      const edge = toEdge(acc, from, to);
      const prev = merged.get(key);
      merged.set(key, prev ? mergeEdges(prev, edge) : edge);
    }
    const services = [...this.nodes.values()]
      .filter((n) => !(this.aliases.has(n.name) && this.aliases.get(n.name) !== n.name))
      .map((n) => {
        const copy = { ...n, labels: { ...n.labels }, sources: [...n.sources] };
        if (n.entryPoints) copy.entryPoints = n.entryPoints.map((e) => structuredClone(e));
        return copy;
      })
      .sort((a, b) => cmp(a.name, b.name));
    const edges = [...merged.values()].sort((a, b) => cmp(a.from, b.from) || cmp(a.to, b.to));
    return { services, edges };
  }

  private edge(from: string, to: string): EdgeAcc {
    let out = this.edges.get(from);
    if (!out) {
      out = new Map();
      this.edges.set(from, out);
    }
    let edge = out.get(to);
    if (!edge) {
      if (!this.nodes.has(from)) this.service(from, { virtual: true });
      if (!this.nodes.has(to)) this.service(to, { virtual: true });
      edge = {
        from,
        to,
        startup: false,
        declared: false,
        observed: false,
        sources: [],
        sourceKeys: new Set(),
        podPortsUnknown: false,
        calls: 0,
        errors: 0,
        denied: 0,
      };
      out.set(to, edge);
      this.edgeList.push(edge);
    }
    return edge;
  }

  private addSource(edge: EdgeAcc, source: SourceRef): void {
    const last = edge.sources[edge.sources.length - 1];
    if (last === source) return;
    const key = `${source.type}\u0000${source.file}\u0000${source.line ?? ''}`;
    if (edge.sourceKeys.has(key)) return;
    edge.sourceKeys.add(key);
    edge.sources.push(
      source.line === undefined ? { type: source.type, file: source.file } : source,
    );
  }
}

function toEdge(acc: EdgeAcc, from: string, to: string): Edge {
  const edge: Edge = {
    from,
    to,
    kind: acc.startup ? 'startup' : 'runtime',
    provenance: acc.declared ? (acc.observed ? 'both' : 'declared') : 'observed',
    sources: acc.sources.map((s) => ({ ...s })),
  };
  if (acc.condition) edge.condition = acc.condition;
  if (acc.ports) edge.ports = [...acc.ports].sort((a, b) => a - b);
  if (acc.podPorts && !acc.podPortsUnknown) edge.podPorts = sortPorts([...acc.podPorts.values()]);
  if (acc.observed) edge.metrics = metricsOf(acc.calls, acc.errors, acc.denied, acc.sketch);
  return edge;
}

/** Builds the JSON metrics of an edge, with percentiles read from its sketch. */
export function metricsOf(
  calls: number,
  errors: number,
  denied: number,
  sketch: LatencySketch | undefined,
): EdgeMetrics {
  const metrics: EdgeMetrics = { calls, errors, denied };
  if (sketch && sketch.count > 0) {
    const r = (v: number | undefined): number => Math.round((v ?? 0) * 1000) / 1000;
    metrics.latencyMs = {
      p50: r(sketch.quantile(0.5)),
      p90: r(sketch.quantile(0.9)),
      p99: r(sketch.quantile(0.99)),
      max: r(sketch.max),
      mean: r(sketch.sum / sketch.count),
    };
    metrics.sketch = sketch.toJSON();
  }
  return metrics;
}

/** Ports in a stable order: by number, then protocol. */
export function sortPorts(ports: PodPort[]): PodPort[] {
  return ports.sort((x, y) => x.port - y.port || cmp(x.protocol, y.protocol));
}

function mergeEdges(a: Edge, b: Edge): Edge {
  const declared = a.provenance !== 'observed' || b.provenance !== 'observed';
  const observed = a.provenance !== 'declared' || b.provenance !== 'declared';
  const out: Edge = {
    ...a,
    kind: a.kind === 'startup' || b.kind === 'startup' ? 'startup' : 'runtime',
    provenance: declared ? (observed ? 'both' : 'declared') : 'observed',
    sources: [...a.sources, ...b.sources],
  };
  // Pod ports stay known only if every declaring side knows them.
  const declares = [a, b].filter((e) => e.provenance !== 'observed');
  if (declares.every((e) => e.podPorts)) {
    const all = new Map<string, PodPort>();
    for (const e of declares) for (const p of e.podPorts!) all.set(`${p.protocol}/${p.port}`, p);
    if (all.size > 0) out.podPorts = sortPorts([...all.values()]);
  } else delete out.podPorts;
  if (a.metrics || b.metrics) {
    const sketch = new LatencySketch();
    if (a.metrics?.sketch) sketch.merge(a.metrics.sketch);
    if (b.metrics?.sketch) sketch.merge(b.metrics.sketch);
    out.metrics = metricsOf(
      (a.metrics?.calls ?? 0) + (b.metrics?.calls ?? 0),
      (a.metrics?.errors ?? 0) + (b.metrics?.errors ?? 0),
      (a.metrics?.denied ?? 0) + (b.metrics?.denied ?? 0),
      sketch,
    );
  }
  return out;
}

/** Code-point string comparison, for output that sorts the same everywhere. */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
