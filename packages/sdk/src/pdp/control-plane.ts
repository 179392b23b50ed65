import type { WatchEventV1 } from '@ward/api-types';
import type { Dispatcher } from 'undici';
import { undici } from '../undici.ts';
import { PdpError } from './errors.ts';
import { SseParser } from './sse.ts';

/** How the PDP talks to one control plane. */
export interface ControlPlaneRequestOptions {
  token: string | undefined;
  dispatcher: Dispatcher | undefined;
  /** For the long-lived watch stream. */
  watchDispatcher: Dispatcher | undefined;
  signal: AbortSignal;
  /** Time to wait for response headers. */
  requestTimeoutMs: number;
  /** Longest silence tolerated on a body (covers heartbeats on the watch stream). */
  readTimeoutMs: number;
  /** Largest bundle body accepted. */
  maxBundleBytes: number;
}

/**
 * Request header by which the PDP asks the watch stream to push its bundle itself (`event:
 * bundle`, data = `SignedBundleV1`) instead of a `revision` event that it would answer with a
 * fetch. A control plane that does not know it ignores it and sends `revision` events; the PDP
 * handles both. See the contract's "Changes" (push saves one HTTP request per PDP per change).
 */
export const WATCH_INCLUDE_HEADER = 'ward-watch-include';
/** Heartbeat interval (ms) a control plane announces on its watch stream. */
export const WATCH_HEARTBEAT_HEADER = 'ward-heartbeat-ms';
/** Heartbeats missed in a row before a watch stream is taken for dead (a frozen replica). */
const MISSED_HEARTBEATS = 3;

/**
 * Idle timeout of a watch stream: `readTimeoutMs` held between two and three announced
 * heartbeats — at most three missed heartbeats (a frozen replica is left soon), and never under
 * two (a control plane with a longer heartbeat than the default, e.g. an older one at 15 s, is
 * not dropped between two of its heartbeats). Without the header or with a nonsense value,
 * `readTimeoutMs`.
 */
export function watchIdleTimeout(announced: unknown, readTimeoutMs: number): number {
  const ms = announcedHeartbeat(announced);
  if (ms === undefined) return readTimeoutMs;
  return Math.min(ms * MISSED_HEARTBEATS, Math.max(readTimeoutMs, ms * (MISSED_HEARTBEATS - 1)));
}

/** The `ward-heartbeat-ms` header as a positive integer, or undefined. */
function announcedHeartbeat(announced: unknown): number | undefined {
  const ms = Number(Array.isArray(announced) ? announced[0] : announced);
  return Number.isSafeInteger(ms) && ms > 0 ? ms : undefined;
}

/** The revision of a `heartbeat <revision>` comment; undefined for any other comment. */
export function heartbeatRevision(comment: string): number | undefined {
  const match = /^heartbeat ([0-9]{1,15})$/.exec(comment);
  return match ? Number(match[1]) : undefined;
}

/**
 * `GET /v1/watch/revision`: the revision another replica has caught up to (its follower's, what
 * its heartbeats carry). Rejects on any failure, a 503 from a replica that cannot follow the log
 * included; the body is untrusted and checked.
 */
export async function fetchReplicaRevision(
  base: string,
  options: ControlPlaneRequestOptions,
): Promise<number> {
  const url = `${base}/v1/watch/revision`;
  try {
    const res = await undici().request(url, {
      method: 'GET',
      headers: headers(options, { accept: 'application/json' }),
      dispatcher: options.dispatcher,
      signal: options.signal,
      headersTimeout: options.requestTimeoutMs,
      bodyTimeout: options.requestTimeoutMs,
    });
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw statusError(res.statusCode, url, `GET ${url}`, res.headers);
    }
    // A few bytes are expected; a hostile replica gets no more than 1 KiB of memory.
    let text = '';
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      text += chunk.toString('utf8');
      if (text.length > 1024) {
        res.body.destroy();
        throw new PdpError('PDP_FETCH_FAILED', `GET ${url}: body too large`, { url });
      }
    }
    let revision: unknown;
    try {
      revision = (JSON.parse(text) as { revision?: unknown } | null)?.revision;
    } catch {
      revision = undefined;
    }
    if (!Number.isSafeInteger(revision) || (revision as number) < 0) {
      throw new PdpError('PDP_FETCH_FAILED', `GET ${url}: body has no revision`, { url });
    }
    return revision as number;
  } catch (error) {
    if (options.signal.aborted) throw error;
    throw networkError('PDP_FETCH_FAILED', url, error);
  }
}

/** Result of a bundle fetch: unchanged (304), or the envelope as untrusted JSON. */
export type FetchResult = { changed: false } | { changed: true; envelope: unknown };

function headers(options: ControlPlaneRequestOptions, extra: Record<string, string>) {
  const h: Record<string, string> = { ...extra };
  if (options.token) h.authorization = `Bearer ${options.token}`;
  return h;
}

/** Longest `Retry-After` honoured: a control plane cannot park a PDP for longer than this. */
export const RETRY_AFTER_MAX_MS = 60_000;

/**
 * `Retry-After` as milliseconds (delay-seconds or an HTTP date, RFC 9110 §10.2.3), capped at
 * RETRY_AFTER_MAX_MS; undefined when absent or malformed. The header is the peer's word only
 * about when to come back, so nothing else depends on it.
 */
export function parseRetryAfter(value: unknown, now = Date.now()): number | undefined {
  const text = String(Array.isArray(value) ? value[0] : (value ?? '')).trim();
  if (text === '') return undefined;
  let ms: number;
  if (/^[0-9]{1,10}$/.test(text)) ms = Number(text) * 1000;
  else {
    const at = Date.parse(text);
    if (!Number.isFinite(at) || !/[a-z]/i.test(text)) return undefined;
    ms = Math.max(0, at - now);
  }
  return Math.min(ms, RETRY_AFTER_MAX_MS);
}

function statusError(
  status: number,
  url: string,
  what: string,
  responseHeaders: Record<string, unknown> = {},
): PdpError {
  if (status === 401 || status === 403) {
    return new PdpError(
      'PDP_UNAUTHORIZED',
      `${what} refused with ${status}: check the PDP's token or SVID (bound to this service?)`,
      {
        status,
        url,
      },
    );
  }
  if (status === 404) {
    return new PdpError('PDP_SERVICE_UNKNOWN', `${what}: control plane does not know the service`, {
      status,
      url,
    });
  }
  // Busy (429) or unavailable (503): the control plane may say when to come back.
  const retryAfterMs =
    status === 429 || status === 503 ? parseRetryAfter(responseHeaders['retry-after']) : undefined;
  return new PdpError('PDP_FETCH_FAILED', `${what} answered ${status}`, {
    status,
    url,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}

/** Wraps network errors (refused, reset, timeouts) in `code` so status and logs stay coded. */
function networkError(code: 'PDP_FETCH_FAILED' | 'PDP_WATCH_FAILED', url: string, error: unknown) {
  if (error instanceof PdpError) return error;
  const inner = error as { code?: string; message?: string };
  const detail = inner?.code ? `${inner.code}: ${inner.message}` : String(inner?.message ?? error);
  return new PdpError(code, `${url}: ${detail}`, { cause: error, url });
}

/**
 * `GET /v1/bundles/{service}` with `If-None-Match`. The body is read up to `maxBundleBytes` and
 * parsed as JSON, nothing more: verification is the caller's job.
 */
export async function fetchBundle(
  base: string,
  service: string,
  etag: string | undefined,
  options: ControlPlaneRequestOptions,
): Promise<FetchResult> {
  const url = `${base}/v1/bundles/${encodeURIComponent(service)}`;
  try {
    const res = await undici().request(url, {
      method: 'GET',
      headers: headers(options, {
        accept: 'application/json',
        ...(etag ? { 'if-none-match': `"${etag}"` } : {}),
      }),
      dispatcher: options.dispatcher,
      signal: options.signal,
      headersTimeout: options.requestTimeoutMs,
      bodyTimeout: options.requestTimeoutMs,
    });
    if (res.statusCode === 304) {
      await res.body.dump();
      return { changed: false };
    }
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw statusError(res.statusCode, url, `GET ${url}`, res.headers);
    }
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > options.maxBundleBytes) {
      res.body.destroy();
      throw new PdpError('PDP_BUNDLE_TOO_LARGE', `bundle of ${declared} bytes exceeds the limit`, {
        url,
      });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > options.maxBundleBytes) {
        res.body.destroy();
        throw new PdpError(
          'PDP_BUNDLE_TOO_LARGE',
          `bundle exceeds ${options.maxBundleBytes} bytes`,
          { url },
        );
      }
      chunks.push(chunk);
    }
    let envelope: unknown;
    try {
      envelope = JSON.parse(Buffer.concat(chunks, size).toString('utf8'));
    } catch (error) {
      // Not counted as a rejected bundle: the body was not a bundle at all (a proxy error page).
      throw new PdpError('PDP_FETCH_FAILED', `GET ${url}: body is not JSON`, { cause: error, url });
    }
    return { changed: true, envelope };
  } catch (error) {
    // Cancelled by the PDP itself (close, failover): no need to dress up the abort.
    if (options.signal.aborted) throw error;
    throw networkError('PDP_FETCH_FAILED', url, error);
  }
}

/** Callbacks of one watch stream. */
export interface WatchHandlers {
  /**
   * The stream is open (200 with `text/event-stream`); `heartbeatMs` is the interval the
   * control plane announced (`ward-heartbeat-ms`), if it did.
   */
  onOpen(heartbeatMs: number | undefined): void;
  /** A heartbeat carrying the replica's revision (`: heartbeat <revision>`). */
  onHeartbeat?(revision: number): void;
  /** A well-formed `revision` event. */
  onEvent(event: WatchEventV1): void;
  /**
   * A `bundle` event: the control plane pushed the service's signed bundle itself (opt-in, see
   * WATCH_INCLUDE_HEADER), as untrusted JSON, with the event's revision.
   */
  onBundle(envelope: unknown, revision: number): void;
  /** Something arrived that is not a valid event; the stream goes on. */
  onMalformed(error: PdpError): void;
}

/**
 * `GET /v1/watch?since=REV&service=NAME` as a server-sent event stream. Resolves when the server
 * ends the stream, rejects on any error; silence longer than `readTimeoutMs` (no heartbeat) is an
 * error, so a connection that died without a FIN or RST is noticed.
 */
export async function watch(
  base: string,
  service: string,
  since: number,
  handlers: WatchHandlers,
  options: ControlPlaneRequestOptions,
): Promise<void> {
  const url = new URL(`${base}/v1/watch`);
  url.searchParams.set('since', String(since));
  url.searchParams.set('service', service);
  let idle: NodeJS.Timeout | undefined;
  try {
    const res = await undici().request(url, {
      method: 'GET',
      headers: headers(options, {
        accept: 'text/event-stream',
        'last-event-id': String(since),
        [WATCH_INCLUDE_HEADER]: 'bundle',
      }),
      dispatcher: options.watchDispatcher,
      signal: options.signal,
      headersTimeout: options.requestTimeoutMs,
      bodyTimeout: options.readTimeoutMs,
    });
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw statusError(res.statusCode, url.href, `GET ${url.href}`, res.headers);
    }
    const type = String(res.headers['content-type'] ?? '');
    if (!type.startsWith('text/event-stream')) {
      res.body.destroy();
      throw new PdpError('PDP_WATCH_PROTOCOL', `watch answered ${type || 'no content type'}`, {
        url: url.href,
      });
    }
    handlers.onOpen(announcedHeartbeat(res.headers[WATCH_HEARTBEAT_HEADER]));
    // A pushed bundle travels as one data line, so the limits follow the bundle size limit.
    const limit = options.maxBundleBytes + 64 * 1024;
    const parser = new SseParser({ maxLineLength: limit, maxEventSize: limit });
    // One timer per stream, refreshed per chunk: a replica that froze (or a path that drops
    // packets) is noticed after a few missed heartbeats, not after `readTimeoutMs`.
    const idleMs = watchIdleTimeout(res.headers[WATCH_HEARTBEAT_HEADER], options.readTimeoutMs);
    idle = setTimeout(
      () => res.body.destroy(new Error(`watch stream silent for ${idleMs} ms`)),
      idleMs,
    );
    idle.unref();
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      idle.refresh();
      const comments = parser.comments;
      const events = parser.feedBytes(chunk);
      if (parser.comments !== comments) {
        const revision = heartbeatRevision(parser.lastComment);
        if (revision !== undefined) handlers.onHeartbeat?.(revision);
      }
      for (const event of events) {
        if (event.event === 'bundle') {
          const envelope = parseBundleEvent(event.data);
          if (envelope instanceof PdpError) handlers.onMalformed(envelope);
          else handlers.onBundle(envelope, Number(event.id) || 0);
          continue;
        }
        if (event.event !== 'revision') continue;
        const parsed = parseWatchEvent(event.data);
        if (parsed instanceof PdpError) handlers.onMalformed(parsed);
        else handlers.onEvent(parsed);
      }
    }
  } catch (error) {
    // Cancelled by the PDP itself (close, failover): no need to dress up the abort.
    if (options.signal.aborted) throw error;
    throw networkError('PDP_WATCH_FAILED', url.href, error);
  } finally {
    clearTimeout(idle);
  }
}

/** JSON of a pushed bundle; verification is the caller's job. Never throws. */
function parseBundleEvent(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return new PdpError('PDP_WATCH_PROTOCOL', 'bundle event data is not JSON');
  }
}

/** Validates the data of a `revision` event (`WatchEventV1`); never throws. */
export function parseWatchEvent(data: string): WatchEventV1 | PdpError {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return new PdpError('PDP_WATCH_PROTOCOL', 'revision event data is not JSON');
  }
  const v = value as Partial<WatchEventV1> | null;
  if (
    !v ||
    typeof v !== 'object' ||
    !Number.isSafeInteger(v.revision) ||
    (v.revision as number) < 0 ||
    !Array.isArray(v.services) ||
    !v.services.every((s) => typeof s === 'string')
  ) {
    return new PdpError(
      'PDP_WATCH_PROTOCOL',
      'revision event data needs {revision: integer >= 0, services: string[]}',
    );
  }
  return { revision: v.revision as number, services: v.services };
}
