/**
 * `gateway-identity`: the cost of authenticating a bearer token at the gateway, on a real OpenID
 * provider's RS256 access tokens (@ward/dev-idp, tokens from authorization code + PKCE):
 *
 * - `cold_p50_ns`: `Authenticator.authenticate` with the verified-token cache off, i.e. header
 *   parsing, issuer selection, jose `jwtVerify` against the (already fetched) JWKS and claim
 *   mapping, on every call;
 * - `cached_p50_ns`: the same with the cache on and the token seen before (a client reusing its
 *   access token, the common case): one SHA-256 of the token and a Map lookup, then mapping;
 * - `peer_jose_p50_ns`: jose `jwtVerify` alone with a local JWKS (no gateway work at all) on the
 *   same tokens, in the same run: the floor of any verifier that checks the signature per call.
 *
 * Args: [iterations] (default 20000), [tokens] distinct tokens cycled through (default 50).
 */
import { startDevIdp } from '@ward/dev-idp';
import { createAuthenticator } from '@ward/gateway';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { nowNs, percentile, progress, round } from './_stats.ts';

const AUDIENCE = 'https://shop.example.com';

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const iterations = Number(args[0] ?? 20_000);
  const distinct = Number(args[1] ?? 50);
  const idp = await startDevIdp({
    users: {
      alice: { role: 'customer', tenant: 'eu', realm_access: { roles: ['buyer', 'reviewer'] } },
    },
    audience: AUDIENCE,
  });
  const spec = {
    oidc: [{ issuer: idp.issuer, audiences: [AUDIENCE], algorithms: ['RS256'] }],
    passport: { attrs: { role: 'role', tenant: 'tenant', groups: 'realm_access.roles' } },
  };
  const cold = createAuthenticator(spec, { tokenCacheSize: 0 });
  const cached = createAuthenticator(spec);
  try {
    progress(`obtaining ${distinct} access tokens through code + PKCE`);
    const tokens: string[] = [];
    for (let i = 0; i < distinct; i++) tokens.push(await idp.userToken('alice'));
    const headers = tokens.map((t) => ({ authorization: `Bearer ${t}` }));
    const jwks = createLocalJWKSet(
      (await (await fetch(`${idp.issuer}/jwks`)).json()) as Parameters<typeof createLocalJWKSet>[0],
    );

    const measure = async (
      label: string,
      fn: (i: number) => Promise<unknown>,
    ): Promise<Float64Array> => {
      progress(label);
      for (let i = 0; i < Math.min(2000, iterations); i++) await fn(i);
      const samples = new Float64Array(iterations);
      for (let i = 0; i < iterations; i++) {
        const t0 = nowNs();
        await fn(i);
        samples[i] = nowNs() - t0;
      }
      return samples;
    };

    const coldSamples = await measure('ward authenticate, cache off', (i) =>
      cold.authenticate(headers[i % distinct] as { authorization: string }),
    );
    const cachedSamples = await measure('ward authenticate, cache on (repeated tokens)', (i) =>
      cached.authenticate(headers[i % distinct] as { authorization: string }),
    );
    const peerSamples = await measure('jose jwtVerify with a local JWKS', (i) =>
      jwtVerify(tokens[i % distinct] as string, jwks, {
        issuer: idp.issuer,
        audience: AUDIENCE,
        algorithms: ['RS256'],
      }),
    );

    const p = (s: Float64Array, q: number) => round(percentile(s, q), 0);
    return {
      iterations,
      distinct_tokens: distinct,
      alg: 'RS256',
      cold_p50_ns: p(coldSamples, 50),
      cold_p99_ns: p(coldSamples, 99),
      cached_p50_ns: p(cachedSamples, 50),
      cached_p99_ns: p(cachedSamples, 99),
      peer_jose_p50_ns: p(peerSamples, 50),
      peer_jose_p99_ns: p(peerSamples, 99),
    };
  } finally {
    await Promise.all([cold.close(), cached.close()]);
    await idp.close();
  }
}
