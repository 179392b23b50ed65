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
import type { DecisionLogEntry, DecisionLogShipper, EgressGuard, Pdp } from '@ward/sdk';
import { createEgressGuard, EgressDeniedError, PASSPORT_HEADER, wardHttp } from '@ward/sdk';
import { request } from 'undici';
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
  },
) => Promise<CallResult>;

/** Where the other services are, by key: their URLs (set once all listen) and SPIFFE IDs. */
export interface Directory {
  url(service: string): string;
  spiffeId(service: string): string;
}

export interface ServiceDeps {
  /** The service's key, `shop/orders`. */
  name: string;
  identity: ServiceIdentity;
  pdp: Pdp;
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

/** Builds the egress-guarded caller of a service. */
export function createCaller(deps: ServiceDeps): Caller {
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
  const dispatchers = new Map<string, ReturnType<ServiceIdentity['dispatcher']>>();
  const namespace = namespaceOfKey(name);
  return async (ref, method, path, options = {}) => {
    const destination = canonicalServiceKey(ref, namespace);
    if (destination === undefined) throw new Error(`${ref} is not a service reference`);
    const headers: Record<string, string> = { ...identity.headers, ...options.headers };
    try {
      guard.check(destination, { method, path, headers }, options.passport?.claims);
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
    if (options.passport) headers[PASSPORT_HEADER] = options.passport.token;
    let dispatcher = dispatchers.get(destination);
    if (dispatcher === undefined) {
      dispatcher = identity.dispatcher(directory.spiffeId(destination));
      dispatchers.set(destination, dispatcher);
    }
    let payload: string | undefined;
    if (options.body !== undefined) {
      payload = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    const res = await request(`${directory.url(destination)}${path}`, {
      method: method as 'GET',
      headers,
      body: payload,
      dispatcher,
      headersTimeout: 5000,
      bodyTimeout: 5000,
    });
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
        const reply = await handler({
          req,
          method: req.method ?? 'GET',
          path: q < 0 ? url : url.slice(0, q),
          body,
          passport: req.ward?.passport,
          passportToken: typeof token === 'string' ? token : undefined,
          call,
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
 * Starts a service's server on an ephemeral loopback port. `enforce` puts the Ward middleware in
 * front (every service but the edge, whose callers are end users, not workloads).
 */
export async function startService(
  deps: ServiceDeps,
  handler: Handler,
  opts: { host: string; enforce: boolean; call: Caller },
): Promise<RunningService> {
  const { name, identity, pdp, shipper } = deps;
  const inner = listenerOf(handler, opts.call);
  const listener = opts.enforce
    ? wardHttp(
        {
          decider: pdp,
          service: name,
          log: {
            record(entry) {
              shipper.record(entry);
              deps.tally.record(entry);
            },
          },
          ...(identity.serverOptions() === undefined
            ? { devIdentityHeader: DEV_IDENTITY_HEADER }
            : {}),
        },
        inner,
      )
    : inner;
  const tls = opts.enforce ? identity.serverOptions() : undefined;
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
