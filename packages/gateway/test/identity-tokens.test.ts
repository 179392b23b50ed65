import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOidcVerifier, GatewayError, type OidcVerifier } from '../src/index.ts';

/**
 * Tokens a real IdP would not issue (no exp, odd typ, HS256), signed by hand and served through a
 * discovery document and JWKS on loopback; and discovery documents that must not be trusted.
 */
const AUDIENCE = 'https://shop.example.com';
let server: Server;
let issuer: string;
let privateKey: CryptoKey;
/** What the loopback "IdP" answers at discovery; tests change it. */
let discovery: (issuer: string) => unknown;
const verifiers: OidcVerifier[] = [];

beforeAll(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true });
  privateKey = pair.privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  discovery = (iss) => ({ issuer: iss, jwks_uri: `${iss}/jwks` });
  server = createServer((req, res) => {
    const body =
      req.url === '/.well-known/openid-configuration'
        ? discovery(issuer)
        : req.url === '/jwks'
          ? { keys: [jwk] }
          : undefined;
    if (body === undefined) res.writeHead(404).end();
    else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await Promise.all(verifiers.map((v) => v.close()));
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function verifier(): OidcVerifier {
  const created = createOidcVerifier([{ issuer, audiences: [AUDIENCE], algorithms: ['ES256'] }], {
    tokenCacheSize: 0,
  });
  verifiers.push(created);
  return created;
}

async function sign(
  header: { typ?: string },
  claims: JWTPayload,
  exp: number | null = 300,
): Promise<string> {
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: 'k1', ...header })
    .setIssuer(issuer)
    .setAudience(AUDIENCE)
    .setSubject('alice')
    .setIssuedAt();
  if (exp !== null) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + exp);
  return jwt.sign(privateKey);
}

async function reason(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GatewayError);
  return `${(error as GatewayError).code}: ${(error as GatewayError).message}`;
}

describe('hand-made tokens', () => {
  it('accepts typ at+jwt, JWT and none; refuses other explicit types', async () => {
    const v = verifier();
    for (const typ of ['at+jwt', 'application/at+jwt', 'JWT', undefined]) {
      const token = await sign(typ === undefined ? {} : { typ }, {});
      expect((await v.verify(token)).claims.sub).toBe('alice');
    }
    for (const typ of ['dpop+jwt', 'logout+jwt', 'JOSE']) {
      expect(await reason(v.verify(await sign({ typ }, {})))).toBe(
        'GATEWAY_UNAUTHENTICATED: the token is not an access token (typ)',
      );
    }
  });

  it('requires exp', async () => {
    expect(await reason(verifier().verify(await sign({}, {}, null)))).toMatch(
      /^GATEWAY_UNAUTHENTICATED: /,
    );
  });

  it('refuses HS256 even keyed with the public key material, and garbage', async () => {
    const v = verifier();
    const hs = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
      .setIssuer(issuer)
      .setAudience(AUDIENCE)
      .setSubject('alice')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode('a secret that is long enough for HS256!!'));
    expect(await reason(v.verify(hs))).toBe(
      "GATEWAY_UNAUTHENTICATED: the token's algorithm is not allowed for its issuer",
    );
    for (const garbage of [
      'a.b.c',
      'eyJhbGciOiJFUzI1NiJ9.e30',
      'x',
      `${'a'.repeat(20)}.${'b'.repeat(20)}.c`,
    ]) {
      expect(await reason(v.verify(garbage))).toMatch(/^GATEWAY_UNAUTHENTICATED: /);
    }
  });

  it('does not trust a discovery document that names another issuer', async () => {
    discovery = () => ({ issuer: 'https://evil.example.com', jwks_uri: `${issuer}/jwks` });
    try {
      const v = verifier();
      expect(await reason(v.verify(await sign({}, {})))).toBe(
        `GATEWAY_IDP_UNAVAILABLE: issuer ${issuer} unavailable: discovery failed`,
      );
    } finally {
      discovery = (iss) => ({ issuer: iss, jwks_uri: `${iss}/jwks` });
    }
  });

  it('refuses configurations with symmetric or no algorithms, bad skew, duplicates', () => {
    const make = (entry: Record<string, unknown>) => () =>
      createOidcVerifier([{ issuer, audiences: [AUDIENCE], ...entry }]);
    for (const entry of [
      { algorithms: ['HS256'] },
      { algorithms: ['none'] },
      { algorithms: [] },
      { clockSkewSec: 301 },
      { clockSkewSec: -1 },
      { issuer: 'not a url' },
      { jwksUri: 'ftp://x/jwks' },
      { issuer: 'https://idp.example.com', jwksUri: 'http://idp.example.com/jwks' },
    ]) {
      expect(make(entry)).toThrow(expect.objectContaining({ code: 'GATEWAY_CONFIG_INVALID' }));
    }
    expect(() =>
      createOidcVerifier([
        { issuer, audiences: [AUDIENCE] },
        { issuer, audiences: [AUDIENCE] },
      ]),
    ).toThrow(GatewayError);
  });
});
