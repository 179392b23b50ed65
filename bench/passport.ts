/**
 * `passport`: verify latency of distinct passports (every one a cache miss) against `jose` JWT
 * verification of the same claims, in the same run, for both modes:
 *
 * - HMAC (`v1`, HS256) against jose HS256 `jwtVerify`;
 * - Ed25519 (`v2`, EdDSA) against jose EdDSA `jwtVerify` with a pre-imported public key;
 *
 * then the verified-passport cache on a repeated token (expiry still checked on every hit).
 * Every ward verification is the one a service does: audience (`orders`, `zone:default`) and the
 * default maximum lifetime are checked. The top-level `p50_ns`/`cached_*` figures are the HMAC
 * mode (the targets); `ed25519_*` are the asymmetric mode beside them.
 *
 * jose's `jwtVerify` is async (WebCrypto for HS256): its figure is the latency of one awaited
 * call, with the key pre-imported (its fastest configuration; `peer_raw_key_p50_ns` is the HS256
 * README usage with a Uint8Array secret, which re-imports the key per call).
 *
 * Args: [count] distinct HMAC tokens (default 200000; Ed25519 uses up to 20000).
 */
import { randomBytes } from 'node:crypto';
import {
  createPassportVerifier,
  generatePassportKeyMaterial,
  mintPassport,
  PassportKeyring,
  verifyPassport,
} from '@ward/passport';
import { importJWK, jwtVerify, SignJWT } from 'jose';
import { nowNs, percentile, progress, round } from './_stats.ts';

/** Header values arrive as flat strings; template concatenation gives rope strings instead. */
function flat(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1');
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const count = Number(args[0] ?? 200_000);
  const peerCount = Math.min(count, 50_000);
  const secret = randomBytes(32);
  const keyring = new PassportKeyring([{ kid: 'k2026a', key: secret }]);
  const now = Date.now();
  const iat = Math.floor(now / 1000);
  const claimsOf = (i: number) => ({
    sub: `user-${i}`,
    iss: 'edge',
    aud: 'zone:default',
    attrs: { roles: ['admin', 'reader'], tenant: 'acme' },
    iat,
    exp: iat + 300,
  });
  const options = { now, audience: AUDIENCE };

  progress(`minting ${count} distinct passports and ${peerCount} JWTs`);
  const tokens = Array.from({ length: count }, (_, i) => flat(mintPassport(claimsOf(i), keyring)));
  const jwts: string[] = [];
  for (let i = 0; i < peerCount; i++) {
    const c = claimsOf(i);
    jwts.push(
      flat(
        await new SignJWT({ roles: c.attrs.roles, tenant: c.attrs.tenant })
          .setProtectedHeader({ alg: 'HS256', kid: 'k2026a' })
          .setSubject(c.sub)
          .setIssuer(c.iss)
          .setAudience(c.aud)
          .setIssuedAt(c.iat)
          .setExpirationTime(c.exp)
          .sign(secret),
      ),
    );
  }

  progress('ward verify (distinct tokens, no cache)');
  // Warm up on a separate slice so the JIT settles, then measure every token once.
  for (let i = 0; i < Math.min(20_000, count); i++) verifyPassport(tokens[i]!, keyring, options);
  const ours = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const t0 = nowNs();
    verifyPassport(tokens[i]!, keyring, options);
    ours[i] = nowNs() - t0;
  }

  progress('jose jwtVerify (awaited per call)');
  const cryptoKey = await crypto.subtle.importKey(
    'raw',
    secret,
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['verify'],
  );
  const jwtOptions = { audience: AUDIENCE };
  for (let i = 0; i < Math.min(5_000, peerCount); i++)
    await jwtVerify(jwts[i]!, cryptoKey, jwtOptions);
  const peer = new Float64Array(peerCount);
  for (let i = 0; i < peerCount; i++) {
    const t0 = nowNs();
    await jwtVerify(jwts[i]!, cryptoKey, jwtOptions);
    peer[i] = nowNs() - t0;
  }
  const rawCount = Math.min(peerCount, 20_000);
  const peerRaw = new Float64Array(rawCount);
  for (let i = 0; i < rawCount; i++) {
    const t0 = nowNs();
    await jwtVerify(jwts[i]!, secret, jwtOptions);
    peerRaw[i] = nowNs() - t0;
  }

  progress('ward verifier cache (repeated token, expiry checked per hit)');
  const verifier = createPassportVerifier({ keyring, audience: AUDIENCE });
  const repeated = tokens[0]!;
  const hits = Math.min(count, 200_000);
  const cached = cachedLatency(verifier, repeated, hits);
  const ed = await ed25519(Math.min(count, 20_000), claimsOf, now, hits);
  // The clock's own cost, to read the small cached figure against.
  const clock = new Float64Array(hits);
  for (let i = 0; i < hits; i++) {
    const t0 = nowNs();
    clock[i] = nowNs() - t0;
  }

  const p50 = percentile(ours, 50);
  const peerP50 = percentile(peer, 50);
  return {
    count,
    token_bytes: repeated.length,
    jwt_bytes: jwts[0]!.length,
    p50_ns: round(p50, 0),
    p99_ns: round(percentile(ours, 99), 0),
    peer: 'jose jwtVerify HS256 (CryptoKey)',
    peer_p50_ns: round(peerP50, 0),
    peer_p99_ns: round(percentile(peer, 99), 0),
    peer_raw_key_p50_ns: round(percentile(peerRaw, 50), 0),
    ratio: round(peerP50 / p50, 1),
    cached_p50_ns: round(percentile(cached, 50), 0),
    cached_p99_ns: round(percentile(cached, 99), 0),
    clock_overhead_p50_ns: round(percentile(clock, 50), 0),
    ...ed,
    targets: { p50_ns: 6000, ratio: 15, cached_p50_ns: 300, ed25519_cached_p50_ns: 300 },
  };
}

/** What every service checks: its own name and its zone. */
const AUDIENCE = ['orders', 'zone:default'];

type Verifier = ReturnType<typeof createPassportVerifier>;

/** Latency of `hits` cache hits on one token, after a warm-up. */
function cachedLatency(verifier: Verifier, token: string, hits: number): Float64Array {
  for (let i = 0; i < 20_000; i++) verifier.verify(token);
  const cached = new Float64Array(hits);
  for (let i = 0; i < hits; i++) {
    const t0 = nowNs();
    verifier.verify(token); // default now = Date.now(), as in a service
    cached[i] = nowNs() - t0;
  }
  return cached;
}

/**
 * The Ed25519 mode: the edge signs with the private key; the verifier holds only the public
 * key. jose EdDSA `jwtVerify` with the public key imported once is the peer.
 */
async function ed25519(
  count: number,
  claimsOf: (i: number) => {
    sub: string;
    iss: string;
    aud: string;
    attrs: { roles: string[]; tenant: string };
    iat: number;
    exp: number;
  },
  now: number,
  hits: number,
): Promise<Record<string, unknown>> {
  const material = generatePassportKeyMaterial('EdDSA');
  const minter = new PassportKeyring([
    { kid: 'e2026a', alg: 'EdDSA', key: material.key, privateKey: material.privateKey! },
  ]);
  const keyring = new PassportKeyring([{ kid: 'e2026a', alg: 'EdDSA', key: material.key }]);
  progress(`minting ${count} distinct Ed25519 passports and JWTs`);
  const tokens = Array.from({ length: count }, (_, i) => flat(mintPassport(claimsOf(i), minter)));
  const jwk = { kty: 'OKP', crv: 'Ed25519', x: material.key };
  const privateJwk = await importJWK({ ...jwk, d: material.privateKey! }, 'EdDSA');
  const publicJwk = await importJWK(jwk, 'EdDSA');
  const jwts: string[] = [];
  for (let i = 0; i < count; i++) {
    const c = claimsOf(i);
    jwts.push(
      flat(
        await new SignJWT({ roles: c.attrs.roles, tenant: c.attrs.tenant })
          .setProtectedHeader({ alg: 'EdDSA', kid: 'e2026a' })
          .setSubject(c.sub)
          .setIssuer(c.iss)
          .setAudience(c.aud)
          .setIssuedAt(c.iat)
          .setExpirationTime(c.exp)
          .sign(privateJwk),
      ),
    );
  }
  progress('ward verify Ed25519 (distinct tokens, no cache)');
  const options = { now, audience: AUDIENCE };
  for (let i = 0; i < Math.min(2_000, count); i++) verifyPassport(tokens[i]!, keyring, options);
  const ours = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const t0 = nowNs();
    verifyPassport(tokens[i]!, keyring, options);
    ours[i] = nowNs() - t0;
  }
  progress('jose jwtVerify EdDSA (awaited per call)');
  const jwtOptions = { audience: AUDIENCE };
  for (let i = 0; i < Math.min(2_000, count); i++) await jwtVerify(jwts[i]!, publicJwk, jwtOptions);
  const peer = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const t0 = nowNs();
    await jwtVerify(jwts[i]!, publicJwk, jwtOptions);
    peer[i] = nowNs() - t0;
  }
  progress('ward verifier cache, Ed25519 (repeated token)');
  const cached = cachedLatency(
    createPassportVerifier({ keyring, audience: AUDIENCE }),
    tokens[0]!,
    hits,
  );
  const p50 = percentile(ours, 50);
  const peerP50 = percentile(peer, 50);
  return {
    ed25519_count: count,
    ed25519_token_bytes: tokens[0]!.length,
    ed25519_p50_ns: round(p50, 0),
    ed25519_p99_ns: round(percentile(ours, 99), 0),
    ed25519_peer: 'jose jwtVerify EdDSA (imported public key)',
    ed25519_peer_p50_ns: round(peerP50, 0),
    ed25519_peer_p99_ns: round(percentile(peer, 99), 0),
    ed25519_ratio: round(peerP50 / p50, 2),
    ed25519_cached_p50_ns: round(percentile(cached, 50), 0),
    ed25519_cached_p99_ns: round(percentile(cached, 99), 0),
  };
}
