import { canonicalServiceKey, defaultSpiffeId, splitServiceKey } from '@ward/spiffe';
import { CaError } from './errors.ts';
import { DEFAULT_JWT_SVID_TTL_SECONDS } from './jwt-svid.ts';
import { parseSelectors, type Selector, selectorsMatch } from './selectors.ts';
import { agentIdOf, parseNodeName, parseWorkloadId } from './spiffe-id.ts';
import { DEFAULT_X509_SVID_TTL_SECONDS, parseTtl } from './x509-svid.ts';

/**
 * A registration entry: the workloads on `node` whose attested selectors include all of
 * `selectors` get the identity `spiffeId`.
 */
export interface RegistrationEntry {
  readonly id: string;
  readonly spiffeId: string;
  /** Node whose agent may obtain this identity. */
  readonly node: string;
  /** The agent's SPIFFE ID, `spiffe://<td>/ward/agent/<node>`. */
  readonly parentId: string;
  readonly selectors: readonly Selector[];
  /** X.509-SVID lifetime, seconds (default 3600). */
  readonly ttlSeconds: number;
  /** JWT-SVID lifetime, seconds (default 300). */
  readonly jwtTtlSeconds: number;
  /** Optional Workload API `hint`. */
  readonly hint?: string;
  /** Extra DNS SANs for the X.509-SVID. */
  readonly dnsNames?: readonly string[];
  readonly createdAt: number;
}

const DNS =
  /^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * Validates the body of "create entry" (`{ spiffeId | service, node, selectors, ttlSeconds?,
 * jwtTtlSeconds?, hint?, dnsNames? }`) into an entry. `service` is a service key (`payments`, or
 * `team-a/payments`; `default/payments` is `payments`) and stands for its conventional SPIFFE
 * ID, `spiffe://<td>/ns/<namespace>/sa/<name>` — always with the key's own namespace, so an
 * entry for `team-b/payments` can never issue `team-a/payments`' (or the default one's) identity.
 * Throws coded `CA_*` errors naming the field.
 */
export function parseEntryInput(
  body: unknown,
  trustDomain: string,
  make: { id: string; now: number },
): RegistrationEntry {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new CaError('CA_BAD_ENTRY', 'body: expected a JSON object', { field: 'body' });
  }
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) {
    if (
      ![
        'spiffeId',
        'service',
        'node',
        'selectors',
        'ttlSeconds',
        'jwtTtlSeconds',
        'hint',
        'dnsNames',
      ].includes(key)
    ) {
      throw new CaError('CA_BAD_ENTRY', `${key}: unknown field`, { field: key });
    }
  }
  const spiffeId = parseWorkloadId(
    b.service === undefined ? b.spiffeId : serviceSpiffeId(b, trustDomain),
    trustDomain,
    b.service === undefined ? 'spiffeId' : 'service',
  ).id;
  const node = parseNodeName(b.node, 'node');
  const selectors = parseSelectors(b.selectors, 'selectors');
  const ttlSeconds =
    b.ttlSeconds === undefined
      ? DEFAULT_X509_SVID_TTL_SECONDS
      : parseTtl(b.ttlSeconds, 'ttlSeconds');
  const jwtTtlSeconds =
    b.jwtTtlSeconds === undefined
      ? DEFAULT_JWT_SVID_TTL_SECONDS
      : parseTtl(b.jwtTtlSeconds, 'jwtTtlSeconds', 86400);
  let hint: string | undefined;
  if (b.hint !== undefined) {
    if (typeof b.hint !== 'string' || b.hint.length === 0 || Buffer.byteLength(b.hint) > 1024) {
      throw new CaError('CA_BAD_ENTRY', 'hint: 1 to 1024 bytes of text', { field: 'hint' });
    }
    hint = b.hint;
  }
  let dnsNames: string[] | undefined;
  if (b.dnsNames !== undefined) {
    if (!Array.isArray(b.dnsNames) || b.dnsNames.length > 16) {
      throw new CaError('CA_BAD_ENTRY', 'dnsNames: a list of at most 16 DNS names', {
        field: 'dnsNames',
      });
    }
    dnsNames = b.dnsNames.map((d, i) => {
      if (typeof d !== 'string' || !DNS.test(d)) {
        throw new CaError('CA_BAD_ENTRY', `dnsNames[${i}]: not a DNS name`, {
          field: `dnsNames[${i}]`,
        });
      }
      return d.toLowerCase();
    });
  }
  return {
    id: make.id,
    spiffeId,
    node,
    parentId: agentIdOf(trustDomain, node),
    selectors,
    ttlSeconds,
    jwtTtlSeconds,
    ...(hint === undefined ? {} : { hint }),
    ...(dnsNames === undefined ? {} : { dnsNames }),
    createdAt: make.now,
  };
}

/** The conventional SPIFFE ID of the entry body's `service` (a key); refuses both or a bad key. */
function serviceSpiffeId(b: Record<string, unknown>, trustDomain: string): string {
  if (b.spiffeId !== undefined) {
    throw new CaError('CA_BAD_ENTRY', 'service: give either spiffeId or service, not both', {
      field: 'service',
    });
  }
  const key = typeof b.service === 'string' ? canonicalServiceKey(b.service) : undefined;
  if (key === undefined) {
    throw new CaError(
      'CA_BAD_ENTRY',
      'service: not a service key (name, or namespace/name of lower-case DNS labels)',
      { field: 'service' },
    );
  }
  const { namespace, name } = splitServiceKey(key);
  return defaultSpiffeId(trustDomain, namespace, name);
}

/**
 * The entries that apply to a workload with `selectors`, in a stable order (oldest first, so the
 * default identity — the first SVID — does not change when entries are added).
 */
export function entriesForWorkload(
  entries: readonly RegistrationEntry[],
  selectors: readonly Selector[],
): RegistrationEntry[] {
  const have = new Set(selectors);
  return entries
    .filter((e) => selectorsMatch(e.selectors, have))
    .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
