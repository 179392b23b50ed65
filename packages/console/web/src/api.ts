/**
 * The console's only way to the control plane: same-origin fetches with the signed-in token as a
 * bearer header (never in a URL or a cookie, so no other site can make the browser use it), and
 * problem bodies turned into errors that say what the server said.
 */

/** The principal behind the token (`GET /v1/whoami`). */
export interface Me {
  name: string;
  scope: 'admin' | 'team' | 'pdp' | 'collector' | 'metrics';
  services: string[];
  /** Namespaces a team token owns whole (absent from servers before namespaces). */
  namespaces?: string[];
  via: 'token' | 'mtls';
}

/** An RFC 9457 problem answered by the API. */
export class ApiProblem extends Error {
  readonly status: number;
  readonly code: string;
  readonly errors: { field?: string; message: string }[];
  readonly body: unknown;

  constructor(status: number, body: unknown) {
    const p = (body ?? {}) as {
      title?: string;
      detail?: string;
      code?: string;
      errors?: { field?: string; message: string }[];
    };
    super(p.detail ?? p.title ?? `HTTP ${status}`);
    this.name = 'ApiProblem';
    this.status = status;
    this.code = p.code ?? `HTTP_${status}`;
    this.errors = Array.isArray(p.errors) ? p.errors : [];
    this.body = body;
  }
}

/** One server-sent event. */
export interface ServerEvent {
  event: string;
  data: string;
  id?: string;
}

export class Api {
  readonly token: string;

  constructor(token: string) {
    this.token = token;
  }

  #headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.token}`, accept: 'application/json', ...extra };
  }

  /** GET a JSON resource; throws ApiProblem on an error answer. */
  async get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.send<T>('GET', path, undefined, {}, signal);
  }

  /** GET a text resource (YAML, DOT, …). */
  async text(path: string, accept = 'text/plain'): Promise<string> {
    const res = await fetch(path, { headers: this.#headers({ accept }) });
    if (!res.ok) throw new ApiProblem(res.status, await body(res));
    return res.text();
  }

  /** A request with a JSON body (or none); the JSON answer, or ApiProblem. */
  async send<T>(
    method: string,
    path: string,
    payload?: unknown,
    headers: Record<string, string> = {},
    signal?: AbortSignal,
  ): Promise<T> {
    const res = await fetch(path, {
      method,
      headers: this.#headers(
        payload === undefined ? headers : { 'content-type': 'application/json', ...headers },
      ),
      body: payload === undefined ? undefined : JSON.stringify(payload),
      signal,
    });
    const parsed = await body(res);
    if (!res.ok) throw new ApiProblem(res.status, parsed);
    return parsed as T;
  }

  /**
   * Reads a text/event-stream until `signal` aborts or the server ends it. EventSource cannot
   * send an Authorization header, so this parses the stream from fetch itself.
   */
  async stream(
    path: string,
    onEvent: (e: ServerEvent) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const res = await fetch(path, {
      headers: this.#headers({ accept: 'text/event-stream' }),
      signal,
    });
    if (!res.ok || !res.body) throw new ApiProblem(res.status, await body(res));
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const event = parseEvent(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (event) onEvent(event);
          end = buffer.indexOf('\n\n');
        }
      }
    } finally {
      // A handler that throws (a malformed event) ends this stream: its connection is closed
      // here, not left open beside the one the caller reconnects with.
      reader.cancel().catch(() => {});
    }
  }
}

async function body(res: Response): Promise<unknown> {
  const text = await res.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** One event block of text/event-stream (comments and unknown fields ignored). */
export function parseEvent(block: string): ServerEvent | null {
  let event = 'message';
  let id: string | undefined;
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
    else if (field === 'id') id = value;
  }
  if (data.length === 0) return null;
  return { event, data: data.join('\n'), ...(id === undefined ? {} : { id }) };
}
