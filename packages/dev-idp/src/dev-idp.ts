/**
 * A development OpenID provider: oidc-provider on loopback with users and machine clients given
 * in code, JWT access tokens (RFC 9068) for one resource, keys in memory and rotation on demand.
 *
 * It SIGNS IN ANYONE it knows: the login step is an in-process interaction that logs in the
 * user named by `login_hint`, without a password. It exists for tests and the demo and must
 * never face a network other than loopback.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Provider } from 'oidc-provider';
import { createMemoryAdapterFactory } from './adapter.ts';
import { authorizationCodeFlow, clientCredentialsFlow, type Endpoints } from './flows.ts';
import { type DevIdpAlg, generateKeySet, type SigningJwk } from './keys.ts';

/** Claims of a user or machine client, copied into its access tokens. */
export type DevIdpClaims = Record<string, unknown>;

export interface DevIdpOptions {
  /**
   * Users by `sub`; their claims go into access tokens (and the ID token / userinfo), except the
   * ones the provider sets (iss, sub, aud, exp, iat, jti, client_id, scope, cnf). `nbf` is kept:
   * a user with a future `nbf` yields not-yet-valid tokens, for tests.
   */
  users: Record<string, DevIdpClaims>;
  /** Machine clients by client id (client credentials grant); their claims go into their tokens. */
  clients?: Record<string, DevIdpClaims>;
  /** The resource indicator: the access tokens' `aud`. */
  audience: string;
  /** Scopes the resource knows; default `['api']`. A token gets all of them unless asked otherwise. */
  scopes?: string[];
  /** The access tokens' JWS algorithm; default RS256. */
  alg?: DevIdpAlg;
  /** Access token lifetime; default 300 s. */
  accessTokenTtlSec?: number;
  /** Loopback port; default 0 (any free port). */
  port?: number;
  /** Where oidc-provider's notices go; default nowhere (the IdP is quiet). */
  logger?: { warn(message: string): void };
}

export interface DevIdp {
  /** `http://127.0.0.1:<port>`: the `iss` of every token. */
  readonly issuer: string;
  /** The resource indicator / `aud` of the access tokens. */
  readonly audience: string;
  /** `kid` of the key that signs access tokens now. */
  readonly signingKid: string;
  /** A real access token for user `sub`, through authorization code + PKCE over HTTP. */
  userToken(sub: string, options?: { scope?: string }): Promise<string>;
  /** A real access token for a machine client, through the client credentials grant. */
  clientToken(clientId: string, options?: { scope?: string }): Promise<string>;
  /**
   * A new key per algorithm becomes the signing key; the previous keys stay in the JWKS (tokens
   * they signed still verify) unless `dropPrevious`. Returns the new access-token signing `kid`.
   */
  rotateKeys(options?: { dropPrevious?: boolean }): Promise<string>;
  close(): Promise<void>;
}

/** The public client the login flow uses (PKCE, no secret). */
const LOGIN_CLIENT_ID = 'ward-dev-idp-login';
/** Claims the provider sets itself; a user's claims may not override them. */
const RESERVED_CLAIMS = new Set([
  'iss',
  'sub',
  'aud',
  'exp',
  'iat',
  'jti',
  'client_id',
  'scope',
  'cnf',
]);

export async function startDevIdp(options: DevIdpOptions): Promise<DevIdp> {
  validate(options);
  const { default: Provider, errors } = await quietly(
    options.logger,
    () => import('oidc-provider'),
  );
  const alg = options.alg ?? 'RS256';
  const scopes = options.scopes ?? ['api'];
  const ttl = options.accessTokenTtlSec ?? 300;
  const users = new Map(Object.entries(options.users));
  const secrets = new Map(
    Object.keys(options.clients ?? {}).map((id) => [id, randomBytes(24).toString('base64url')]),
  );
  const clientClaims = new Map(Object.entries(options.clients ?? {}));
  const adapter = createMemoryAdapterFactory();
  const cookieKeys = [randomBytes(32).toString('base64url')];
  let keys: SigningJwk[] = await generateKeySet();
  let provider: Provider | undefined;
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;

  // Loaded here, not at import: on Node 26 loading node:http fills undici's global dispatcher
  // slot, and importing a package must change no globals (test/package-purity.test.ts).
  const { createServer } = await import('node:http');
  const server: Server = createServer((req, res) => {
    if (provider === undefined || handler === undefined) {
      res.writeHead(503).end();
      return;
    }
    if (req.method === 'GET' && req.url?.startsWith('/interaction/')) {
      interact(provider, req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500).end();
      });
      return;
    }
    handler(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const redirectUri = `${issuer}/callback`;
  const endpoints: Endpoints = { authorization: `${issuer}/auth`, token: `${issuer}/token` };

  /** The requested resource scopes (default all), or undefined when one is unknown or none is left. */
  const resourceScope = (requested: string | undefined): string | undefined => {
    if (requested === undefined) return scopes.join(' ');
    const asked = requested.split(' ').filter((s) => s !== '');
    return asked.length > 0 && asked.every((s) => scopes.includes(s)) ? asked.join(' ') : undefined;
  };

  const signingKid = (): string => {
    const key = keys.find((k) => k.alg === alg);
    if (key === undefined) throw new Error(`no ${alg} key`);
    return key.kid;
  };

  /** Claims for an access token: the user's, or the machine client's. */
  const claimsFor = (token: {
    accountId?: string;
    clientId?: string;
  }): DevIdpClaims | undefined => {
    const claims =
      token.accountId !== undefined
        ? users.get(token.accountId)
        : clientClaims.get(token.clientId ?? '');
    if (claims === undefined) return undefined;
    return Object.fromEntries(
      Object.entries(claims).filter(([name]) => !RESERVED_CLAIMS.has(name)),
    );
  };

  // oidc-provider reads its keystore once, at construction: a rotation builds a new provider
  // around the same storage, clients and cookie keys, and swaps the request handler.
  const build = (): Provider => {
    const resourceServer = {
      audience: options.audience,
      scope: scopes.join(' '),
      accessTokenFormat: 'jwt',
      accessTokenTTL: ttl,
      jwt: { sign: { alg, kid: signingKid() } },
    };
    return new Provider(issuer, {
      adapter,
      jwks: { keys },
      cookies: { keys: cookieKeys },
      clients: [
        {
          client_id: LOGIN_CLIENT_ID,
          token_endpoint_auth_method: 'none',
          grant_types: ['authorization_code'],
          response_types: ['code'],
          redirect_uris: [redirectUri],
        },
        ...[...secrets].map(([client_id, client_secret]) => ({
          client_id,
          client_secret,
          grant_types: ['client_credentials'],
          response_types: [],
          redirect_uris: [],
        })),
      ],
      findAccount: async (_ctx: unknown, sub: string) => {
        const claims = users.get(sub);
        if (claims === undefined) return undefined;
        return { accountId: sub, claims: async () => ({ ...claims, sub }) };
      },
      interactions: {
        url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}`,
      },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: async () => options.audience,
          useGrantedResource: async () => true,
          getResourceServerInfo: async (_ctx: unknown, indicator: string) => {
            if (indicator !== options.audience) throw new errors.InvalidTarget();
            return resourceServer;
          },
        },
      },
      extraTokenClaims: async (_ctx: unknown, token: { accountId?: string; clientId?: string }) =>
        claimsFor(token),
      pkce: { required: () => true },
      clientBasedCORS: () => false,
      // Every TTL set: the provider's defaults announce themselves on the console when called.
      ttl: {
        AccessToken: ttl,
        ClientCredentials: ttl,
        AuthorizationCode: 60,
        IdToken: 300,
        Interaction: 300,
        Session: 300,
        Grant: 300,
        RefreshToken: 300,
      },
      renderError: async (ctx: { type: string; body: unknown }, out: unknown) => {
        ctx.type = 'json';
        ctx.body = out;
      },
    });
  };
  const install = async (): Promise<void> => {
    const next = await quietly(options.logger, async () => build());
    provider = next;
    handler = next.callback();
  };

  /** The in-process login and consent: signs in the user named by `login_hint`. */
  async function interact(
    current: Provider,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const details = await current.interactionDetails(req, res);
    const sub = details.params.login_hint;
    if (typeof sub !== 'string' || !users.has(sub)) {
      await current.interactionFinished(req, res, {
        error: 'access_denied',
        error_description: 'unknown user',
      });
      return;
    }
    const requested = String(details.params.scope ?? '').split(' ');
    const grant = new current.Grant({ accountId: sub, clientId: String(details.params.client_id) });
    grant.addOIDCScope(requested.filter((s) => s === 'openid').join(' '));
    grant.addResourceScope(options.audience, requested.filter((s) => scopes.includes(s)).join(' '));
    const grantId = await grant.save();
    await current.interactionFinished(
      req,
      res,
      { login: { accountId: sub }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    );
  }

  try {
    await install();
  } catch (error) {
    await closeServer(server);
    throw error;
  }

  return {
    issuer,
    audience: options.audience,
    get signingKid() {
      return signingKid();
    },
    userToken(sub, tokenOptions) {
      if (!users.has(sub)) return Promise.reject(new TypeError(`no such dev IdP user: ${sub}`));
      const scope = resourceScope(tokenOptions?.scope);
      if (scope === undefined)
        return Promise.reject(new TypeError(`scope must be some of: ${scopes.join(' ')}`));
      return signIn(issuer, sub, { audience: options.audience, scope });
    },
    clientToken(clientId, tokenOptions) {
      const secret = secrets.get(clientId);
      if (secret === undefined)
        return Promise.reject(new TypeError(`no such dev IdP client: ${clientId}`));
      return clientCredentialsFlow({
        endpoints,
        clientId,
        clientSecret: secret,
        scope: tokenOptions?.scope ?? scopes.join(' '),
        resource: options.audience,
      });
    },
    async rotateKeys(rotateOptions) {
      const fresh = await generateKeySet();
      keys = rotateOptions?.dropPrevious === true ? fresh : [...fresh, ...keys];
      await install();
      return signingKid();
    },
    close: () => closeServer(server),
  };
}

function validate(options: DevIdpOptions): void {
  if (options === null || typeof options !== 'object')
    throw new TypeError('startDevIdp: options required');
  if (typeof options.audience !== 'string' || options.audience === '') {
    throw new TypeError('startDevIdp: audience must be a non-empty string');
  }
  if (options.users === null || typeof options.users !== 'object') {
    throw new TypeError('startDevIdp: users must be an object of claims by sub');
  }
  const ttl = options.accessTokenTtlSec;
  if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 1)) {
    throw new TypeError('startDevIdp: accessTokenTtlSec must be a positive integer');
  }
  if (options.alg !== undefined && options.alg !== 'RS256' && options.alg !== 'ES256') {
    throw new TypeError('startDevIdp: alg must be RS256 or ES256');
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/**
 * The calls of `quietly` in progress, each with its logger, and the console functions they
 * replaced. Calls overlap (two providers started at once): each swapping and restoring on its
 * own would restore in the wrong order and leave a router installed for good. So the real
 * functions are saved by the first call and put back by the last.
 */
const quiet: {
  depth: number;
  loggers: DevIdpOptions['logger'][];
  warn: Console['warn'];
  info: Console['info'];
} = {
  depth: 0,
  loggers: [],
  warn: console.warn,
  info: console.info,
};

/**
 * Runs `fn` with oidc-provider's console notices (lines starting "oidc-provider ") routed to
 * `logger` (default: dropped) and every other console line passed through. oidc-provider prints
 * them at import (e.g. "Unsupported runtime" on a non-LTS Node) and at construction; it has no
 * option to turn them off. Scoped to the calls in progress, so no other output is touched for
 * longer; while calls overlap, a notice goes to each of their loggers (which provider printed it
 * cannot be told).
 */
async function quietly<T>(logger: DevIdpOptions['logger'], fn: () => Promise<T>): Promise<T> {
  if (quiet.depth === 0) {
    quiet.warn = console.warn;
    quiet.info = console.info;
    const route =
      (original: (...args: unknown[]) => void) =>
      (...args: unknown[]): void => {
        if (typeof args[0] === 'string' && args[0].includes('oidc-provider ')) {
          for (const l of new Set(quiet.loggers)) l?.warn(args[0]);
        } else original(...args);
      };
    console.warn = route(quiet.warn);
    console.info = route(quiet.info);
  }
  quiet.depth++;
  quiet.loggers.push(logger);
  try {
    return await fn();
  } finally {
    quiet.loggers.splice(quiet.loggers.indexOf(logger), 1);
    quiet.depth--;
    if (quiet.depth === 0) {
      console.warn = quiet.warn;
      console.info = quiet.info;
    }
  }
}

/**
 * Signs `user` in at a running dev IdP, from any process, the way a browser would
 * (authorization code + PKCE over HTTP), and returns the access token for `audience`. This is
 * what `userToken` does, for a provider started elsewhere (the demo's, from its tests or a
 * terminal).
 */
export function signIn(
  issuer: string,
  user: string,
  options: { audience: string; scope?: string },
): Promise<string> {
  return authorizationCodeFlow({
    endpoints: { authorization: `${issuer}/auth`, token: `${issuer}/token` },
    clientId: LOGIN_CLIENT_ID,
    redirectUri: `${issuer}/callback`,
    scope: `openid ${options.scope ?? 'api'}`,
    resource: options.audience,
    loginHint: user,
  });
}
