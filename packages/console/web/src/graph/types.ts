/** The answer of `GET /v1/graph/view` (packages/server/src/ingest/graph-view.ts). */

export const EDGE_STATES = [
  'declared',
  'observed',
  'approved',
  'dry-run-denied',
  'denied',
] as const;
export type EdgeState = (typeof EDGE_STATES)[number];

export interface ViewNode {
  id: string;
  name: string;
  namespace: string | null;
  team: string | null;
  wave: number | null;
  inCycle: boolean;
  kind: string;
  virtual: boolean;
}

export interface ViewEdge {
  from: string;
  to: string;
  states: EdgeState[];
  startup: boolean;
  calls: number;
  errors: number;
  denied: number;
  dryRunDenied: number;
  firstSeen: string | null;
  lastSeen: string | null;
  rule: string | null;
  protocol: string | null;
  ports: number[];
  mtls: boolean | null;
}

export interface GraphView {
  nodes: ViewNode[];
  edges: ViewEdge[];
  cycles: string[][];
  components: string[][];
  waves: string[][];
  truncated: boolean;
  totals: { services: number; edges: number };
}
