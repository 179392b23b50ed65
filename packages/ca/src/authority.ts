import type * as X509 from '@peculiar/x509';
import { CaError } from './errors.ts';
import { exportPrivateKey, generateKeyPair, importPrivateKey, SIGNING_ALGORITHM } from './keys.ts';
import { certificatesFromPem, derFromText } from './pem.ts';
import { type SealKey, seal, unseal } from './seal.ts';
import { parseTrustDomain } from './spiffe-id.ts';
import type { CryptoKeyPair, JsonWebKey } from './webcrypto.ts';
import { randomSerial, x509 } from './x509.ts';

/**
 * The CA's persistent state, safe to store: certificates in PEM, private keys sealed with
 * AES-256-GCM under the seal key. Replicas that share a store share this document.
 */
export interface AuthorityStateV1 {
  readonly v: 1;
  readonly trustDomain: string;
  /**
   * Trust anchors, newest first. The first one with a key that is not `pending` signs
   * intermediates; a `pending` root is already in the trust bundle but does not sign yet (root
   * rotation, see root-rotation.ts). `activatedAt` records when a root started signing.
   */
  readonly roots: readonly {
    cert: string;
    key?: string;
    pending?: boolean;
    activatedAt?: number;
  }[];
  /** Signing intermediates, oldest first; the last one is active. */
  readonly intermediates: readonly { cert: string; key: string }[];
  /** JWT-SVID signing keys, oldest first; the last one is active. */
  readonly jwtKeys: readonly { kid: string; key: string; notAfter: number }[];
}

/** Lifetimes of the CA's own certificates and keys. */
export interface AuthorityLifetimes {
  /** Root validity, seconds. Default 10 years. */
  rootTtlSeconds?: number;
  /** Intermediate validity, seconds. Default 30 days. */
  intermediateTtlSeconds?: number;
  /** JWT signing key lifetime, seconds. Default 30 days. */
  jwtKeyTtlSeconds?: number;
}

const DEFAULTS = {
  rootTtlSeconds: 10 * 365 * 86400,
  intermediateTtlSeconds: 30 * 86400,
  jwtKeyTtlSeconds: 30 * 86400,
};
// Backdating absorbs small clock differences between the CA and verifiers.
const BACKDATE_MS = 10_000;

/** The unsealed CA: what issuance needs in memory. */
export interface Authority {
  readonly trustDomain: string;
  /** Trust anchors (the trust bundle), newest first. */
  readonly roots: readonly X509.X509Certificate[];
  /** The active signing intermediate and its key. */
  readonly intermediate: X509.X509Certificate;
  readonly intermediateKey: CryptoKey;
  /** Every intermediate still valid, oldest first (the active one last). */
  readonly intermediates: readonly X509.X509Certificate[];
  readonly jwtKey: { kid: string; privateKey: CryptoKey; notAfter: number };
  /** Public JWKs of every JWT key still valid (the JWT bundle). */
  readonly jwtPublicKeys: readonly JsonWebKey[];
}

export const purposeRoot = (td: string, serial: string) => `ward-ca:${td}:root:${serial}`;
export const purposeIntermediate = (td: string, serial: string) =>
  `ward-ca:${td}:intermediate:${serial}`;
export const purposeJwt = (td: string, kid: string) => `ward-ca:${td}:jwt:${kid}`;

export async function makeRoot(
  trustDomain: string,
  keys: CryptoKeyPair,
  now: number,
  ttlSeconds: number,
): Promise<X509.X509Certificate> {
  return x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `O=Ward, CN=Ward root CA ${trustDomain}`,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + ttlSeconds * 1000),
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      // X509-SVID §3.2: a signing certificate SHOULD be an SVID whose ID has no path.
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${trustDomain}` }]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
}

async function makeIntermediate(
  trustDomain: string,
  root: X509.X509Certificate,
  rootKey: CryptoKey,
  now: number,
  ttlSeconds: number,
): Promise<{ cert: X509.X509Certificate; keys: CryptoKeyPair }> {
  const keys = await generateKeyPair();
  // Never outlive the root: a chain is only as valid as its shortest link.
  const notAfter = Math.min(now + ttlSeconds * 1000, root.notAfter.getTime());
  const serialNumber = randomSerial();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber,
    subject: `O=Ward, CN=Ward intermediate CA ${trustDomain} ${serialNumber.slice(0, 8)}`,
    issuer: root.subject,
    notBefore: new Date(Math.max(now - BACKDATE_MS, root.notBefore.getTime())),
    notAfter: new Date(notAfter),
    publicKey: keys.publicKey,
    signingKey: rootKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      // pathLen 0: an intermediate may only sign leaves.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${trustDomain}` }]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(root.publicKey),
    ],
  });
  return { cert, keys };
}

async function makeJwtKey(
  sealKey: SealKey,
  trustDomain: string,
  now: number,
  ttlSeconds: number,
): Promise<{ kid: string; key: string; notAfter: number }> {
  const keys = await generateKeyPair();
  const kid = randomSerial().slice(0, 16);
  return {
    kid,
    key: seal(sealKey, await exportPrivateKey(keys.privateKey), purposeJwt(trustDomain, kid)),
    notAfter: now + ttlSeconds * 1000,
  };
}

/**
 * Creates a new CA for `trustDomain`: a self-signed ECDSA P-256 root, an intermediate that
 * signs, and a JWT-SVID key, all sealed under `sealKey`.
 */
export async function createAuthority(options: {
  trustDomain: string;
  sealKey: SealKey;
  lifetimes?: AuthorityLifetimes;
  now?: number;
}): Promise<AuthorityStateV1> {
  const trustDomain = parseTrustDomain(options.trustDomain);
  const life = { ...DEFAULTS, ...options.lifetimes };
  const now = options.now ?? Date.now();
  const rootKeys = await generateKeyPair();
  const root = await makeRoot(trustDomain, rootKeys, now, life.rootTtlSeconds);
  return withNewIntermediate(
    {
      v: 1,
      trustDomain,
      roots: [
        {
          cert: root.toString('pem'),
          key: seal(
            options.sealKey,
            await exportPrivateKey(rootKeys.privateKey),
            purposeRoot(trustDomain, root.serialNumber),
          ),
          activatedAt: now,
        },
      ],
      intermediates: [],
      jwtKeys: [await makeJwtKey(options.sealKey, trustDomain, now, life.jwtKeyTtlSeconds)],
    },
    options.sealKey,
    { now, lifetimes: options.lifetimes },
  );
}

/**
 * Creates a CA whose root is an existing (external) CA certificate and key, e.g. a corporate
 * root: Ward signs its intermediates with it. Throws `CA_BAD_CERTIFICATE` / `CA_BAD_KEY`.
 */
export async function importAuthority(options: {
  trustDomain: string;
  sealKey: SealKey;
  rootCertPem: string;
  rootKeyPem: string;
  lifetimes?: AuthorityLifetimes;
  now?: number;
}): Promise<AuthorityStateV1> {
  const trustDomain = parseTrustDomain(options.trustDomain);
  const now = options.now ?? Date.now();
  const der = derFromText(options.rootCertPem, 'CERTIFICATE', 'rootCert', 'CA_BAD_CERTIFICATE');
  const root = parseCertificate(der, 'rootCert');
  const basic = root.getExtension(x509.BasicConstraintsExtension);
  const usage = root.getExtension(x509.KeyUsagesExtension);
  if (!basic?.ca || (usage && (usage.usages & x509.KeyUsageFlags.keyCertSign) === 0)) {
    throw new CaError(
      'CA_BAD_CERTIFICATE',
      'rootCert: not a CA certificate (needs CA:TRUE and keyCertSign)',
      {
        field: 'rootCert',
      },
    );
  }
  if (root.notAfter.getTime() <= now) {
    throw new CaError('CA_BAD_CERTIFICATE', 'rootCert: expired', { field: 'rootCert' });
  }
  const keyDer = derFromText(options.rootKeyPem, 'PRIVATE KEY', 'rootKey', 'CA_BAD_KEY');
  const keys = await importPrivateKey(keyDer, 'rootKey');
  const spki = Buffer.from(await crypto.subtle.exportKey('spki', keys.publicKey));
  if (!spki.equals(Buffer.from(root.publicKey.rawData))) {
    throw new CaError('CA_BAD_KEY', 'rootKey: does not match rootCert', { field: 'rootKey' });
  }
  const life = { ...DEFAULTS, ...options.lifetimes };
  return withNewIntermediate(
    {
      v: 1,
      trustDomain,
      roots: [
        {
          cert: root.toString('pem'),
          key: seal(options.sealKey, keyDer, purposeRoot(trustDomain, root.serialNumber)),
          activatedAt: now,
        },
      ],
      intermediates: [],
      jwtKeys: [await makeJwtKey(options.sealKey, trustDomain, now, life.jwtKeyTtlSeconds)],
    },
    options.sealKey,
    { now, lifetimes: options.lifetimes },
  );
}

/**
 * Adds a new signing intermediate and makes it active. Old intermediates stay in the state until
 * they expire, so SVIDs they signed keep verifying: the trust bundle is the root, not the
 * intermediate, and each SVID carries its own chain.
 */
export async function withNewIntermediate(
  state: AuthorityStateV1,
  sealKey: SealKey,
  options: { now?: number; lifetimes?: AuthorityLifetimes } = {},
): Promise<AuthorityStateV1> {
  const now = options.now ?? Date.now();
  const life = { ...DEFAULTS, ...options.lifetimes };
  const rootIndex = state.roots.findIndex((r) => r.key !== undefined && !r.pending);
  if (rootIndex < 0) throw new CaError('CA_BAD_STATE', 'no root key to sign an intermediate with');
  const rootEntry = state.roots[rootIndex]!;
  const root = parseCertificate(certificatesFromPem(rootEntry.cert)[0], 'roots[0]');
  const rootKey = await importPrivateKey(
    unseal(sealKey, rootEntry.key!, purposeRoot(state.trustDomain, root.serialNumber)),
    'rootKey',
  );
  const { cert, keys } = await makeIntermediate(
    state.trustDomain,
    root,
    rootKey.privateKey,
    now,
    life.intermediateTtlSeconds,
  );
  const serial = cert.serialNumber;
  const live = state.intermediates.filter((i) => notAfterOf(i.cert) > now);
  return {
    ...state,
    intermediates: [
      ...live,
      {
        cert: cert.toString('pem'),
        key: seal(
          sealKey,
          await exportPrivateKey(keys.privateKey),
          purposeIntermediate(state.trustDomain, serial),
        ),
      },
    ],
  };
}

/** Adds a new JWT-SVID signing key and makes it active; older unexpired keys stay published. */
export async function withNewJwtKey(
  state: AuthorityStateV1,
  sealKey: SealKey,
  options: { now?: number; lifetimes?: AuthorityLifetimes } = {},
): Promise<AuthorityStateV1> {
  const now = options.now ?? Date.now();
  const life = { ...DEFAULTS, ...options.lifetimes };
  const live = state.jwtKeys.filter((k) => k.notAfter > now);
  return {
    ...state,
    jwtKeys: [...live, await makeJwtKey(sealKey, state.trustDomain, now, life.jwtKeyTtlSeconds)],
  };
}

/** Decrypts the state's keys. Throws `CA_UNSEAL` on a wrong seal key, `CA_BAD_STATE` when malformed. */
export async function openAuthority(
  state: AuthorityStateV1,
  sealKey: SealKey,
  now = Date.now(),
): Promise<Authority> {
  if (state?.v !== 1 || !Array.isArray(state.roots) || !Array.isArray(state.intermediates)) {
    throw new CaError('CA_BAD_STATE', 'the stored CA state is not a version 1 authority');
  }
  const active = state.intermediates.at(-1);
  const jwt = state.jwtKeys.at(-1);
  if (!active || !jwt) throw new CaError('CA_BAD_STATE', 'the stored CA state has no active keys');
  const roots = state.roots.map((r, i) =>
    parseCertificate(certificatesFromPem(r.cert)[0], `roots[${i}]`),
  );
  const intermediates = state.intermediates
    .map((i, n) => parseCertificate(certificatesFromPem(i.cert)[0], `intermediates[${n}]`))
    .filter((c, n, all) => n === all.length - 1 || c.notAfter.getTime() > now);
  const intermediate = intermediates.at(-1)!;
  const intermediateKey = await importPrivateKey(
    unseal(sealKey, active.key, purposeIntermediate(state.trustDomain, intermediate.serialNumber)),
    'intermediateKey',
  );
  const jwtKeys = await importPrivateKey(
    unseal(sealKey, jwt.key, purposeJwt(state.trustDomain, jwt.kid)),
    'jwtKey',
  );
  const jwtPublicKeys: JsonWebKey[] = [];
  for (const k of state.jwtKeys) {
    if (k.notAfter <= now && k !== jwt) continue;
    const pair =
      k === jwt
        ? jwtKeys
        : await importPrivateKey(
            unseal(sealKey, k.key, purposeJwt(state.trustDomain, k.kid)),
            'jwtKey',
          );
    const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey);
    jwtPublicKeys.push({ kty, crv, x, y, kid: k.kid, use: 'jwt-svid', alg: 'ES256' } as JsonWebKey);
  }
  return {
    trustDomain: state.trustDomain,
    roots,
    intermediate,
    intermediateKey: intermediateKey.privateKey,
    intermediates,
    jwtKey: { kid: jwt.kid, privateKey: jwtKeys.privateKey, notAfter: jwt.notAfter },
    jwtPublicKeys,
  };
}

/** Milliseconds since epoch at which the PEM certificate expires. */
export function notAfterOf(pem: string): number {
  return parseCertificate(certificatesFromPem(pem)[0], 'cert').notAfter.getTime();
}

/** Parses DER into a certificate; throws `CA_BAD_CERTIFICATE` naming `field`. */
export function parseCertificate(der: Uint8Array | undefined, field: string): X509.X509Certificate {
  if (!der) throw new CaError('CA_BAD_CERTIFICATE', `${field}: no certificate`, { field });
  try {
    return new x509.X509Certificate(der);
  } catch (cause) {
    throw new CaError('CA_BAD_CERTIFICATE', `${field}: not a DER X.509 certificate`, {
      cause,
      field,
    });
  }
}
