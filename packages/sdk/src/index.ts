/**
 * What a service embeds: the PDP runtime, workload identity, enforcement middleware, the egress
 * guard, the resilient client, the decision-log shipper and the secrets client.
 */

// Resilient client
export { type Client, createClient } from './client/client.ts';
export { ClientError, type ClientErrorCode } from './client/errors.ts';
export type {
  BreakerOptions,
  BulkheadOptions,
  ClientOptions,
  DestinationOptions,
  EjectionOptions,
  HealthCheckOptions,
  RetryOptions,
} from './client/options.ts';
export type { ClientRequest, ClientResponse } from './client/request.ts';
export { childTrace, parseTraceParent, type TraceParent } from './client/trace.ts';
// Decision logs
export type { DecisionLogEntry, DecisionRecorder } from './decision-log/entry.ts';
export { foldRecords, toRecordV1 } from './decision-log/entry.ts';
export { DecisionLogError, type DecisionLogErrorCode } from './decision-log/errors.ts';
export { pathTemplate } from './decision-log/path-template.ts';
export {
  createDecisionLogShipper,
  type DecisionLogShipper,
  type DecisionLogShipperOptions,
  type DecisionLogShipperStats,
} from './decision-log/shipper.ts';
// Workload identity (SPIFFE Workload API, mTLS)
export { workloadSocketPath } from './identity/endpoint.ts';
export { IdentityError, type IdentityErrorCode } from './identity/errors.ts';
export { matchSpiffeId, peerIdentity, type SpiffeIdMatcher } from './identity/peer.ts';
export { splitDer, type X509Svid } from './identity/svid.ts';
export { enforcePeerIdentity } from './identity/tls.ts';
export {
  type ClientIdentityOptions,
  type ServerIdentityOptions,
  WorkloadIdentity,
  type WorkloadIdentityOptions,
  workloadIdentity,
} from './identity/workload-identity.ts';
// Enforcement middleware and egress guard
export {
  type EnforcementProblemV1,
  type IdentitySource,
  Rejection,
  type WardContext,
} from './middleware/context.ts';
export type { Decider, PassportVerifier } from './middleware/decider.ts';
export {
  createEgressGuard,
  type DestinationResolver,
  type EgressGuard,
  type EgressGuardOptions,
  type EgressRequest,
  egressInterceptor,
  type GuardedFetchOptions,
  guardedFetch,
} from './middleware/egress.ts';
export {
  type EnforcementOptions,
  Enforcer,
  PASSPORT_HEADER,
  problem as enforcementProblem,
} from './middleware/enforcer.ts';
export {
  EgressDeniedError,
  EnforcementError,
  type EnforcementErrorCode,
  ruleName,
} from './middleware/errors.ts';
export { wardExpress } from './middleware/express.ts';
export { wardFastify } from './middleware/fastify.ts';
export { grpcMethodOf, wardGrpc, wardOf } from './middleware/grpc.ts';
export { wardHttp } from './middleware/http.ts';
export { isSpiffeId, spiffeIdOfCertificate, spiffeIdOfSubjectAltName } from './middleware/peer.ts';
// PDP runtime
export { PdpError, type PdpErrorCode } from './pdp/errors.ts';
export type { PdpBundleFeed } from './pdp/feed-source.ts';
export { fileFloorStore, floorFile, type RevisionFloorStore } from './pdp/floor.ts';
export type { PdpLogger, PdpOptions } from './pdp/options.ts';
export {
  createPdp,
  type Pdp,
  type PdpDecisionInput,
  type PdpStatus,
} from './pdp/pdp.ts';
export { type SseEvent, SseParser, type SseParserOptions } from './pdp/sse.ts';
export {
  type SvidClientOptions,
  type SvidSource,
  svidDispatcher,
} from './pdp/svid-dispatcher.ts';
// Secrets from the node agent
export {
  connectSecrets,
  type SecretsClient,
  type SecretsLogger,
  type SecretsOptions,
} from './secrets/client.ts';
export { SecretsClientError, type SecretsClientErrorCode } from './secrets/errors.ts';
export type { SecretValue } from './secrets/reply.ts';
