/**
 * The node agent's local decision API (`POST /v1/decide` on the agent's Unix socket, or its
 * loopback port): a workload in any language asks the agent's PDP of its own service whether
 * to admit a call, as `decide()` of the SDK would answer in-process. docs/decide-api.md.
 */

export const DECIDE_PATH = '/v1/decide';
export const DECIDE_BATCH_PATH = '/v1/decide/batch';
/** JWT-SVID audience a caller of the loopback port presents (`Authorization: Bearer <JWT-SVID>`). */
export const DECIDE_AUDIENCE = 'ward-decide';

/** One question: the `decide()` input, with the passport as the raw token the agent verifies. */
export interface DecideRequestV1 {
  /** The service called: one of the asking workload's own services. */
  destination: string;
  /** The caller, as the asking workload identified it (its peer's SPIFFE ID, or a service key). */
  source?: { spiffeId?: string; service?: string };
  request: {
    method: string;
    /** The request target's path (a `?query` here is split off as the middleware does). */
    path: string;
    /** The raw query, without `?`. */
    query?: string;
    /** Header names are read case-insensitively. */
    headers?: Record<string, string>;
  };
  /** The compact passport token (`x-ward-passport`), verified by the agent with the bundle's keys. */
  passport?: string;
  /** The route template the service matched (`/orders/:id`), for the decision log. */
  route?: string;
}

/** One answer: the SDK's Decision, the bundle revision, and what to answer the caller. */
export interface DecideResponseV1 {
  /** Whether the call proceeds now (dry-run rules never change this). */
  allowed: boolean;
  /** What the complete policy says (dry-run rules included). */
  effect: 'allow' | 'deny';
  /** False when dry-run rules decided: the decision is only reported. */
  enforced: boolean;
  /** True when only dry-run rules deny: the call proceeds and the log shows a would-deny. */
  dryRunDenied: boolean;
  /** The deciding rule, `policy#index`, or `default`; null when no policy decided (400/401). */
  rule: string | null;
  reason: string;
  /** Revision of the bundle decided with. */
  revision: number;
  /** HTTP status to answer the caller with: 200, or 400 / 401 / 403 with `problem`. */
  status: 200 | 400 | 401 | 403 | 500;
  /** The problem body to send the caller when it is refused (as the SDK middleware sends). */
  problem?: Record<string, unknown>;
}

export interface DecideBatchRequestV1 {
  inputs: DecideRequestV1[];
}

export interface DecideBatchResponseV1 {
  /** One answer per input, in order; an input refused as malformed has a 4xx `status`. */
  decisions: DecideResponseV1[];
}
