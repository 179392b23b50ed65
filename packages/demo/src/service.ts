/**
 * One service of the demo mesh, wired the way a real service embeds the SDK: its own `node:http`
 * (or `node:https`, with mTLS) server behind the Ward middleware, a PDP watching the control
 * plane, the egress guard in front of every outgoing call, and a decision-log shipper.
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { canonicalServiceKey, namespaceOfKey, type PassportClaims } from '@ward/policy';
import type {
  Client,
  ClientResponse,
  DecisionLogEntry,
  DecisionLogShipper,
  DestinationOptions,
  EgressGuard,
  Pdp,
} from '@ward/sdk';
import {
  createClient,
  createEgressGuard,
  EgressDeniedError,
  PASSPORT_HEADER,
  wardHttp,
} from '@ward/sdk';
import { DEV_IDENTITY_HEADER, type ServiceIdentity } from './identity.ts';
import type { Tally } from './tally.ts';

/** How the demo answers one request of a service (after the middleware admitted it). */
export type Handler = (ctx: RequestContext) => Promise<Reply>;

export interface Reply {
  status: number;
  body?: unknown;
  /** Plain text instead of JSON (metrics). */
  text?: string;
}

/** What a handler gets: the request, its parsed body, and a guarded caller. */
export interface RequestContext {
  req: IncomingMessage;
  method: string;
  path: string;
  body: unknown;
  /** Verified passport claims of the call (set by the middleware), if any. */
  passport: PassportClaims | undefined;
  /** The raw passport to forward downstream, if any. */
  passportToken: string | undefined;
  call: Caller;
}

/** The answer of an outgoing call; `refused` when the egress guard stopped it before sending. */
export interface CallResult {
  status: number;
  body: unknown;
  refused?: { rule: string; reason: string };
}

/**
 * Calls `destination`: a service reference read the way a document in the caller's namespace
 * reads it (`inventory` from `shop/orders` is `shop/inventory`; `shop/orders` from `monitoring`).
 */
export type Caller = (
  destination: string,
  method: string,
  path: string,
  options?: {
    body?: unknown;
    headers?: Record<string, string>;
    passport?: { token: string; claims: PassportClaims };
    /** W3C trace context of the request being served: the call continues its trace. */
    traceparent?: string;
  },
) => Promise<CallResult>;

/** Where the other services are, by key: their URLs (set once all listen) and SPIFFE IDs. */
export interface Directory {
  /** Every mesh service's key. */
  keys(): readonly string[];
  url(service: string): string;
  /** The URL, or undefined for a service that does not listen (a client only). */
  urlIfListening(service: string): string | undefined;
  spiffeId(service: string): string;
}

export interface ServiceDeps {
  /** The service's key, `shop/orders`. */
  name: string;
  identity: ServiceIdentity;
  /** The service's PDP; undefined for a client only (the monitoring tool). */
  pdp: Pdp | undefined;
  /** The destinations' PDPs: the egress guard decides with the destination's own policy. */
  pdps: ReadonlyMap<string, Pdp>;
  shipper: DecisionLogShipper;
  tally: Tally;
  directory: Directory;
}

export interface RunningService {
  readonly name: string;
  readonly url: string | undefined;
  readonly call: Caller;
  close(): Promise<void>;
}

/** A service's caller and what holds it open. */
export interface ServiceCaller {
  call: Caller;
  close(): Promise<void>;
}

/**
 * Builds the caller of a service: the SDK's resilient client (`createClient`: egress check,
 * mTLS with the service's SVID and the destination's SPIFFE ID checked, passport forwarding,
 * trace context, timeout, retries of idempotent calls within a budget, circuit breaker). The
 * client is made at the first call, once every service listens and its URL is known.
 */
export function createCaller(deps: ServiceDeps): ServiceCaller {
  const { name, identity, pdps, shipper, tally, directory } = deps;
  const guard: EgressGuard = createEgressGuard({
    // In a real mesh the caller loads its destinations' bundles; here they share the process.
    decider: {
      decide: (input) =>
        pdps.get(input.destination)?.decide(input) ?? {
          effect: 'deny',
          enforced: true,
          allowed: false,
          rule: null,
          reason: `no policy is known for ${input.destination}`,
        },
    },
    self: { service: name, spiffeId: identity.spiffeId },
  });
  const namespace = namespaceOfKey(name);
  let client: Client | undefined;
  const clientFor = (): Client => {
    if (client) return client;
    const destinations: Record<string, DestinationOptions> = {};
    for (const key of directory.keys()) {
      if (key === name) continue;
      const url = directory.urlIfListening(key);
      if (url === undefined) continue;
      destinations[key] = {
        endpoints: [url],
        ...(url.startsWith('https:') ? { spiffeId: directory.spiffeId(key) } : {}),
        // The development fallback (no mTLS, already warned about): passports over plain http.
        ...(identity.workload === undefined && url.startsWith('http:') ? { insecure: true } : {}),
        timeoutMs: 5000,
        connections: 8,
      };
    }
    client = createClient({
      self: { service: name, spiffeId: identity.spiffeId },
      ...(identity.workload ? { identity: identity.workload } : {}),
      guard,
      destinations,
      // Beside the PDP's metrics, so the service's /metrics shows its calls too (a client-only
      // service has no PDP: its client keeps a registry of its own).
      ...(deps.pdp ? { registry: deps.pdp.metrics() } : {}),
    });
    return client;
  };
  const call: Caller = async (ref, method, path, options = {}) => {
    const destination = canonicalServiceKey(ref, namespace);
    if (destination === undefined) throw new Error(`${ref} is not a service reference`);
    const headers: Record<string, string> = { ...identity.headers, ...options.headers };
    // A plain-HTTP service (the Python one) cannot see an mTLS peer: under mTLS the caller
    // names itself in the dev header there, as in the dev-header mode (labelled as such).
    if (identity.workload && directory.urlIfListening(destination)?.startsWith('http:')) {
      headers[DEV_IDENTITY_HEADER] = name;
    }
    let payload: string | undefined;
    if (options.body !== undefined) {
      payload = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    let res: ClientResponse;
    try {
      res = await clientFor().request(destination, {
        method,
        path,
        headers,
        ...(payload === undefined ? {} : { body: payload }),
        ...(options.passport ? { passport: options.passport } : {}),
        ...(options.traceparent ? { traceparent: options.traceparent } : {}),
      });
    } catch (error) {
      if (!(error instanceof EgressDeniedError)) throw error;
      // The call never leaves this process, so the destination never logs it: the caller does,
      // so the control plane still sees the attempted (unapproved) edge.
      const d = error.decision;
      const entry: DecisionLogEntry = {
        time: Date.now(),
        source: name,
        destination,
        method,
        path,
        routed: false,
        effect: 'deny',
        enforced: true,
        rule: d.rule,
        revision: pdps.get(destination)?.revision() ?? 0,
        subject: options.passport?.claims.sub,
        kid: options.passport?.claims.kid,
      };
      shipper.record(entry);
      tally.record(entry);
      const rule = d.rule === null ? 'default' : `${d.rule.policy}#${d.rule.index}`;
      return { status: 0, body: null, refused: { rule, reason: d.reason } };
    }
    const text = await res.body.text();
    let body: unknown = text;
    if (String(res.headers['content-type'] ?? '').includes('json')) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    return { status: res.statusCode, body };
  };
  return { call, close: async () => client?.close() };
}

/** Reads a small JSON body (the demo's own traffic; capped, and bad JSON is a 400). */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) throw Object.assign(new Error('body too large'), { status: 413 });
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw Object.assign(new Error('body is not JSON'), { status: 400 });
  }
}

export function send(res: ServerResponse, reply: Reply): void {
  if (reply.text !== undefined) {
    res.writeHead(reply.status, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(reply.text);
    return;
  }
  if (reply.body === undefined) {
    res.writeHead(reply.status);
    res.end();
    return;
  }
  const text = JSON.stringify(reply.body);
  res.writeHead(reply.status, { 'content-type': 'application/json' });
  res.end(text);
}

/** Runs a handler with a body and an error fence: a failing downstream is a 502, never a crash. */
export function listenerOf(handler: Handler, call: Caller) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    void (async () => {
      try {
        const body = await readJson(req);
        const url = req.url ?? '/';
        const q = url.indexOf('?');
        const token = req.headers[PASSPORT_HEADER];
        // Calls made while serving this request continue its trace.
        const traceparent = req.headers.traceparent;
        const traced: Caller =
          typeof traceparent === 'string'
            ? (destination, method, path, options = {}) =>
                call(destination, method, path, { traceparent, ...options })
            : call;
        const reply = await handler({
          req,
          method: req.method ?? 'GET',
          path: q < 0 ? url : url.slice(0, q),
          body,
          passport: req.ward?.passport,
          passportToken: typeof token === 'string' ? token : undefined,
          call: traced,
        });
        send(res, reply);
      } catch (error) {
        const status = (error as { status?: number }).status ?? 502;
        if (!res.headersSent) send(res, { status, body: { error: (error as Error).message } });
        else res.destroy();
      }
    })();
  };
}

/**
 * Starts a service's server on an ephemeral loopback port, behind the Ward middleware (mTLS
 * when the service has an SVID). End users never reach these servers: they enter through the
 * gateway (./edge.ts).
 */
export async function startService(
  deps: ServiceDeps,
  handler: Handler,
  opts: { host: string; call: Caller },
): Promise<RunningService> {
  const { name, identity, pdp, shipper } = deps;
  if (pdp === undefined) throw new TypeError(`${name} has no PDP to enforce with`);
  const inner = listenerOf(handler, opts.call);
  const listener = wardHttp(
    {
      decider: pdp,
      service: name,
      log: {
        record(entry) {
          shipper.record(entry);
          deps.tally.record(entry);
        },
      },
      ...(identity.serverOptions() === undefined ? { devIdentityHeader: DEV_IDENTITY_HEADER } : {}),
    },
    inner,
  );
  const tls = identity.serverOptions();
  const server: Server = tls ? createHttpsServer(tls, listener) : createHttpServer(listener);
  const unsecure = tls ? identity.secure(server) : () => {};
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `${tls ? 'https' : 'http'}://${opts.host}:${port}`;
  return {
    name,
    url,
    call: opts.call,
    async close() {
      unsecure();
      server.closeIdleConnections();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), 1000);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },
  };
}
