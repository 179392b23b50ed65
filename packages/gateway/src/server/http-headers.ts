/**
 * Request hygiene between the outside and the upstream: hop-by-hop headers (RFC 9110 §7.6.1),
 * the forwarding headers (X-Forwarded-*, RFC 7239 Forwarded), request ids and W3C trace context.
 * Anything a caller could use to impersonate the gateway's view (a passport, a client address) is
 * replaced, never extended, unless the peer is a trusted proxy.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
// Only the gateway's own passport may reach upstreams: any incoming one is dropped.
import { PASSPORT_HEADER } from '@ward/sdk';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'http2-settings',
]);

/** Request headers never forwarded besides the hop-by-hop ones (set by the gateway itself). */
const REQUEST_DROPPED = new Set([
  'host',
  // The gateway answered `Expect: 100-continue` itself (node:http does); it is hop-by-hop in effect.
  'expect',
  PASSPORT_HEADER,
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-request-id',
  'traceparent',
  'tracestate',
]);

/** Credentials the gateway consumed: the upstream gets the passport instead. */
const CREDENTIALS = new Set(['authorization', 'x-api-key']);

/** Names the Connection header lists (each also hop-by-hop), lower-cased; bounded. */
function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value.join(',') : value;
  const out = new Set<string>();
  for (const t of text.slice(0, 4096).split(',')) {
    const name = t.trim().toLowerCase();
    if (name !== '') out.add(name);
  }
  return out;
}

const isHopByHop = (name: string, named: Set<string> | undefined): boolean =>
  HOP_BY_HOP.has(name) || name.startsWith('proxy-') || (named?.has(name) ?? false);

/**
 * The headers to send upstream: the caller's minus hop-by-hop ones, the passport header, the
 * forwarding headers (re-set by `forwardingHeaders`) and, when the gateway authenticated the
 * request, its credential.
 */
export function upstreamRequestHeaders(
  headers: IncomingHttpHeaders,
  dropCredentials: boolean,
): Record<string, string | string[]> {
  const named = connectionTokens(headers.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (isHopByHop(name, named) || REQUEST_DROPPED.has(name)) continue;
    if (dropCredentials && CREDENTIALS.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** The upstream's response headers minus hop-by-hop ones (and those Connection names). */
export function clientResponseHeaders(
  headers: Record<string, string | string[] | undefined>,
): OutgoingHttpHeaders {
  const named = connectionTokens(headers.connection);
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || isHopByHop(name, named)) continue;
    out[name] = value;
  }
  return out;
}

/** The peer address without the IPv4-mapped prefix. */
export function plainIp(ip: string | undefined): string {
  if (ip === undefined) return 'unknown';
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

const single = (v: string | string[] | undefined): string | undefined =>
  Array.isArray(v) ? v.join(', ') : v;

/**
 * The client's address: the peer, or, behind trusted proxies, the rightmost X-Forwarded-For entry
 * that is not itself a trusted proxy (entries left of it are the client's own claims).
 */
export function clientIp(
  peer: string,
  headers: IncomingHttpHeaders,
  trusted: (ip: string) => boolean,
): string {
  if (!trusted(peer)) return peer;
  const xff = single(headers['x-forwarded-for']);
  if (xff === undefined) return peer;
  const hops = xff.slice(0, 4096).split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const ip = hops[i]!.trim();
    if (isIP(ip) === 0) return peer; // a malformed chain: trust only what we saw
    if (!trusted(ip)) return ip;
  }
  return peer;
}

const FORWARDED_HOST = /^[A-Za-z0-9.:[\]-]{1,260}$/;

/**
 * X-Forwarded-For/Proto/Host and Forwarded for the upstream. From a trusted proxy its chain is
 * extended with the peer; from anyone else the caller's values are discarded and replaced.
 */
export function forwardingHeaders(
  headers: IncomingHttpHeaders,
  peer: string,
  proto: 'http' | 'https',
  trustedPeer: boolean,
): Record<string, string> {
  const host = single(headers.host);
  const safeHost = host !== undefined && FORWARDED_HOST.test(host) ? host : undefined;
  const forNode = isIP(peer) === 6 ? `"[${peer}]"` : peer;
  const element = `for=${forNode};proto=${proto}${safeHost === undefined ? '' : `;host="${safeHost}"`}`;
  const out: Record<string, string> = {};
  const xff = trustedPeer ? single(headers['x-forwarded-for']) : undefined;
  out['x-forwarded-for'] = xff === undefined ? peer : `${xff}, ${peer}`;
  const inProto = trustedPeer ? single(headers['x-forwarded-proto']) : undefined;
  out['x-forwarded-proto'] = inProto === 'http' || inProto === 'https' ? inProto : proto;
  const inHost = trustedPeer ? single(headers['x-forwarded-host']) : undefined;
  const fwdHost = inHost !== undefined && FORWARDED_HOST.test(inHost) ? inHost : safeHost;
  if (fwdHost !== undefined) out['x-forwarded-host'] = fwdHost;
  const forwarded = trustedPeer ? single(headers.forwarded) : undefined;
  out.forwarded = forwarded === undefined ? element : `${forwarded}, ${element}`;
  return out;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** A well-formed incoming request id from a trusted proxy, else a new one. */
export function requestIdOf(headers: IncomingHttpHeaders, trustedPeer: boolean): string {
  const given = trustedPeer ? headers['x-request-id'] : undefined;
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The traceparent for the upstream (W3C Trace Context): the caller's trace with a new span id (the
 * gateway's hop), or a new sampled trace when the caller sent none or a malformed one.
 */
export function traceparentOf(headers: IncomingHttpHeaders): {
  traceparent: string;
  tracestate?: string;
} {
  const given = headers.traceparent;
  const m = typeof given === 'string' ? TRACEPARENT.exec(given) : null;
  const span = randomHex(16);
  if (m !== null && !/^0+$/.test(m[1]!) && !/^0+$/.test(m[2]!)) {
    const state = headers.tracestate;
    return {
      traceparent: `00-${m[1]}-${span}-${m[3]}`,
      ...(typeof state === 'string' && state.length <= 512 ? { tracestate: state } : {}),
    };
  }
  return { traceparent: `00-${randomHex(32)}-${span}-01` };
}

/**
 * `n` (<= 32) random hex digits from `randomUUID`, whose entropy comes from a cached pool: a
 * `randomBytes` call per request cost more than the rest of this module together (bench/gateway.ts
 * profile). 122 random bits per UUID; the version digit is skipped.
 */
function randomHex(n: 16 | 32): string {
  // xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx: 31 hex digits without dashes and the version digit.
  const u = randomUUID();
  const hex = `${u.slice(0, 8)}${u.slice(9, 13)}${u.slice(15, 18)}${u.slice(19, 23)}${u.slice(24)}`;
  return n === 16 ? hex.slice(0, 16) : `${hex}${randomUUID().charAt(0)}`;
}
