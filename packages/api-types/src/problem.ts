/** One field at fault in a request. */
export interface ProblemFieldErrorV1 {
  /** JSON pointer into the request body, or `query.x` / `params.x` / `headers.x`. */
  field: string;
  message: string;
  /** For policy documents: where in the submitted file. */
  file?: string;
  line?: number;
  col?: number;
  code?: string;
}

/**
 * RFC 9457 problem body, `application/problem+json`, returned by every error response of the
 * control plane. `code` is stable and documented in docs/errors.md; `detail` is for humans.
 */
export interface ProblemV1 {
  type: string;
  title: string;
  status: number;
  code: string;
  detail?: string;
  instance?: string;
  errors?: ProblemFieldErrorV1[];
}
