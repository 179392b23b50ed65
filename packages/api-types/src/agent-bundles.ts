/**
 * Bundles through the node agent. The control plane streams to each agent the signed bundles of
 * the services on its node (`GET /v1/agent/watch`, data {@link AgentBundleEventV1}); the agent
 * serves each local PDP its own service's bundle over its Unix socket, as a server-streaming gRPC
 * method next to the SPIFFE Workload API: `ward.agent.v1.Bundles/WatchBundle`. Messages are JSON
 * (no .proto to ship): a request {@link AgentBundleRequestV1}, then one {@link AgentBundleReplyV1}
 * per bundle. The agent is not trusted with the bundle's content: the PDP verifies its signature
 * and revision exactly as for a bundle from the control plane.
 */
import type { SignedBundleV1 } from './bundle.ts';

/** Data of `event: bundle` on the agent watch, and the body of `GET /v1/agent/bundles/:service`. */
export interface AgentBundleEventV1 {
  /** The bundle's service, as its service key: `name`, or `namespace/name` outside the default namespace (canonical). */
  service: string;
  /** The SPIFFE ID of the service's workloads: the agent serves the bundle to them only. */
  spiffeId: string;
  /**
   * The bundle's revision, as in its signed payload, so the agent orders bundles without parsing
   * the payload (it does not verify it; the PDP does). Absent from servers before it was added:
   * the agent then reads the payload.
   */
  revision?: number;
  bundle: SignedBundleV1;
}

/** A PDP asks for its service's bundle stream. */
export interface AgentBundleRequestV1 {
  /** The service key: `name`, or `namespace/name` outside the default namespace (`default/x` is read as `x`). */
  service: string;
}

/** One bundle sent to a PDP: the current one on connect, then each newer one. */
export interface AgentBundleReplyV1 {
  bundle: SignedBundleV1;
}

/** gRPC metadata both ends require, as the Workload API does (guards against relayed requests). */
export const AGENT_BUNDLES_HEADER = 'workload.spiffe.io';

/** The gRPC service definition (grpc-js `ServiceDefinition` shape), JSON-coded. */
export const AGENT_BUNDLES_SERVICE = {
  WatchBundle: {
    path: '/ward.agent.v1.Bundles/WatchBundle',
    originalName: 'watchBundle',
    requestStream: false,
    responseStream: true,
    requestSerialize: (value: AgentBundleRequestV1): Buffer => Buffer.from(JSON.stringify(value)),
    requestDeserialize: (bytes: Buffer): unknown => JSON.parse(bytes.toString('utf8')),
    responseSerialize: (value: AgentBundleReplyV1): Buffer => Buffer.from(JSON.stringify(value)),
    responseDeserialize: (bytes: Buffer): unknown => JSON.parse(bytes.toString('utf8')),
  },
} as const;
