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

/** Prefix of every problem `type`: the code in lower case with dashes, e.g. `…/api-not-found`. */
export const PROBLEM_TYPE_BASE = 'https://ward.dev/problems/';

/** The `type` URI of a code: `API_NOT_FOUND` → `https://ward.dev/problems/api-not-found`. */
export function problemType(code: string): string {
  return `${PROBLEM_TYPE_BASE}${code.toLowerCase().replaceAll('_', '-')}`;
}

const TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** The HTTP reason phrase of a status, the `title` when the caller gives none. */
export function problemTitle(status: number): string {
  return TITLES[status] ?? (status >= 500 ? 'Server Error' : 'Client Error');
}

/** What {@link problemBody} needs. */
export interface ProblemInput {
  status: number;
  code: string;
  detail?: string;
  title?: string;
  instance?: string;
  errors?: readonly ProblemFieldErrorV1[];
}

/**
 * The one builder of RFC 9457 bodies for the control plane, the CA routes and the enforcement
 * middleware, so every Ward error has the same members: `type` (from the code), `title`,
 * `status` (never `statusCode`), `code`, `detail`, and `instance` / `errors` when given.
 * Extension members (the middleware's `rule` and `reason`) are spread after it by the caller.
 */
export function problemBody(input: ProblemInput): ProblemV1 {
  return {
    type: problemType(input.code),
    title: input.title ?? problemTitle(input.status),
    status: input.status,
    code: input.code,
    ...(input.detail === undefined ? {} : { detail: input.detail }),
    ...(input.instance === undefined ? {} : { instance: input.instance }),
    ...(input.errors && input.errors.length > 0 ? { errors: [...input.errors] } : {}),
  };
}
