/** The answer of `GET /v1/graph/view` (built by packages/server/src/ingest/graph-view.ts). */

/** Every state an edge can be in, in the order the console lists them. */
export const EDGE_STATES = [
  'declared',
  'observed',
  'approved',
  'dry-run-denied',
  'denied',
] as const;
export type EdgeStateV1 = (typeof EDGE_STATES)[number];

export interface GraphViewNodeV1 {
  id: string;
  name: string;
  namespace: string | null;
  /** The Service document's owner (its `owner` label). */
  team: string | null;
  /** Boot wave (0 starts first); null when it cannot start cold (in or behind a startup cycle). */
  wave: number | null;
  inCycle: boolean;
  /** Node type: service, database, messaging, external, resource. */
  kind: string;
  virtual: boolean;
}

export interface GraphViewEdgeV1 {
  from: string;
  to: string;
  states: EdgeStateV1[];
  startup: boolean;
  calls: number;
  errors: number;
  /** Enforced denials in the window. */
  denied: number;
  /** Denials a dry-run rule only reported. */
  dryRunDenied: number;
  firstSeen: string | null;
  lastSeen: string | null;
  /** The rule of the latest decision on the edge, else the first intention rule approving it. */
  rule: string | null;
  protocol: string | null;
  ports: number[];
  /** True when decision logs identified the caller by SPIFFE ID (an mTLS peer); null: unknown. */
  mtls: boolean | null;
}

export interface GraphViewV1 {
  nodes: GraphViewNodeV1[];
  edges: GraphViewEdgeV1[];
  /** Elementary cycles (service names, each closing back on its first). */
  cycles: string[][];
  /** Cyclic strongly connected components. */
  components: string[][];
  waves: string[][];
  truncated: boolean;
  totals: { services: number; edges: number };
}
