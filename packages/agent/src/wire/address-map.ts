/**
 * The wire sampler's static address map: which service answers on a remote address that is not
 * a workload of this node (a Kubernetes Service ClusterIP, a pod IP on another node, a database
 * host). A JSON object `{ "10.96.0.7:5432": "orders-db", "10.0.3.12": "payments",
 * "[fd00::7]:443": "ledger" }`: keys are `ip:port` (`[v6]:port`) or a bare `ip` (any port); the
 * port-specific key wins. Pure; the caller reads the file.
 */
import { isIP } from 'node:net';
import { AgentError } from '../errors.ts';

/** Entries at most: a map is configuration, not a dump of a cluster's endpoints. */
const MAX_ENTRIES = 100_000;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,252}$/;

/**
 * Parses and normalises an address map (IPv6 written as the parser of `/proc/net/tcp` writes
 * it, so keys match what sampling sees). Throws `AGENT_BAD_OPTIONS` naming the file and key.
 */
export function parseAddressMap(text: string, file: string): Record<string, string> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new AgentError('AGENT_BAD_OPTIONS', `${file}: not JSON: ${(cause as Error).message}`, {
      cause,
    });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AgentError(
      'AGENT_BAD_OPTIONS',
      `${file}: expected an object {"ip[:port]": "service"}`,
    );
  }
  const entries = Object.entries(value);
  if (entries.length > MAX_ENTRIES) {
    throw new AgentError('AGENT_BAD_OPTIONS', `${file}: more than ${MAX_ENTRIES} entries`);
  }
  const out: Record<string, string> = {};
  for (const [key, service] of entries) {
    const at = `${file}: key ${JSON.stringify(key.slice(0, 80))}`;
    if (typeof service !== 'string' || !NAME.test(service)) {
      throw new AgentError(
        'AGENT_BAD_OPTIONS',
        `${at}: the service must be a name or SPIFFE ID-like string (letters, digits, . _ : / -), at most 253 characters`,
      );
    }
    const normal = normaliseKey(key);
    if (normal === undefined) {
      throw new AgentError(
        'AGENT_BAD_OPTIONS',
        `${at}: expected an IP address, "ip:port" or "[ipv6]:port" with a port from 1 to 65535`,
      );
    }
    out[normal] = service;
  }
  return out;
}

function normaliseKey(key: string): string | undefined {
  let host = key;
  let port: string | undefined;
  const v6 = /^\[([^\]]+)\]:(\d{1,5})$/.exec(key);
  if (v6) [, host, port] = v6 as unknown as [string, string, string];
  else if (isIP(key) === 0) {
    const m = /^([0-9.]+):(\d{1,5})$/.exec(key);
    if (!m) return undefined;
    [, host, port] = m as unknown as [string, string, string];
  }
  const family = isIP(host);
  if (family === 0) return undefined;
  if (port !== undefined && !(Number(port) >= 1 && Number(port) <= 65_535)) return undefined;
  // IPv6 in RFC 5952 form, IPv4-mapped as IPv4: what the table parser writes.
  let address = host;
  if (family === 6) {
    address = new URL(`http://[${host}]/`).hostname.slice(1, -1);
    const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(address);
    if (mapped) {
      const hi = Number.parseInt(mapped[1]!, 16);
      const lo = Number.parseInt(mapped[2]!, 16);
      address = [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
    }
  } else address = host.split('.').map(Number).join('.');
  if (port === undefined) return address;
  return address.includes(':') ? `[${address}]:${Number(port)}` : `${address}:${Number(port)}`;
}
