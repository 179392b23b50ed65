/**
 * The demo's edge: a real OpenID provider (`@ward/dev-idp`, oidc-provider on loopback) where the
 * simulated users sign in, and `ward gateway` in front of the storefront. The gateway verifies
 * their access tokens against the provider's JWKS, mints their passports, decides each request
 * with its own PDP (the `shop/edge` intention), rate-limits per user and forwards over mTLS with
 * its own SVID. The Gateway and Route documents are applied at every start, because the
 * provider's and the storefront's ports change from run to run.
 */
import { type DevIdp, startDevIdp } from '@ward/dev-idp';
import {
  createClientUpstream,
  createGateway,
  type Gateway,
  memoryRateLimiter,
} from '@ward/gateway';
import type { GatewayDocument, RouteDocument } from '@ward/policy';
import type { DecisionRecorder, Pdp } from '@ward/sdk';
import pino from 'pino';
import type { DemoControlPlane } from './control-plane.ts';
import { USERS } from './handlers.ts';
import type { ServiceIdentity } from './identity.ts';

/** The resource the users' access tokens are for (their `aud`). */
export const SHOP_AUDIENCE = 'https://shop.ward.demo';

export interface DemoEdge {
  /** Where outside traffic enters: `http://127.0.0.1:<port>/shop/...`. */
  readonly url: string;
  /** The OpenID provider's issuer URL. */
  readonly issuer: string;
  /** A real access token for `user` (authorization code + PKCE), cached until near expiry. */
  token(user: string): Promise<string>;
  close(): Promise<void>;
}

/** The gateway's configuration as Ward documents, for this run's provider and storefront. */
export function edgeDocuments(issuer: string, frontendUrl: string) {
  const gateway: GatewayDocument = {
    apiVersion: 'ward.dev/v1',
    kind: 'Gateway',
    metadata: { name: 'edge', namespace: 'shop' },
    spec: {
      oidc: [{ issuer, audiences: [SHOP_AUDIENCE], algorithms: ['RS256'] }],
      passport: { ttlSec: 60, attrs: { role: 'role', tenant: 'tenant' } },
      limits: { maxBodyBytes: 16_384, requestTimeoutMs: 10_000 },
      rateLimit: { failureMode: 'open' },
    },
  };
  const route = (name: string, spec: RouteDocument['spec']): RouteDocument => ({
    apiVersion: 'ward.dev/v1',
    kind: 'Route',
    metadata: { name, namespace: 'shop' },
    spec,
  });
  // `/shop/products/x` reaches the storefront as `/products/x`.
  const upstream = {
    service: 'frontend',
    endpoints: [frontendUrl],
    stripPrefix: true,
    timeoutMs: 5000,
  };
  // Generous for the demo's few requests a second; a user who scripts a flood meets 429.
  const rateLimits: RouteDocument['spec']['rateLimits'] = [
    { by: 'user', limit: 300, windowSec: 60 },
  ];
  const shop = route('shop', {
    gateway: 'edge',
    match: { pathPrefix: '/shop/', methods: ['GET', 'DELETE'] },
    upstream,
    rateLimits,
  });
  // The shop's only POST is a checkout: its body is checked at the edge, before the storefront.
  const checkout = route('checkout', {
    gateway: 'edge',
    match: { pathPrefix: '/shop/', methods: ['POST'] },
    upstream,
    rateLimits,
    requestSchema: {
      type: 'object',
      required: ['sku', 'qty'],
      additionalProperties: false,
      properties: {
        sku: { type: 'string', pattern: '^sku-[a-z]+$', maxLength: 32 },
        qty: { type: 'integer', minimum: 1, maximum: 10 },
      },
    },
  });
  return [gateway, shop, checkout] as const;
}

/** Starts the provider, applies the edge's documents and starts the gateway on `pdp`. */
export async function startEdge(opts: {
  host: string;
  admin: DemoControlPlane['admin'];
  pdp: Pdp;
  identity: ServiceIdentity;
  frontendUrl: string;
  /** Where the gateway's edge decisions go (the edge's decision-log shipper). */
  decisionLog: DecisionRecorder;
}): Promise<DemoEdge> {
  const idp: DevIdp = await startDevIdp({
    users: Object.fromEntries(Object.entries(USERS).map(([sub, claims]) => [sub, { ...claims }])),
    audience: SHOP_AUDIENCE,
  });
  // The resilient client to the storefront: mTLS with the gateway's SVID, the storefront's
  // SPIFFE ID checked; in the development fallback (no mTLS) the dev identity header names it,
  // and passports go over plain http (insecure: that fallback already warns loudly).
  const workload = opts.identity.workload;
  const upstream = createClientUpstream({
    self: 'shop/edge',
    ...(workload ? { identity: workload } : { headers: opts.identity.headers, insecure: true }),
  });
  const rateLimiter = memoryRateLimiter();
  let gateway: Gateway | undefined;
  const closeAll = async () => {
    await gateway?.close();
    await Promise.all([rateLimiter.close(), upstream.close()]);
    await idp.close();
  };
  try {
    const docs = edgeDocuments(idp.issuer, opts.frontendUrl);
    // JSON is YAML: one stream of three documents.
    const content = docs.map((d) => JSON.stringify(d)).join('\n---\n');
    await opts.admin('POST', '/v1/apply', {
      files: [{ name: 'edge-gateway.yaml', content }],
      dryRun: false,
    });
    const { revision } = await opts.admin<{ revision: number }>('GET', '/v1/revision');
    const deadline = Date.now() + 10_000;
    while (opts.pdp.revision() < revision && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    gateway = await createGateway({
      pdp: opts.pdp,
      // The gateway builds its authenticator from the Gateway document (and rebuilds it when
      // the document changes): it trusts the provider's issuer for the shop's audience.
      rateLimiter,
      upstream,
      decisionLog: opts.decisionLog,
      // Access logs would drown the status lines: only warnings, on stderr.
      logger: pino({ level: 'warn', name: 'ward-gateway' }, pino.destination(2)),
      listen: { host: opts.host, port: 0 },
    });
  } catch (error) {
    await closeAll();
    throw error;
  }
  const tokens = new Map<string, { token: string; until: number }>();
  return {
    url: gateway.url,
    issuer: idp.issuer,
    async token(user) {
      const kept = tokens.get(user);
      if (kept && kept.until > Date.now()) return kept.token;
      const token = await idp.userToken(user);
      // Renewed a minute before the provider's 300 s lifetime ends.
      tokens.set(user, { token, until: Date.now() + 240_000 });
      return token;
    },
    close: closeAll,
  };
}
