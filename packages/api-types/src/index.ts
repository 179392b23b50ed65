/**
 * Wire types shared by the control plane, the SDK, the agent and the CLI. Everything that crosses
 * a process boundary is defined here once, versioned with a `V1` suffix.
 */

export {
  AGENT_BUNDLES_HEADER,
  AGENT_BUNDLES_SERVICE,
  type AgentBundleEventV1,
  type AgentBundleReplyV1,
  type AgentBundleRequestV1,
} from './agent-bundles.ts';
export type {
  BundlePassportV1,
  BundleV1,
  PassportKeyV1,
  SignedBundleV1,
  WatchEventV1,
} from './bundle.ts';
// Audit, decision logs, fleet, graph view, live tail, rollout, secrets' metadata: see console.ts.
export * from './console.ts';
export {
  DECIDE_AUDIENCE,
  DECIDE_BATCH_PATH,
  DECIDE_PATH,
  type DecideBatchRequestV1,
  type DecideBatchResponseV1,
  type DecideRequestV1,
  type DecideResponseV1,
} from './decide.ts';
export { BUNDLE_MEDIA_TYPE, PROBLEM_MEDIA_TYPE } from './media-types.ts';
export {
  PROBLEM_TYPE_BASE,
  type ProblemFieldErrorV1,
  type ProblemInput,
  type ProblemV1,
  problemBody,
  problemTitle,
  problemType,
} from './problem.ts';
export {
  AGENT_SECRETS_SERVICE,
  type AgentLeaseRequestV1,
  type AgentSecretEventV1,
  type LeaseV1,
  type SecretVersionV1,
  type SecretWatchReplyV1,
  type SecretWatchRequestV1,
} from './secrets.ts';
export {
  WIRE_CONNECTIONS_PATH,
  type WireBatchV1,
  type WireEdgeV1,
  type WireUnresolvedV1,
} from './wire.ts';
