import { CaError } from './errors.ts';

/** A parsed SPIFFE ID. */
export interface SpiffeId {
  /** The full ID, `spiffe://<trustDomain><path>`. */
  readonly id: string;
  readonly trustDomain: string;
  /** `''` for a trust domain ID, else `/seg/seg…`. */
  readonly path: string;
}

// SPIFFE-ID.md §2.1: a trust domain is lower-case letters, digits, `.`, `-` and `_`.
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
// §2.2: path segments are letters, digits, `.`, `-` and `_`; no empty, `.` or `..` segments.
const SEGMENT = /^[A-Za-z0-9._-]+$/;
// §2.3: "URIs with a total length longer than 2048 bytes SHOULD NOT be considered valid."
const MAX_ID_BYTES = 2048;

/**
 * Parses and validates a SPIFFE ID per the SPIFFE-ID specification. Throws `CA_BAD_SPIFFE_ID`
 * naming `field` and what is wrong.
 */
export function parseSpiffeId(value: unknown, field = 'spiffeId'): SpiffeId {
  const fail = (why: string): never => {
    throw new CaError('CA_BAD_SPIFFE_ID', `${field}: ${why}`, { field });
  };
  if (typeof value !== 'string') return fail('must be a string');
  if (Buffer.byteLength(value) > MAX_ID_BYTES) return fail(`longer than ${MAX_ID_BYTES} bytes`);
  if (!value.startsWith('spiffe://')) return fail('must start with "spiffe://"');
  const rest = value.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash);
  if (trustDomain === '') return fail('trust domain is empty');
  if (!TRUST_DOMAIN.test(trustDomain)) {
    return fail(`trust domain "${trustDomain}" may hold only a-z, 0-9, ".", "-" and "_"`);
  }
  if (path !== '') {
    const segments = path.slice(1).split('/');
    for (let i = 0; i < segments.length; i++) {
      const s = segments[i]!;
      if (s === '') return fail(`path segment ${i + 1} is empty`);
      if (s === '.' || s === '..') return fail(`path segment ${i + 1} is "${s}"`);
      if (!SEGMENT.test(s)) {
        return fail(`path segment ${i + 1} may hold only A-Z, a-z, 0-9, ".", "-" and "_"`);
      }
    }
  }
  return { id: value, trustDomain, path };
}

/** True when `value` is a valid SPIFFE ID. */
export function isSpiffeId(value: unknown): value is string {
  try {
    parseSpiffeId(value);
    return true;
  } catch {
    return false;
  }
}

/**
 * Validates a trust domain name (`example.org`). Throws `CA_BAD_SPIFFE_ID`.
 */
export function parseTrustDomain(value: unknown, field = 'trustDomain'): string {
  if (
    typeof value !== 'string' ||
    value === '' ||
    value.length > 255 ||
    !TRUST_DOMAIN.test(value)
  ) {
    throw new CaError(
      'CA_BAD_SPIFFE_ID',
      `${field}: a trust domain is 1-255 characters of a-z, 0-9, ".", "-" and "_"`,
      { field },
    );
  }
  return value;
}

/**
 * Validates a workload SPIFFE ID of `trustDomain`: it must have a path (X509-SVID §3.1: leaf
 * SPIFFE IDs MUST have a non-root path) and must not live under `/ward/agent/`, which is
 * reserved for node agents so a registration entry can never impersonate one.
 */
export function parseWorkloadId(value: unknown, trustDomain: string, field = 'spiffeId'): SpiffeId {
  const id = parseSpiffeId(value, field);
  if (id.trustDomain !== trustDomain) {
    throw new CaError('CA_BAD_SPIFFE_ID', `${field}: must be in trust domain "${trustDomain}"`, {
      field,
    });
  }
  if (id.path === '') {
    throw new CaError('CA_BAD_SPIFFE_ID', `${field}: a workload ID needs a path`, { field });
  }
  if (id.path.startsWith(`${AGENT_PATH_PREFIX}/`)) {
    throw new CaError(
      'CA_BAD_SPIFFE_ID',
      `${field}: ${AGENT_PATH_PREFIX}/… is reserved for agents`,
      {
        field,
      },
    );
  }
  return id;
}

/** Path prefix of node agent identities. */
export const AGENT_PATH_PREFIX = '/ward/agent';

// Node names become one path segment of the agent's SPIFFE ID.
const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

/** Validates a node name (one SPIFFE path segment). Throws `CA_BAD_ENTRY`. */
export function parseNodeName(value: unknown, field = 'node'): string {
  if (typeof value !== 'string' || !NODE_NAME.test(value)) {
    throw new CaError(
      'CA_BAD_ENTRY',
      `${field}: a node name is 1-253 characters of A-Z, a-z, 0-9, ".", "-", "_", starting with a letter or digit`,
      { field },
    );
  }
  return value;
}

/** The SPIFFE ID of the node agent on `node`: `spiffe://<td>/ward/agent/<node>`. */
export function agentIdOf(trustDomain: string, node: string): string {
  return `spiffe://${trustDomain}${AGENT_PATH_PREFIX}/${node}`;
}

/** The node name of an agent SPIFFE ID of `trustDomain`, or undefined when it is not one. */
export function nodeOfAgentId(spiffeId: string, trustDomain: string): string | undefined {
  const prefix = `spiffe://${trustDomain}${AGENT_PATH_PREFIX}/`;
  if (!spiffeId.startsWith(prefix)) return undefined;
  const node = spiffeId.slice(prefix.length);
  return NODE_NAME.test(node) ? node : undefined;
}
