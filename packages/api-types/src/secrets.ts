/**
 * Secrets on the wire (issue 16). The control plane pushes each secret to the node agents whose
 * node runs a service that may read it (`event: secret` on `GET /v1/agent/watch`, data
 * {@link AgentSecretEventV1}); the agent keeps values in memory and serves each workload the
 * secrets of its own service over its Unix socket, as a server-streaming gRPC method beside the
 * Workload API: `ward.agent.v1.Secrets/WatchSecret` (JSON-coded like `ward.agent.v1.Bundles`).
 * Dynamic secrets (PostgreSQL logins) carry no value in the event: the agent takes a lease for
 * the service (`POST /v1/agent/leases`) when a workload asks, renews it while one watches, and
 * gives it back when none does.
 */

import type { SecretTypeV1 } from './secret-info.ts';

// The owners' view (summaries, versions' metadata, leases) has no Node types: see secret-info.ts.
export type {
  LeaseInfoV1,
  SecretSummaryV1,
  SecretTypeV1,
  SecretVersionInfoV1,
  SecretWriteResultV1,
} from './secret-info.ts';

/** One version of a secret's value: fields (Vault KV v2's `data`) and its validity. */
export interface SecretVersionV1 {
  version: number;
  /** The value's fields; a single-valued secret has one field, `value`. */
  data: Record<string, string>;
  /** Epoch ms from which callers use it (it is accepted by verifiers as soon as it is held). */
  notBefore: number;
  /** Epoch ms from which it is no longer accepted; null while it is the newest version. */
  notAfter: number | null;
}

/** Data of `event: secret` on the agent watch. */
export interface AgentSecretEventV1 {
  /** The reading service's key: the agent serves this secret to that service's workloads only. */
  service: string;
  /** The SPIFFE ID of the service's workloads. */
  spiffeId: string;
  /** The secret's key (`name`, or `namespace/name`). */
  secret: string;
  /** The store revision of this state of the secret; per (service, secret) it only rises. */
  revision: number;
  type: SecretTypeV1;
  /**
   * The versions valid now or pending (never expired ones); absent for `postgres` (leased on
   * demand) and when `removed`.
   */
  versions?: SecretVersionV1[];
  /** The service may no longer read the secret (grant withdrawn, secret deleted): drop it. */
  removed?: true;
}

/** Body of `POST /v1/agent/leases`: a dynamic credential for `service`'s workloads. */
export interface AgentLeaseRequestV1 {
  service: string;
  secret: string;
}

/** A lease on a dynamic credential (answer of lease creation; `data` only then). */
export interface LeaseV1 {
  id: string;
  secret: string;
  service: string;
  /** The credential (`username`, `password`, `database`, `host`, `port`, `url`). */
  data: Record<string, string>;
  /** Epoch ms: the login stops working then unless renewed. */
  expiresAt: number;
  /** Epoch ms: renewals never extend past it. */
  maxExpiresAt: number;
}

/** A workload asks for one secret of its own service. */
export interface SecretWatchRequestV1 {
  /** The asking workload's service key. */
  service: string;
  /** The secret, `name` (in the service's namespace) or `namespace/name`. */
  secret: string;
}

/** One message of `WatchSecret`: the secret's state now (sent on connect and on every change). */
export interface SecretWatchReplyV1 {
  secret: string;
  type: SecretTypeV1;
  versions: SecretVersionV1[];
  /** For dynamic secrets: the lease behind the one version. */
  lease?: { id: string; expiresAt: number };
}

/** The gRPC service definition (grpc-js `ServiceDefinition` shape), JSON-coded. */
export const AGENT_SECRETS_SERVICE = {
  WatchSecret: {
    path: '/ward.agent.v1.Secrets/WatchSecret',
    originalName: 'watchSecret',
    requestStream: false,
    responseStream: true,
    requestSerialize: (value: SecretWatchRequestV1): Buffer => Buffer.from(JSON.stringify(value)),
    requestDeserialize: (bytes: Buffer): unknown => JSON.parse(bytes.toString('utf8')),
    responseSerialize: (value: SecretWatchReplyV1): Buffer => Buffer.from(JSON.stringify(value)),
    responseDeserialize: (bytes: Buffer): unknown => JSON.parse(bytes.toString('utf8')),
  },
} as const;
