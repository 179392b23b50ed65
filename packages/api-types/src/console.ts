/**
 * The wire shapes the web console reads (`@ward/api-types/console`): the same definitions the
 * main entry exports, from modules that need neither Node's types nor `@ward/policy`, so the
 * browser build (packages/console/tsconfig.web.json, no Node types) typechecks them as source.
 */
export type { AuditEntryV1 } from './audit.ts';
export type { DecisionLogDenialsV1, DecisionLogDenialV1 } from './decision-log.ts';
export type {
  FleetAnswerV1,
  FleetMemberV1,
  FleetStateV1,
  IdentityAnswerV1,
  IdentityWorkloadV1,
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
