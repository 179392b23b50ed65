/**
 * The fleet's wire shapes: the status reports PDPs and node agents send
 * (`POST /v1/status/pdp`, `POST /v1/status/agent`), and what `GET /v1/fleet` and
 * `GET /v1/identity` answer (read by `ward status` and the console's fleet view).
 */

/** The body of `POST /v1/status/pdp` (sent by the SDK's PDP). */
export interface PdpStatusReportV1 {
  instance: string;
  /** The PDP's service key: `name`, or `namespace/name` outside the default namespace (`default/x` is stored as `x`). */
  service: string;
  revision: number;
  bundleAt: string | null;
  connected: boolean;
  version: string;
  startedAt: string;
  /** Host name and pid, for a human telling instances apart. */
  label: string;
  decisions: { allowed: number; denied: number; dryRunDenied: number };
  /** How often this PDP reports (ms); the server clamps it. */
  intervalMs?: number;
}

/** One workload SVID an agent holds. */
export interface AgentWorkloadV1 {
  spiffeId: string;
  serial: string;
  /** ISO 8601. */
  notAfter: string;
}

/** The body of `POST /v1/status/agent` (sent by the node agent). */
export interface AgentStatusReportV1 {
  node: string;
  version: string;
  workloads: AgentWorkloadV1[];
  /** The bundle revision the agent holds per service. */
  bundles: { service: string; revision: number }[];
  intervalMs?: number;
}

export type FleetStateV1 = 'SYNCED' | 'STALE' | 'LOST';

/** One PDP or node agent, as `GET /v1/fleet` lists it. */
export interface FleetMemberV1 {
  kind: 'pdp' | 'agent';
  instance: string;
  service: string | null;
  node: string | null;
  label: string;
  revision: number;
  desiredRevision: number | null;
  state: FleetStateV1;
  lastContact: string;
  ageMs: number;
  connected: boolean;
  version: string;
}

/** The answer of `GET /v1/fleet`. */
export interface FleetAnswerV1 {
  revision: number;
  now: string;
  items: FleetMemberV1[];
}

/** One root of the trust bundle. */
export interface TrustRootV1 {
  subject: string;
  serial: string;
  /** SHA-256 of the DER, hex with colons (as `openssl x509 -fingerprint -sha256`). */
  fingerprint: string;
  notBefore: string;
  notAfter: string;
  /** `active` signs; `prepared` is trusted but does not sign yet; `retiring` awaits retirement. */
  state: 'active' | 'prepared' | 'retiring';
  activatedAt: string | null;
}

/** Where root rotation stands. */
export interface RootRotationV1 {
  /** `idle`: one root; `prepared`: step 1 done; `activated`: step 2 done, old root to retire. */
  state: 'idle' | 'prepared' | 'activated';
  /** The `ward ca root <step>` to run next, or null when there is nothing to do. */
  next: 'activate' | 'retire' | null;
  intermediate: { serial: string; notAfter: string } | null;
}

export interface TrustBundleInfoV1 {
  roots: TrustRootV1[];
  rotation: RootRotationV1;
}

/** A registered workload with the SVID its agent last reported holding. */
export interface IdentityWorkloadV1 {
  spiffeId: string;
  service: string | null;
  node: string;
  serial: string | null;
  notAfter: string | null;
  expiresInMs: number | null;
}

/** The answer of `GET /v1/identity`. */
export interface IdentityAnswerV1 {
  trustDomain: string;
  /** Null when the CA has no state yet. */
  trustBundle: TrustBundleInfoV1 | null;
  workloads: IdentityWorkloadV1[];
}
