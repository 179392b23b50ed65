import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { type DevIdp, startDevIdp } from '@ward/dev-idp';
import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Authenticator, Principal } from '../src/contracts.ts';
import {
  createAuthenticator,
  GatewayError,
  type GatewayIdentitySpec,
  type GatewayOidcIssuer,
  type OidcVerifierOptions,
} from '../src/index.ts';

/**
 * External identity against a REAL OpenID provider (oidc-provider through @ward/dev-idp):
 * tokens come from the authorization code + PKCE flow over HTTP, keys from discovery and JWKS.
 */
const AUDIENCE = 'https://shop.example.com';
const API_KEY = randomBytes(24).toString('base64url');
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

let idp: DevIdp;
let other: DevIdp;
const authenticators: Authenticator[] = [];

beforeAll(async () => {
  [idp, other] = await Promise.all([
    startDevIdp({
      users: {
        alice: { role: 'customer', tenant: 'eu', realm_access: { roles: ['buyer', 'reviewer'] } },
        early: { role: 'customer', nbf: Math.floor(Date.now() / 1000) + 3600 },
      },
      clients: { 'ci-bot': { role: 'machine' } },
      audience: AUDIENCE,
    }),
    startDevIdp({ users: { alice: { role: 'admin' } }, audience: AUDIENCE }),
  ]);
});
afterAll(async () => {
  await Promise.all(authenticators.map((a) => a.close()));
  await Promise.all([idp?.close(), other?.close()]);
});

function oidcOf(source: DevIdp, overrides: Partial<GatewayOidcIssuer> = {}): GatewayOidcIssuer {
  return { issuer: source.issuer, audiences: [AUDIENCE], ...overrides };
}

function authenticator(
  oidc: GatewayOidcIssuer[],
  options: OidcVerifierOptions = {},
  extra: Partial<GatewayIdentitySpec> = {},
): Authenticator {
  const created = createAuthenticator(
    {
      oidc,
      apiKeys: [
        { id: 'ci-bot', sha256: sha256(API_KEY), subject: 'ci-bot', attrs: { role: 'machine' } },
      ],
      passport: { attrs: { role: 'role', tenant: 'tenant', groups: 'realm_access.roles' } },
      ...extra,
    },
    options,
  );
  authenticators.push(created);
  return created;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** The refusal of `promise`: its code and reason, checked never to carry the credential. */
async function refusal(
  promise: Promise<unknown>,
  credential: string,
): Promise<{ code: string; message: string }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GatewayError);
  const { code, message } = error as GatewayError;
  for (const part of credential.split('.'))
    if (part.length > 8) expect(message).not.toContain(part);
  return { code, message };
}

describe('OIDC bearer tokens from a real provider', () => {
  it('a user token: subject, mapped attrs, issuer and exp', async () => {
    const token = await idp.userToken('alice');
    const principal = (await authenticator([oidcOf(idp)]).authenticate(bearer(token))) as Principal;
    expect(principal).toEqual({
      kind: 'oidc',
      subject: 'alice',
      attrs: { role: 'customer', tenant: 'eu', groups: ['buyer', 'reviewer'] },
      issuer: idp.issuer,
      expiresAt: expect.any(Number),
    });
    expect(principal.expiresAt).toBeGreaterThan(Date.now() / 1000);
  });

  it('a machine token (client credentials), and a subject claim other than sub', async () => {
    const token = await idp.clientToken('ci-bot');
    const byClient = authenticator([oidcOf(idp, { subjectClaim: 'client_id' })]);
    expect(await byClient.authenticate(bearer(token))).toMatchObject({
      subject: 'ci-bot',
      attrs: { role: 'machine' },
    });
  });

  it('a configured jwksUri skips discovery', async () => {
    const token = await idp.userToken('alice');
    const direct = authenticator([oidcOf(idp, { jwksUri: `${idp.issuer}/jwks` })]);
    expect(await direct.authenticate(bearer(token))).toMatchObject({ subject: 'alice' });
  });

  it('refuses a token for another audience', async () => {
    const token = await idp.userToken('alice');
    const wrong = authenticator([oidcOf(idp, { audiences: ['https://admin.example.com'] })]);
    expect(await refusal(wrong.authenticate(bearer(token)), token)).toEqual({
      code: 'GATEWAY_UNAUTHENTICATED',
      message: "the token's audience is not accepted",
    });
  });

  it('refuses an expired token (the gateway clock one hour ahead)', async () => {
    const token = await idp.userToken('alice');
    const later = authenticator([oidcOf(idp)], { now: () => Date.now() + 3_600_000 });
    expect((await refusal(later.authenticate(bearer(token)), token)).message).toBe(
      'the token has expired',
    );
  });

  it('refuses a token whose nbf is in the future', async () => {
    const token = await idp.userToken('early');
    const gate = authenticator([oidcOf(idp)]);
    expect((await refusal(gate.authenticate(bearer(token)), token)).message).toBe(
      'the token is not yet valid (nbf)',
    );
  });

  it('refuses a token from an issuer it does not trust', async () => {
    const token = await other.userToken('alice');
    const gate = authenticator([oidcOf(idp)]);
    expect((await refusal(gate.authenticate(bearer(token)), token)).message).toBe(
      "the token's issuer is not trusted by this gateway",
    );
  });

  it('refuses a token naming a trusted issuer but signed with a foreign key of the same kid', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT({ role: 'admin' })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: idp.signingKid })
      .setIssuer(idp.issuer)
      .setAudience(AUDIENCE)
      .setSubject('alice')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    const gate = authenticator([oidcOf(idp)]);
    expect((await refusal(gate.authenticate(bearer(forged)), forged)).message).toBe(
      "the token's signature does not verify",
    );
  });

  it('refuses an algorithm the issuer is not allowed, and alg none', async () => {
    const token = await idp.userToken('alice');
    const esOnly = authenticator([oidcOf(idp, { algorithms: ['ES256'] })]);
    expect((await refusal(esOnly.authenticate(bearer(token)), token)).message).toBe(
      "the token's algorithm is not allowed for its issuer",
    );
    const [, payload] = token.split('.');
    const none = `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString('base64url')}.${payload}.`;
    const gate = authenticator([oidcOf(idp)]);
    const { code } = await refusal(gate.authenticate(bearer(none)), none);
    expect(code).toBe('GATEWAY_UNAUTHENTICATED');
  });

  it('refuses a tampered signature and a tampered payload', async () => {
    const token = await idp.userToken('alice');
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const middle = Math.floor(signature.length / 2);
    const flipped = signature[middle] === 'A' ? 'B' : 'A';
    const badSignature = `${header}.${payload}.${signature.slice(0, middle)}${flipped}${signature.slice(middle + 1)}`;
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<
      string,
      unknown
    >;
    const badPayload = `${header}.${Buffer.from(JSON.stringify({ ...claims, role: 'admin' })).toString('base64url')}.${signature}`;
    const gate = authenticator([oidcOf(idp)]);
    for (const tampered of [badSignature, badPayload]) {
      expect((await refusal(gate.authenticate(bearer(tampered)), tampered)).message).toBe(
        "the token's signature does not verify",
      );
    }
  });

  it('follows a key rotation at the IdP: the new kid is fetched, old tokens verify while published', async () => {
    const rotating = await startDevIdp({
      users: { alice: { role: 'customer' } },
      audience: AUDIENCE,
    });
    try {
      const gate = authenticator([oidcOf(rotating)], { jwksCooldownMs: 0, tokenCacheSize: 0 });
      const before = await rotating.userToken('alice');
      expect(await gate.authenticate(bearer(before))).toMatchObject({ subject: 'alice' });

      await rotating.rotateKeys();
      const after = await rotating.userToken('alice');
      expect(await gate.authenticate(bearer(after))).toMatchObject({ subject: 'alice' });
      expect(await gate.authenticate(bearer(before))).toMatchObject({ subject: 'alice' });

      // Once the IdP withdraws the old key, a token it signed no longer verifies.
      await rotating.rotateKeys({ dropPrevious: true });
      const latest = await rotating.userToken('alice');
      expect(await gate.authenticate(bearer(latest))).toMatchObject({ subject: 'alice' });
      expect((await refusal(gate.authenticate(bearer(before)), before)).message).toBe(
        "no key of the issuer matches the token's kid",
      );
    } finally {
      await rotating.close();
    }
  });

  it('keeps verifying with cached keys while the IdP is down; a kid it never saw is 503', async () => {
    const flaky = await startDevIdp({ users: { alice: { role: 'customer' } }, audience: AUDIENCE });
    let closed = false;
    try {
      // cacheMaxAge 0: every verification refetches the JWKS, so the outage is really met.
      const gate = authenticator([oidcOf(flaky)], {
        jwksCacheMaxAgeMs: 0,
        jwksCooldownMs: 0,
        tokenCacheSize: 0,
      });
      const first = await flaky.userToken('alice');
      const second = await flaky.userToken('alice');
      expect(await gate.authenticate(bearer(first))).toMatchObject({ subject: 'alice' });
      await flaky.rotateKeys();
      const unseenKid = await flaky.userToken('alice');
      await flaky.close();
      closed = true;

      expect(await gate.authenticate(bearer(second))).toMatchObject({ subject: 'alice' });
      expect(await refusal(gate.authenticate(bearer(unseenKid)), unseenKid)).toMatchObject({
        code: 'GATEWAY_IDP_UNAVAILABLE',
      });
    } finally {
      if (!closed) await flaky.close();
    }
  });

  it('an issuer down at start answers 503, then recovers when discovery succeeds', async () => {
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    const gate = authenticator([{ issuer, audiences: [AUDIENCE] }], {
      retryInitialMs: 20,
      retryMaxMs: 100,
    });
    const { privateKey } = await generateKeyPair('ES256');
    const unverifiable = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer(issuer)
      .setAudience(AUDIENCE)
      .setSubject('alice')
      .setExpirationTime('5m')
      .sign(privateKey);
    expect(await refusal(gate.authenticate(bearer(unverifiable)), unverifiable)).toEqual({
      code: 'GATEWAY_IDP_UNAVAILABLE',
      message: `issuer ${issuer} unavailable: discovery failed`,
    });

    const late = await startDevIdp({
      users: { alice: { role: 'customer' } },
      audience: AUDIENCE,
      port,
    });
    try {
      const token = await late.userToken('alice');
      // Convergence bound (not a timing assertion): the retries back off to 100 ms at most.
      let principal: Principal | undefined;
      for (let attempt = 0; attempt < 200 && principal === undefined; attempt++) {
        principal = await gate.authenticate(bearer(token)).catch(async (error: unknown) => {
          if ((error as GatewayError).code !== 'GATEWAY_IDP_UNAVAILABLE') throw error;
          await new Promise((resolve) => setTimeout(resolve, 50));
          return undefined;
        });
      }
      expect(principal).toMatchObject({ subject: 'alice', issuer });
    } finally {
      await late.close();
    }
  });

  it('serves a repeated token from the verified-token cache until the token expires', async () => {
    const token = await idp.userToken('alice');
    let clock = Date.now();
    const gate = authenticator([oidcOf(idp)], { now: () => clock });
    expect(await gate.authenticate(bearer(token))).toMatchObject({ subject: 'alice' });
    expect(await gate.authenticate(bearer(token))).toMatchObject({ subject: 'alice' });
    clock += 3_600_000;
    expect((await refusal(gate.authenticate(bearer(token)), token)).message).toBe(
      'the token has expired',
    );
  });
});

describe('API keys', () => {
  const gate = () => authenticator([oidcOf(idp)]);

  it('accepts the key in Authorization: ApiKey and in X-Api-Key', async () => {
    const expected = {
      kind: 'apiKey',
      subject: 'ci-bot',
      attrs: { role: 'machine' },
      apiKeyId: 'ci-bot',
    };
    expect(await gate().authenticate({ authorization: `ApiKey ${API_KEY}` })).toEqual(expected);
    expect(await gate().authenticate({ 'x-api-key': API_KEY })).toEqual(expected);
  });

  it('refuses an unknown key without echoing it', async () => {
    const wrong = randomBytes(24).toString('base64url');
    expect(await refusal(gate().authenticate({ 'x-api-key': wrong }), wrong)).toEqual({
      code: 'GATEWAY_UNAUTHENTICATED',
      message: 'the API key is not valid',
    });
  });

  it('refuses a bearer token and an API key together; no credential is undefined', async () => {
    const token = await idp.userToken('alice');
    const { code } = await refusal(
      gate().authenticate({ ...bearer(token), 'x-api-key': API_KEY }),
      token,
    );
    expect(code).toBe('GATEWAY_UNAUTHENTICATED');
    expect(await gate().authenticate({ host: 'shop.example.com' })).toBeUndefined();
  });

  it('refuses configurations it cannot use', () => {
    expect(() => createAuthenticator({ oidc: [oidcOf(idp, { algorithms: ['HS256'] })] })).toThrow(
      expect.objectContaining({ code: 'GATEWAY_CONFIG_INVALID' }),
    );
    expect(() => createAuthenticator({ oidc: [oidcOf(idp, { algorithms: ['none'] })] })).toThrow(
      GatewayError,
    );
    expect(() => createAuthenticator({ oidc: [oidcOf(idp, { audiences: [] })] })).toThrow(
      GatewayError,
    );
    expect(() =>
      createAuthenticator({ apiKeys: [{ id: 'x', sha256: 'abc', subject: 'x' }] }),
    ).toThrow(GatewayError);
    expect(() =>
      createAuthenticator({ passport: { attrs: { evil: '__proto__.x' } }, oidc: [oidcOf(idp)] }),
    ).toThrow(GatewayError);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
