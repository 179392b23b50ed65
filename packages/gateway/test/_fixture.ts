/**
 * A whole gateway stack on loopback for tests: a control-plane stand-in that serves and pushes
 * signed bundles, the gateway's real PDP, an echo upstream, the authenticator the gateway builds
 * from its Gateway document (API keys API_KEYS) and the memory rate limiter.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { Writable } from 'node:stream';
import type { BundleV1, SignedBundleV1 } from '@ward/api-types';
import { exportPublicKey, generateBundleSigningKey, signBundle } from '@ward/bundle';
import type { PolicyDocument } from '@ward/policy';
import { createPdp, type DecisionLogEntry, type Pdp } from '@ward/sdk';
import { pino } from 'pino';
import {
  createClientUpstream,
  createGateway,
  type Gateway,
  type GatewayApiKey,
  type GatewayDocument,
  type GatewayOptions,
  memoryRateLimiter,
  type RateLimiter,
  type RouteDocument,
  type Upstream,
} from '../src/index.ts';

/** API keys of the tests' Gateway documents (only their hashes go into the documents). */
export const API_KEYS = {
  'key-alice-0123456789': { id: 'alice', subject: 'alice', attrs: { role: 'customer' } },
  'key-root-0123456789': { id: 'root', subject: 'root', attrs: { role: 'admin' } },
} as const;

/** `spec.apiKeys` for API_KEYS. */
export const apiKeySpecs = (): GatewayApiKey[] =>
  Object.entries(API_KEYS).map(([key, k]) => ({
    ...k,
    attrs: { ...k.attrs },
    sha256: sha256(key),
  }));

/** What the echo upstream saw of one request. */
export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

export interface EchoUpstream {
  url: string;
  seen: Seen[];
  /** Requests to /slow whose connection closed before an answer. */
  abandoned: number;
  close(): Promise<void>;
}

/**
 * Answers 200 with JSON of what it saw; `/slow…` never answers; `/hop…` answers with hop-by-hop
 * headers the gateway must strip; `/vary…` with its own Vary and CORS headers.
 */
export async function startEchoUpstream(): Promise<EchoUpstream> {
  const state: EchoUpstream = { url: '', seen: [], abandoned: 0, close: async () => {} };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const seen: Seen = {
        method: String(req.method),
        url: String(req.url),
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      state.seen.push(seen);
      if (seen.url.startsWith('/slow')) {
        res.on('close', () => {
          if (!res.writableFinished) state.abandoned++;
        });
        return;
      }
      const body = JSON.stringify(seen);
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
      };
      if (seen.url.startsWith('/hop')) {
        headers.connection = 'x-upstream-private';
        headers['x-upstream-private'] = 'secret-hop';
        headers['keep-alive'] = 'timeout=5';
        headers['proxy-authenticate'] = 'Basic';
        headers['x-upstream-public'] = 'kept';
      }
      if (seen.url.startsWith('/vary')) {
        // An upstream with its own CORS opinion: the gateway's must win, its Vary must survive.
        headers.vary = 'Accept-Encoding';
        headers['access-control-allow-origin'] = '*';
        headers['access-control-allow-credentials'] = 'true';
        headers['access-control-expose-headers'] = 'x-upstream-secret';
      }
      res.writeHead(200, headers);
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}

/** A control-plane stand-in: serves one bundle and pushes new ones on its watch streams. */
export async function startBundleServer(initial: SignedBundleV1) {
  let bundle = JSON.stringify(initial);
  const streams = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const path = String(req.url).split('?', 1)[0]!;
    if (path.startsWith('/v1/bundles/')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(bundle);
      return;
    }
    if (path === '/v1/watch') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      res.write(': connected\n\n');
      streams.add(res);
      res.on('close', () => streams.delete(res));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    streams: () => streams.size,
    push(next: SignedBundleV1, revision: number) {
      bundle = JSON.stringify(next);
      for (const res of streams) res.write(`id: ${revision}\nevent: bundle\ndata: ${bundle}\n\n`);
    },
    async close() {
      for (const res of streams) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export const GATEWAY_KEY = 'shop/edge';
export const PASSPORT_SECRET = randomBytes(32).toString('base64url');

/** The policy of the tests: everyone may use the edge, `/api/admin` only admins; dry-run on beta. */
export function edgePolicy(): PolicyDocument[] {
  return [
    {
      apiVersion: 'ward.dev/v1',
      kind: 'Service',
      metadata: { name: 'edge', namespace: 'shop' },
      spec: { passport: { mint: true } },
    },
    {
      apiVersion: 'ward.dev/v1',
      kind: 'Intention',
      metadata: { name: 'edge-admin', namespace: 'shop' },
      spec: {
        destination: 'edge',
        mode: 'enforce',
        rules: [
          {
            sources: ['*'],
            action: 'deny',
            permissions: [{ http: { paths: [{ prefix: '/api/admin' }] } }],
            when: 'passport.attrs.?role.orValue("") != "admin"',
          },
          { sources: ['*'], action: 'allow' },
        ],
      },
    },
    {
      // Only callers the gateway saw coming through 10.9.9.9 (a trusted proxy's chain) may use
      // /api/internal: a rule on a forwarding header a caller must not be able to spoof.
      apiVersion: 'ward.dev/v1',
      kind: 'Intention',
      metadata: { name: 'edge-internal', namespace: 'shop' },
      spec: {
        destination: 'edge',
        mode: 'enforce',
        rules: [
          {
            sources: ['*'],
            action: 'deny',
            permissions: [{ http: { paths: [{ prefix: '/api/internal' }] } }],
            when: 'request.headers[?"x-forwarded-for"].orValue("") != "10.9.9.9"',
          },
        ],
      },
    },
    {
      apiVersion: 'ward.dev/v1',
      kind: 'Intention',
      metadata: { name: 'edge-beta', namespace: 'shop' },
      spec: {
        destination: 'edge',
        mode: 'dry-run',
        rules: [
          {
            sources: ['*'],
            action: 'deny',
            permissions: [{ http: { paths: [{ prefix: '/api/beta' }] } }],
          },
        ],
      },
    },
  ] as PolicyDocument[];
}

/** The tests' Gateway document; `spec.apiKeys` defaults to API_KEYS. */
export const gatewayDoc = (spec: GatewayDocument['spec']): GatewayDocument => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Gateway',
  metadata: { name: 'edge', namespace: 'shop' },
  spec: { apiKeys: apiKeySpecs(), ...spec },
});

export const routeDoc = (name: string, spec: Omit<RouteDocument['spec'], 'gateway'>) => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Route',
  metadata: { name, namespace: 'shop' },
  spec: { gateway: 'edge', ...spec },
});

export function signedBundle(
  revision: number,
  documents: unknown[],
  privateKey: ReturnType<typeof generateBundleSigningKey>['privateKey'],
): SignedBundleV1 {
  const bundle: BundleV1 = {
    apiVersion: 'ward.dev/v1',
    kind: 'Bundle',
    service: GATEWAY_KEY,
    revision,
    issuedAt: new Date().toISOString(),
    trustDomain: 'test.local',
    documents: [...edgePolicy(), ...documents] as PolicyDocument[],
    passportKeys: [{ kid: 'edge-1', alg: 'HS256', key: PASSPORT_SECRET, zone: 'default' }],
    passport: { zone: 'default', mint: true, verify: true, maxLifetimeSec: 3600 },
  };
  return signBundle(bundle, privateKey);
}

/** Captured pino output, one parsed object per line. */
export function logCapture() {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue;
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines, raw };
}

export interface Stack {
  gateway: Gateway;
  pdp: Pdp;
  upstream: EchoUpstream;
  control: Awaited<ReturnType<typeof startBundleServer>>;
  limiter: RateLimiter;
  logs: ReturnType<typeof logCapture>;
  /** Every edge decision the gateway recorded (its decision log), oldest first. */
  decisions: DecisionLogEntry[];
  /** Pushes a new bundle with these Gateway/Route documents; returns its revision. */
  push(documents: unknown[]): number;
  close(): Promise<void>;
}

/** Starts the stack with `documents(upstreamUrl)` as the Gateway/Route documents of revision 1. */
export async function startStack(
  documents: (upstream: string) => unknown[],
  options: {
    upstream?: Upstream;
    rateLimiter?: RateLimiter;
    /** Server options of the gateway (connection limits, timeouts). */
    server?: Pick<GatewayOptions, 'maxConnections' | 'headersTimeoutMs'>;
  } = {},
): Promise<Stack> {
  const { privateKey, publicKey } = generateBundleSigningKey();
  const upstream = await startEchoUpstream();
  let revision = 1;
  const control = await startBundleServer(
    signedBundle(revision, documents(upstream.url), privateKey),
  );
  const logs = logCapture();
  const pdp = createPdp({
    service: GATEWAY_KEY,
    controlPlanes: [control.url],
    publicKey: exportPublicKey(publicKey),
    logger: logs.logger,
  });
  await pdp.ready;
  const limiter = options.rateLimiter ?? memoryRateLimiter();
  const upstreamClient =
    options.upstream ?? createClientUpstream({ self: GATEWAY_KEY, insecure: true });
  const decisions: DecisionLogEntry[] = [];
  const gateway = await createGateway({
    pdp,
    decisionLog: { record: (entry) => decisions.push(entry) },
    rateLimiter: limiter,
    upstream: upstreamClient,
    logger: logs.logger,
    listen: { host: '127.0.0.1', port: 0 },
    ...options.server,
  });
  return {
    gateway,
    pdp,
    decisions,
    upstream,
    control,
    limiter,
    logs,
    push(next) {
      revision++;
      control.push(signedBundle(revision, next, privateKey), revision);
      return revision;
    },
    async close() {
      await gateway.close();
      await upstreamClient.close();
      await pdp.close();
      await limiter.close();
      await control.close();
      await upstream.close();
    },
  };
}

/** SHA-256 hex of an API key, as Gateway documents store it. */
export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * Sends raw HTTP/1.1 requests over ONE socket, one after another, and returns the raw responses
 * (the framing of each is read by Content-Length). For headers undici refuses to send
 * (Connection, Keep-Alive, TE, Upgrade) and for keep-alive reuse.
 */
export function rawSocket(url: string) {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  let buffer = '';
  let waiting: (() => void) | undefined;
  socket.on('data', (d: Buffer) => {
    buffer += d.toString('latin1');
    waiting?.();
  });
  socket.on('close', () => waiting?.());
  const response = async (): Promise<{
    status: number;
    headers: Record<string, string>;
    body: string;
  }> => {
    for (;;) {
      const end = buffer.indexOf('\r\n\r\n');
      if (end >= 0) {
        const head = buffer.slice(0, end).split('\r\n');
        const headers: Record<string, string> = {};
        for (const line of head.slice(1)) {
          const i = line.indexOf(':');
          headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
        }
        const length = Number(headers['content-length'] ?? 0);
        if (buffer.length >= end + 4 + length) {
          const body = buffer.slice(end + 4, end + 4 + length);
          buffer = buffer.slice(end + 4 + length);
          return { status: Number(head[0]!.split(' ')[1]), headers, body };
        }
      }
      if (socket.destroyed)
        throw new Error(`socket closed; got ${JSON.stringify(buffer.slice(0, 200))}`);
      await new Promise<void>((resolve) => {
        waiting = resolve;
      });
      waiting = undefined;
    }
  };
  return {
    socket,
    async request(text: string) {
      socket.write(text);
      return response();
    },
    close() {
      socket.destroy();
    },
  };
}
