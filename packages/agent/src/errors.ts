/** Codes of every way the node agent fails. */
export type AgentErrorCode =
  | 'AGENT_BAD_OPTIONS'
  | 'AGENT_ATTESTATION_FAILED'
  | 'AGENT_CONTROL_PLANE'
  | 'AGENT_PEER_CREDENTIALS'
  | 'AGENT_NO_PEER_ATTESTATION'
  | 'AGENT_SOCKET'
  | 'AGENT_WIRE'
  | 'AGENT_SECRET_TEMPLATE'
  | 'AGENT_SECRET_RENDER'
  // The local decision API (`POST /v1/decide`), answered as problem bodies: see decide/http.ts.
  | 'AGENT_DECIDE_BAD_REQUEST'
  | 'AGENT_DECIDE_TOO_LARGE'
  | 'AGENT_DECIDE_UNAUTHENTICATED'
  | 'AGENT_DECIDE_FORBIDDEN'
  | 'AGENT_DECIDE_NOT_FOUND'
  | 'AGENT_DECIDE_NOT_READY';

/** A failure of the node agent; `cause` holds the underlying error. */
export class AgentError extends Error {
  readonly code: AgentErrorCode;
  /** HTTP status from the control plane, when the failure came from there. */
  readonly status: number | undefined;

  constructor(
    code: AgentErrorCode,
    message: string,
    options?: { cause?: unknown; status?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AgentError';
    this.code = code;
    this.status = options?.status;
  }
}

/**
 * Codes in the problem bodies of the agent's Envoy ext_authz service (`Check` denials), beside
 * the enforcement codes (`MIDDLEWARE_*`, `PASSPORT_*`) of the Enforcers it asks.
 */
export type ExtAuthzCode =
  | 'EXT_AUTHZ_UNKNOWN_DESTINATION'
  | 'EXT_AUTHZ_OUT_OF_SCOPE'
  | 'EXT_AUTHZ_NOT_HTTP'
  | 'EXT_AUTHZ_INTERNAL';
