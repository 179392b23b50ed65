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
export type { AuditEntryV1 } from './audit.ts';
export type {
  BundlePassportV1,
  BundleV1,
  PassportKeyV1,
  SignedBundleV1,
  WatchEventV1,
} from './bundle.ts';
export {
  DECISION_LOG_PATH,
  type DecisionLogBatchV1,
  type DecisionLogDenialsV1,
  type DecisionLogDenialV1,
  type DecisionLogRecordV1,
} from './decision-log.ts';
export type {
  AgentStatusReportV1,
  AgentWorkloadV1,
  FleetAnswerV1,
  FleetMemberV1,
  FleetStateV1,
  IdentityAnswerV1,
  IdentityWorkloadV1,
  PdpStatusReportV1,
  RootRotationV1,
  TrustBundleInfoV1,
  TrustRootV1,
} from './fleet.ts';
export {
  EDGE_STATES,
  type EdgeStateV1,
  type GraphViewEdgeV1,
  type GraphViewNodeV1,
  type GraphViewV1,
} from './graph-view.ts';
export type { LiveDecisionV1 } from './live-tail.ts';
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
  WIRE_CONNECTIONS_PATH,
  type WireBatchV1,
  type WireEdgeV1,
  type WireUnresolvedV1,
} from './wire.ts';
