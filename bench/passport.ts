/**
 * `passport`: verify latency of distinct passports (every one a cache miss) against `jose` HS256
 * JWT verification of the same claims, in the same run; then the verified-passport cache on a
 * repeated token (expiry still checked on every hit).
 *
 * jose's `jwtVerify` is async (WebCrypto): its figure is the latency of one awaited call, with
 * the key pre-imported as a CryptoKey (its fastest configuration; `peer_raw_key_p50_ns` is the
 * README usage with a Uint8Array secret, which re-imports the key per call).
 *
 * Args: [count] distinct tokens (default 200000).
 */
import { randomBytes } from 'node:crypto';
import {
  createPassportVerifier,
  mintPassport,
  PassportKeyring,
  verifyPassport,
} from '@ward/passport';
import { jwtVerify, SignJWT } from 'jose';
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
    attrs: { roles: ['admin', 'reader'], tenant: 'acme' },
    iat,
    exp: iat + 300,
  });

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
          .setIssuedAt(c.iat)
          .setExpirationTime(c.exp)
          .sign(secret),
      ),
    );
  }

  progress('ward verify (distinct tokens, no cache)');
  // Warm up on a separate slice so the JIT settles, then measure every token once.
  for (let i = 0; i < Math.min(20_000, count); i++) verifyPassport(tokens[i]!, keyring, { now });
  const ours = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const t0 = nowNs();
    verifyPassport(tokens[i]!, keyring, { now });
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
  for (let i = 0; i < Math.min(5_000, peerCount); i++) await jwtVerify(jwts[i]!, cryptoKey);
  const peer = new Float64Array(peerCount);
  for (let i = 0; i < peerCount; i++) {
    const t0 = nowNs();
    await jwtVerify(jwts[i]!, cryptoKey);
    peer[i] = nowNs() - t0;
  }
  const rawCount = Math.min(peerCount, 20_000);
  const peerRaw = new Float64Array(rawCount);
  for (let i = 0; i < rawCount; i++) {
    const t0 = nowNs();
    await jwtVerify(jwts[i]!, secret);
    peerRaw[i] = nowNs() - t0;
  }

  progress('ward verifier cache (repeated token, expiry checked per hit)');
  const verifier = createPassportVerifier({ keyring });
  const repeated = tokens[0]!;
  const hits = Math.min(count, 200_000);
  for (let i = 0; i < 20_000; i++) verifier.verify(repeated);
  const cached = new Float64Array(hits);
  for (let i = 0; i < hits; i++) {
    const t0 = nowNs();
    verifier.verify(repeated); // default now = Date.now(), as in a service
    cached[i] = nowNs() - t0;
  }
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
    targets: { p50_ns: 6000, ratio: 15, cached_p50_ns: 300 },
  };
}
