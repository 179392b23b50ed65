import { type SpiffeId, spiffeIdProblem, splitSpiffeId, trustDomainProblem } from '@ward/spiffe';
import { CaError } from './errors.ts';

// The checks themselves are `@ward/spiffe`'s, the one implementation of the SPIFFE-ID standard
// in Ward; the CA only reports them as its own coded error (`CA_BAD_SPIFFE_ID`, HTTP 400).
export { isSpiffeId, type SpiffeId } from '@ward/spiffe';

/** Parses a SPIFFE ID. Throws `CA_BAD_SPIFFE_ID` naming `field` and what is wrong. */
export function parseSpiffeId(value: unknown, field = 'spiffeId'): SpiffeId {
  const problem = spiffeIdProblem(value);
  if (problem !== undefined)
    throw new CaError('CA_BAD_SPIFFE_ID', `${field}: ${problem}`, { field });
  return splitSpiffeId(value as string);
}

/** Validates a trust domain name (`example.org`). Throws `CA_BAD_SPIFFE_ID`. */
export function parseTrustDomain(value: unknown, field = 'trustDomain'): string {
  const problem = trustDomainProblem(value);
  if (problem !== undefined)
    throw new CaError('CA_BAD_SPIFFE_ID', `${field}: ${problem}`, { field });
  return value as string;
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
