/**
 * One decision a service made, as shipped to the control plane and as read back from JSON lines
 * by the graph readers. Field names are deliberately plain so a line of `jq` or a spreadsheet can
 * read them. A record never carries a query string, a header, or passport contents beyond the
 * passport's subject and key id.
 */
export interface DecisionLogRecordV1 {
  /** ISO 8601 time of the decision. */
  time: string;
  /**
   * The caller: its service key: `name`, or `namespace/name` outside the default namespace (`team-b/checkout`), else its SPIFFE ID, else `anonymous`.
   */
  source: string;
  /** The service that decided (the callee), as its key. */
  destination: string;
  /** HTTP method, upper case (`POST` for gRPC). */
  method: string;
  /**
   * Path template: the framework's route pattern when known (`/orders/:id`), else the path with
   * ids, UUIDs, numbers and long opaque segments collapsed to `{id}`. Never a query string.
   */
  path: string;
  effect: 'allow' | 'deny';
  /** False when a dry-run rule decided: `effect` was only reported, not applied. */
  enforced: boolean;
  /** `policy#index` of the rule that decided, or `default` for the default deny. */
  rule: string;
  /** Policy revision (bundle revision) the decision was made at; 0 when unknown. */
  revision: number;
  /** Passport subject, when a verified passport came with the call. */
  subject?: string;
  /** Passport key id, when a verified passport came with the call. */
  kid?: string;
  /**
   * How many identical decisions (every field equal but the time) this record stands for, when
   * more than one: the shipper folds them within a batch, so ingest and storage grow with edges,
   * not with traffic. Absent means 1.
   */
  count?: number;
  /** ISO 8601 time of the last of the `count` decisions (`time` is the first). */
  lastTime?: string;
}

/** Body of `POST /v1/decision-logs` (JSON, optionally `Content-Encoding: gzip`). */
export interface DecisionLogBatchV1 {
  records: DecisionLogRecordV1[];
  /**
   * Records the shipper dropped since its last accepted batch because its buffer was full (or a
   * batch failed for too long). Counted, never silently lost.
   */
  dropped?: number;
  /**
   * A uniform sample (reservoir) of those dropped records, so an edge seen only while the buffer
   * overflowed still shows up. Not counted as traffic: `dropped` already counts them.
   */
  droppedSample?: DecisionLogRecordV1[];
}

/** Path of the decision-log ingest endpoint on the control plane. */
export const DECISION_LOG_PATH = '/v1/decision-logs';

/**
 * The same ingest for a node agent (its local decision API's records), authenticated by the
 * agent proof header instead of a token: only records whose destination is a service with a
 * workload registered on the agent's node count.
 */
export const AGENT_DECISION_LOG_PATH = '/v1/agent/decision-logs';

/**
 * One raw denial (enforced or dry-run) as `GET /v1/decision-logs/denials` lists it: a record
 * without its effect (always a denial; `enforced` tells which kind), `count` always present.
 */
export interface DecisionLogDenialV1
  extends Omit<DecisionLogRecordV1, 'effect' | 'count' | 'lastTime'> {
  count: number;
}

/** The answer of `GET /v1/decision-logs/denials`, newest first. */
export interface DecisionLogDenialsV1 {
  since: string;
  items: DecisionLogDenialV1[];
}
