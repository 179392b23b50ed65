import type { Decision } from '@ward/policy';

/**
 * Codes of the enforcement layer: what the middleware answers (in problem bodies and gRPC
 * statuses) and what the egress guard throws. Passport failures keep the passport package's own
 * `PASSPORT_*` code, so a caller sees exactly why its passport was refused.
 */
export type EnforcementErrorCode =
  | 'MIDDLEWARE_DENIED'
  | 'MIDDLEWARE_NOT_CANONICAL'
  | 'MIDDLEWARE_BAD_IDENTITY'
  | 'MIDDLEWARE_PASSPORT_REJECTED'
  | 'MIDDLEWARE_DECIDE_FAILED'
  | 'EGRESS_DENIED'
  | 'EGRESS_UNKNOWN_DESTINATION';

/** Base class of the enforcement errors; switch on `code`. */
export class EnforcementError extends Error {
  readonly code: EnforcementErrorCode;

  constructor(code: EnforcementErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EnforcementError';
    this.code = code;
  }
}

/**
 * Thrown by the egress guard before a request leaves the process: the destination's policy does
 * not let this service call it. `decision` names the rule and the reason.
 */
export class EgressDeniedError extends EnforcementError {
  readonly destination: string;
  readonly decision: Decision;

  constructor(destination: string, decision: Decision) {
    super(
      'EGRESS_DENIED',
      `egress to ${destination} denied by ${ruleName(decision)}: ${decision.reason}`,
    );
    this.name = 'EgressDeniedError';
    this.destination = destination;
    this.decision = decision;
  }
}

/** `policy#index` of the deciding rule, or `default` for the default deny. */
export function ruleName(decision: Decision): string {
  const rule = decision.rule;
  return rule === null ? 'default' : `${rule.policy}#${rule.index}`;
}
