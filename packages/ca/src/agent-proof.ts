import { createPublicKey, type X509Certificate as NodeCert, randomBytes } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import { AgentChainCache, type VerifiedAgentChain } from './agent-chain-cache.ts';
import { CaError } from './errors.ts';
import { certificatesFromPem } from './pem.ts';
import { nodeOfAgentId } from './spiffe-id.ts';
import { verifyX509Svid } from './verify.ts';

/** HTTP header that carries an agent's proof of possession. */
export const AGENT_PROOF_HEADER = 'x-ward-agent-proof';
const TYP = 'ward-agent-proof+jwt';
const LIFETIME_S = 60;
const SKEW_S = 60;

/**
 * Signs a short-lived proof that the caller holds the agent SVID's private key, bound to one
 * HTTP method and path (like DPoP, RFC 9449): a JWT signed with the agent key whose `x5c` header
 * carries the agent's chain. The control plane needs no client-certificate TLS to check it.
 */
export async function signAgentProof(options: {
  privateKey: CryptoKey;
  chainPem: readonly string[];
  spiffeId: string;
  method: string;
  path: string;
  now?: number;
}): Promise<string> {
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  const x5c = options.chainPem
    .flatMap((p) => certificatesFromPem(p))
    .map((d) => d.toString('base64'));
  return new SignJWT({ htm: options.method.toUpperCase(), htu: options.path })
    .setProtectedHeader({ alg: 'ES256', typ: TYP, x5c })
    .setSubject(options.spiffeId)
    .setJti(randomBytes(12).toString('base64url'))
    .setIssuedAt(now)
    .setExpirationTime(now + LIFETIME_S)
    .sign(options.privateKey);
}

/**
 * Verifies an agent proof for `method` and `path` against the trust bundle and returns the
 * agent's SPIFFE ID and node. Throws `CA_AGENT_PROOF` saying why. With `cache`, a chain already
 * validated under these same `roots` (and still within its validity) is not parsed again; the
 * proof itself (signature, method, path, time) is checked every time.
 */
export async function verifyAgentProof(
  token: unknown,
  options: {
    roots: readonly NodeCert[];
    trustDomain: string;
    method: string;
    path: string;
    now?: number;
    cache?: AgentChainCache;
  },
): Promise<{ spiffeId: string; node: string; notAfter: number }> {
  const fail = (why: string, cause?: unknown): never => {
    throw new CaError('CA_AGENT_PROOF', `${AGENT_PROOF_HEADER}: ${why}`, {
      cause,
      field: `headers.${AGENT_PROOF_HEADER}`,
    });
  };
  if (typeof token !== 'string' || token.length === 0 || token.length > 16 * 1024) {
    return fail('missing or too long');
  }
  const now = options.now ?? Date.now();
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch (cause) {
    return fail('not a JWS', cause);
  }
  if (header.typ !== TYP || header.alg !== 'ES256')
    return fail(`expected typ ${TYP} and alg ES256`);
  if (!Array.isArray(header.x5c) || header.x5c.some((c) => typeof c !== 'string')) {
    return fail('no x5c chain');
  }
  const x5c = header.x5c as string[];
  const key = options.cache ? AgentChainCache.keyOf(x5c) : '';
  let chain = options.cache?.get(key, options.roots, now);
  if (!chain) {
    chain = verifyChain(x5c, options, now, fail);
    options.cache?.set(key, options.roots, chain);
  }
  const verified = chain;
  let payload: Awaited<ReturnType<typeof jwtVerify>>['payload'];
  try {
    ({ payload } = await jwtVerify(token, verified.key, {
      algorithms: ['ES256'],
      typ: TYP,
      subject: verified.spiffeId,
      currentDate: new Date(now),
      clockTolerance: SKEW_S,
      maxTokenAge: LIFETIME_S + SKEW_S,
      requiredClaims: ['iat', 'exp', 'jti'],
    }));
  } catch (cause) {
    return fail(cause instanceof Error ? cause.message : 'signature does not verify', cause);
  }
  if (payload.htm !== options.method.toUpperCase() || payload.htu !== options.path) {
    return fail(`bound to ${String(payload.htm)} ${String(payload.htu)}, not this request`);
  }
  return { spiffeId: verified.spiffeId, node: verified.node, notAfter: verified.notAfter };
}

/** Full X509-SVID validation of an agent's chain; the agent's node from its SPIFFE ID. */
function verifyChain(
  x5c: readonly string[],
  options: { roots: readonly NodeCert[]; trustDomain: string },
  now: number,
  fail: (why: string, cause?: unknown) => never,
): VerifiedAgentChain {
  let verified: ReturnType<typeof verifyX509Svid>;
  try {
    verified = verifyX509Svid(
      x5c.map((c) => Buffer.from(c, 'base64')),
      options.roots,
      now,
    );
  } catch (cause) {
    return fail(cause instanceof Error ? cause.message : 'bad chain', cause);
  }
  const node = nodeOfAgentId(verified.spiffeId, options.trustDomain);
  if (node === undefined) return fail(`${verified.spiffeId} is not an agent identity`);
  return {
    spiffeId: verified.spiffeId,
    node,
    notAfter: verified.notAfter,
    key: createPublicKey(verified.leaf.publicKey.export({ type: 'spki', format: 'pem' })),
    validFrom: verified.validFrom,
    validUntil: verified.validUntil,
  };
}
