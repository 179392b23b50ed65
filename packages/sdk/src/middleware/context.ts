import type { ProblemV1 } from '@ward/api-types';
import type { CanonicalRequest, Decision, DecisionSource, PassportClaims } from '@ward/policy';

/**
 * How the caller's identity was established. `asserted`: named by the enforcing party that asked
 * (`Enforcer.checkAs`, e.g. a workload asking the node agent's decision API about its own caller).
 */
export type IdentitySource = 'mtls' | 'dev-header' | 'asserted' | 'anonymous';

/**
 * What the middleware hands to the handler of an admitted call (`req.ward`, `request.ward`, or
 * `wardOf(call)` for gRPC). Read-only.
 */
export interface WardContext {
  /**
   * The request as it was decided: canonical method (HEAD as GET), path and target, and `match`,
   * the path as the router compares it. The node:http and Express adapters route on `target`.
   */
  readonly request: CanonicalRequest;
  /** The caller as the policy saw it: service name and SPIFFE ID when known. */
  readonly source: DecisionSource;
  readonly identity: IdentitySource;
  /** Verified passport claims, when the call carried a passport. */
  readonly passport: PassportClaims | undefined;
  readonly decision: Decision;
  /**
   * True when the complete policy denies this call but only dry-run rules say so: the call
   * proceeds and the decision log shows a would-deny.
   */
  readonly dryRunDenied: boolean;
}

/** The `application/problem+json` body of a refused call. */
export interface EnforcementProblemV1 extends ProblemV1 {
  /** `policy#index` of the deciding rule, or `default`; absent for 400, 401 and 500. */
  rule?: string;
  /** The policy's or the passport verifier's reason. */
  reason: string;
}

/** A refused call: the status to answer and its problem body. */
export class Rejection {
  readonly status: 400 | 401 | 403 | 500;
  readonly problem: EnforcementProblemV1;
  /** The policy's decision, when the policy refused the call (403); absent for 400, 401, 500. */
  readonly decision: Decision | undefined;

  constructor(status: 400 | 401 | 403 | 500, problem: EnforcementProblemV1, decision?: Decision) {
    this.status = status;
    this.problem = problem;
    this.decision = decision;
  }
}

declare module 'node:http' {
  interface IncomingMessage {
    /** Set by the Ward middleware on every call it admits. */
    ward?: WardContext;
  }
}
