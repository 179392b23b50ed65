/**
 * Host references inside one string or configuration value: `scheme://host[:port]`,
 * `host:port`, Kubernetes DNS names (`orders.shop.svc[.cluster.local]`) and connection-string
 * pairs (`host=mysql;dbname=…`). A hand-written
 * scanner rather than a regular expression: each maximal run of host characters is looked at
 * once, with bounded looks before and after it, so the cost is linear in the text.
 */
import { isIdentPart } from './lexer.ts';

export type HostEvidence = 'url' | 'host-port' | 'dns' | 'dsn';

export interface HostHit {
  host: string;
  port?: number;
  evidence: HostEvidence;
  /** Offsets of the matched text (`scheme://host:port`, `host:port` or the DNS name). */
  start: number;
  end: number;
}

/** Longest DNS name. */
const MAX_HOST = 253;

function isHostChar(c: number): boolean {
  return (
    (c >= 97 && c <= 122) ||
    (c >= 65 && c <= 90) ||
    (c >= 48 && c <= 57) ||
    c === 45 ||
    c === 46 ||
    c === 95
  );
}

/** Host references in `text[start, end)`. */
export function findHosts(text: string, start: number, end: number): HostHit[] {
  const out: HostHit[] = [];
  let i = start;
  while (i < end) {
    if (!isHostChar(text.charCodeAt(i))) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < end && isHostChar(text.charCodeAt(j))) j++;
    const hit = classify(text, start, end, i, j);
    if (hit) out.push(hit);
    i = j;
  }
  return out;
}

function classify(text: string, lo: number, hi: number, a: number, b: number): HostHit | undefined {
  // Trim dots and dashes a host cannot start or end with (`…see http://x.`).
  while (a < b && (text.charCodeAt(a) === 46 || text.charCodeAt(a) === 45)) a++;
  while (b > a && (text.charCodeAt(b - 1) === 46 || text.charCodeAt(b - 1) === 45)) b--;
  if (b - a === 0 || b - a > MAX_HOST) return undefined;
  const host = text.slice(a, b);
  const port = portAfter(text, b, hi);
  let schemeStart = -1;
  if (a - 3 >= lo && text.startsWith('://', a - 3)) {
    let s = a - 3;
    // A scheme is at most a few dozen letters; bounded so the look-back stays constant.
    while (s > lo && a - s < 40 && isSchemeChar(text.charCodeAt(s - 1))) s--;
    if (s < a - 3) schemeStart = s;
  }
  const portEnd = port === undefined ? b : b + 1 + String(port.text).length;
  const withPort = (h: HostHit): HostHit => {
    if (port !== undefined) h.port = port.value;
    return h;
  };
  if (schemeStart >= 0)
    return withPort({ host, evidence: 'url', start: schemeStart, end: portEnd });
  if (port !== undefined) {
    // `a:8080` inside `x=a:8080` is a host; `12:30` (a time) or `v1.2:3` is not.
    if (!/[a-z]/i.test(host[0]!)) return undefined;
    return withPort({ host, evidence: 'host-port', start: a, end: portEnd });
  }
  if (isClusterDns(host)) return { host, evidence: 'dns', start: a, end: b };
  return undefined;
}

function isSchemeChar(c: number): boolean {
  return isIdentPart(c) || c === 43 || c === 45 || c === 46;
}

/** A `:port` right after `b` (1–5 digits, at most 65535, not followed by more word characters). */
function portAfter(
  text: string,
  b: number,
  hi: number,
): { value: number; text: string } | undefined {
  if (b >= hi || text.charCodeAt(b) !== 58) return undefined;
  let k = b + 1;
  while (k < hi && k - b <= 6) {
    const c = text.charCodeAt(k);
    if (c < 48 || c > 57) break;
    k++;
  }
  const digits = k - b - 1;
  if (digits < 1 || digits > 5) return undefined;
  if (k < hi && (isIdentPart(text.charCodeAt(k)) || text.charCodeAt(k) === 46)) return undefined;
  const value = Number(text.slice(b + 1, k));
  if (value < 1 || value > 65_535) return undefined;
  return { value, text: text.slice(b + 1, k) };
}

/** `name.ns.svc` or `name.ns.svc.cluster.local`-style names. */
function isClusterDns(host: string): boolean {
  if (!host.toLowerCase().includes('.svc')) return false;
  const labels = host.toLowerCase().split('.');
  return labels.length >= 3 && labels[2] === 'svc' && labels[0] !== '' && labels[1] !== '';
}

/** Keys of connection strings that name a host: PDO `mysql:host=…`, libpq, ADO.NET `Server=…`. */
const DSN_KEYS = new Set(['host', 'hostname', 'server', 'addr', 'address', 'datasource']);

/**
 * Hosts in connection-string key-value pairs inside `text[start, end)`: `host=mysql;dbname=x`,
 * `host=postgres dbname=x`, `Server=sql;Database=x`, `Data Source=sql`. Each `=` looks back
 * at most 16 characters for its key, so the scan stays linear.
 */
export function findDsnHosts(text: string, start: number, end: number): HostHit[] {
  const out: HostHit[] = [];
  for (let i = start; i < end; i++) {
    if (text.charCodeAt(i) !== 61) continue;
    let k = i;
    while (k > start && i - k < 16 && isKeyChar(text.charCodeAt(k - 1))) k--;
    if (k > start && !isBoundary(text.charCodeAt(k - 1))) continue;
    const key = text.slice(k, i).toLowerCase().replace(' ', '');
    if (!DSN_KEYS.has(key)) continue;
    let j = i + 1;
    while (j < end && j - i <= MAX_HOST && isHostChar(text.charCodeAt(j))) j++;
    if (j === i + 1) continue;
    const host = text.slice(i + 1, j);
    const hit: HostHit = { host, evidence: 'dsn', start: i + 1, end: j };
    const port = portAfter(text, j, end);
    if (port !== undefined) {
      hit.port = port.value;
      hit.end = j + 1 + port.text.length;
    }
    out.push(hit);
    i = j - 1;
  }
  return out;
}

function isKeyChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 32;
}

/** What may stand before a connection-string key: its start, `;`, `:`, `?`, `&`, a space. */
function isBoundary(c: number): boolean {
  return (
    c === 59 || c === 58 || c === 63 || c === 38 || c === 32 || c === 9 || c === 34 || c === 39
  );
}
