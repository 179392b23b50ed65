/**
 * Dependencies observed on the wire: what a node agent ships after sampling its node's TCP
 * connections (`/proc/net/tcp{,6}`), and the control plane stores as observed edges with
 * evidence `wire`.
 */

/** Connections of the sampled interval that became no edge, by reason (counts, never guesses). */
export interface WireUnresolvedV1 {
  /** Server side of a connection (its local port listens): the caller's end makes the edge. */
  inbound: number;
  /** No process the agent can read holds the socket (another user's, or gone). */
  noProcess: number;
  /** The process has no workload identity on the node. */
  unattested: number;
  /** The remote address is neither a workload on the node nor in the address map. */
  unknownRemote: number;
  /** Caller and destination are the same workload. */
  self: number;
  /** Distinct edges beyond the agent's per-sample cap. */
  overCap: number;
}

/** One dependency: a workload of the agent's node connected to `destination` on `port`. */
export interface WireEdgeV1 {
  /** SPIFFE ID of the calling workload; must be registered on the reporting agent's node. */
  source: string;
  /** SPIFFE ID of a workload, or a service name from the agent's address map. */
  destination: string;
  port: number;
  /** Samples in which the edge was seen. */
  samples: number;
  /** Connections seen, summed over those samples. */
  connections: number;
  /** ISO 8601 times of the first and last sample that saw it. */
  firstSeen: string;
  lastSeen: string;
}

/** Body of `POST /v1/ingest/connections` (authenticated by the agent proof header). */
export interface WireBatchV1 {
  edges: WireEdgeV1[];
  /** Distinct edges the agent dropped at its memory cap since its last batch. */
  dropped: number;
  unresolved: WireUnresolvedV1;
}

/** Path of the wire-observation ingest endpoint on the control plane. */
export const WIRE_CONNECTIONS_PATH = '/v1/ingest/connections';
