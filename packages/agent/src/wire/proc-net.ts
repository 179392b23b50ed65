/**
 * Parser of the kernel's TCP socket tables, `/proc/net/tcp` and `/proc/net/tcp6`. Pure: it takes
 * the text and returns data (no fs), so it can be fuzzed and run on captured tables.
 *
 * Each row is `sl: LOCAL REMOTE ST tx:rx tr:when retrnsmt uid timeout inode …`, addresses in hex
 * as `ADDR:PORT`. The kernel prints an address as 32-bit words in host byte order (`%08X` of the
 * raw `__be32`), so on a little-endian machine each word's bytes come out reversed:
 * 127.0.0.1 is `0100007F`. The port is a plain number in hex. IPv6 addresses are four such words;
 * an IPv4-mapped one (`::ffff:a.b.c.d`, a dual-stack socket talking IPv4) is reported as the IPv4
 * address so both tables name one peer the same way.
 */

/** TCP states this module names (include/net/tcp_states.h). */
export const TCP_ESTABLISHED = 0x01;
export const TCP_LISTEN = 0x0a;

/** One row of a TCP table. */
export interface ProcNetSocket {
  /** 4 or 6, after IPv4-mapped addresses are reduced to IPv4. */
  family: 4 | 6;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** Kernel TCP state (`TCP_ESTABLISHED`, `TCP_LISTEN`, …). */
  state: number;
  uid: number;
  /** Socket inode; `/proc/<pid>/fd/*` links to `socket:[inode]`. 0 for sockets no file holds. */
  inode: number;
  /** 1-based line in the table text. */
  line: number;
}

/** A row that did not parse: where, and why. */
export interface ProcNetIssue {
  line: number;
  message: string;
}

export interface ProcNetParse {
  sockets: ProcNetSocket[];
  skipped: ProcNetIssue[];
}

export interface ProcNetOptions {
  /** Byte order of the machine that wrote the table. Default true (x86, arm64). */
  littleEndian?: boolean;
  /** Keep only rows in these states (e.g. ESTABLISHED and LISTEN); default all. */
  states?: ReadonlySet<number>;
}

const HEX_WORD = /^[0-9A-Fa-f]{8}$/;
const HEX_PORT = /^[0-9A-Fa-f]{4}$/;
const HEX_STATE = /^[0-9A-Fa-f]{2}$/;
const DECIMAL = /^(0|[1-9][0-9]{0,9})$/;
const ROW_START = /^\s*\d+:$/;
/** More issues than this are counted in the last one only: a garbage file stays cheap. */
const MAX_ISSUES = 100;

/**
 * Parses a whole table. Never throws: the header line is skipped, every other line either
 * becomes a socket or an issue naming its line. Rows are independent, so one torn row (the
 * kernel does not print the table atomically) loses only itself.
 */
export function parseProcNetTcp(text: string, options: ProcNetOptions = {}): ProcNetParse {
  const little = options.littleEndian ?? true;
  const sockets: ProcNetSocket[] = [];
  const skipped: ProcNetIssue[] = [];
  // Most rows share a few addresses (loopback, the node's IPs): each distinct hex is decoded once.
  const addresses = new Map<string, Address | string>();
  let extra = 0;
  let lineNo = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const raw = text.slice(start, end);
    start = end + 1;
    lineNo++;
    if (raw.trim() === '') continue;
    if (lineNo === 1 && /^\s*sl\s/.test(raw)) continue;
    const row = parseRow(raw, lineNo, little, options.states, addresses);
    if (row === undefined) continue;
    if (typeof row === 'string') {
      if (skipped.length < MAX_ISSUES) skipped.push({ line: lineNo, message: row });
      else extra++;
      continue;
    }
    sockets.push(row);
  }
  if (extra > 0) {
    skipped.push({ line: lineNo, message: `${extra} more malformed rows not listed` });
  }
  return { sockets, skipped };
}

interface Address {
  family: 4 | 6;
  address: string;
}

/** One row, why it is not one, or undefined when its state is not wanted. */
function parseRow(
  raw: string,
  line: number,
  little: boolean,
  states: ReadonlySet<number> | undefined,
  addresses: Map<string, Address | string>,
): ProcNetSocket | string | undefined {
  // The fields after the inode (refcount, pointer, timers) are never read.
  const f = raw.trim().split(/\s+/, 10);
  if (f.length < 10) return `expected at least 10 fields, found ${f.length}`;
  if (!ROW_START.test(f[0]!)) return `field 1 "${clip(f[0]!)}" is not a row number "N:"`;
  if (!HEX_STATE.test(f[3]!)) return `state "${clip(f[3]!)}" is not 2 hex digits`;
  const state = Number.parseInt(f[3]!, 16);
  if (states && !states.has(state)) return undefined;
  const local = parseEndpoint(f[1]!, little, addresses);
  if (typeof local === 'string') return `local address: ${local}`;
  const remote = parseEndpoint(f[2]!, little, addresses);
  if (typeof remote === 'string') return `remote address: ${remote}`;
  if (!DECIMAL.test(f[7]!)) return `uid "${clip(f[7]!)}" is not a decimal number`;
  if (!DECIMAL.test(f[9]!)) return `inode "${clip(f[9]!)}" is not a decimal number`;
  const uid = Number(f[7]);
  const inode = Number(f[9]);
  if (uid > 0xffffffff) return `uid ${uid} is out of range`;
  const family = local.family === 4 && remote.family === 4 ? 4 : 6;
  return {
    family,
    localAddress: local.address,
    localPort: local.port,
    remoteAddress: remote.address,
    remotePort: remote.port,
    state,
    uid,
    inode,
    line,
  };
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

/** `HEX:PORT` with 8 (IPv4) or 32 (IPv6) hex digits before the colon. */
function parseEndpoint(
  s: string,
  little: boolean,
  addresses: Map<string, Address | string>,
): (Address & { port: number }) | string {
  const colon = s.indexOf(':');
  if (colon < 0) return `"${clip(s)}" is not ADDR:PORT`;
  const hex = s.slice(0, colon);
  const portHex = s.slice(colon + 1);
  if (!HEX_PORT.test(portHex)) return `port "${clip(portHex)}" is not 4 hex digits`;
  const port = Number.parseInt(portHex, 16);
  let address = addresses.get(hex);
  if (address === undefined) {
    address = decodeAddress(hex, little);
    if (addresses.size < 4096) addresses.set(hex, address);
  }
  if (typeof address === 'string') return address;
  return { family: address.family, address: address.address, port };
}

/** An address in hex (8 or 32 digits) as text, or why it is not one. */
function decodeAddress(hex: string, little: boolean): Address | string {
  if (hex.length === 8) {
    const bytes = wordBytes(hex, little);
    if (!bytes) return `"${clip(hex)}" is not hex`;
    return { family: 4, address: bytes.join('.') };
  }
  if (hex.length === 32) {
    const bytes: number[] = [];
    for (let i = 0; i < 32; i += 8) {
      const w = wordBytes(hex.slice(i, i + 8), little);
      if (!w) return `"${clip(hex)}" is not hex`;
      bytes.push(...w);
    }
    return ipv6Text(bytes);
  }
  return `address "${clip(hex)}" has ${hex.length} hex digits, expected 8 or 32`;
}

/** The 4 network-order bytes of one printed word. */
function wordBytes(hex: string, little: boolean): number[] | undefined {
  if (!HEX_WORD.test(hex)) return undefined;
  const v = Number.parseInt(hex, 16);
  const b = [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
  return little ? b.reverse() : b;
}

/** RFC 5952 text of 16 bytes; `::ffff:a.b.c.d` becomes the IPv4 address. */
function ipv6Text(bytes: number[]): { family: 4 | 6; address: string } {
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 255 && bytes[11] === 255;
  if (mapped) return { family: 4, address: bytes.slice(12).join('.') };
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  // The longest run (first on ties) of two or more zero groups becomes "::".
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLen < 2) return { family: 6, address: hex.join(':') };
  const head = hex.slice(0, best).join(':');
  const tail = hex.slice(best + bestLen).join(':');
  return { family: 6, address: `${head}::${tail}` };
}

/** True for 127.0.0.0/8 and ::1. */
export function isLoopback(address: string): boolean {
  return address === '::1' || /^127\./.test(address);
}

/** True for 0.0.0.0 and :: (a socket listening on every address). */
export function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

/**
 * Writes one table row as the kernel would (the inverse of the parser, for tests and fixtures).
 * `address` fields must be IPv4 dotted quads for `family` 4; for 6, any address the parser
 * produced (an IPv4 one is written IPv4-mapped).
 */
export function formatProcNetRow(
  s: Omit<ProcNetSocket, 'line'>,
  slot: number,
  options: { littleEndian?: boolean; table?: 4 | 6 } = {},
): string {
  const little = options.littleEndian ?? true;
  const table = options.table ?? s.family;
  const addr = (a: string) => hexAddress(a, table, little);
  const port = (p: number) => p.toString(16).toUpperCase().padStart(4, '0');
  return [
    `${String(slot).padStart(4, ' ')}:`,
    `${addr(s.localAddress)}:${port(s.localPort)}`,
    `${addr(s.remoteAddress)}:${port(s.remotePort)}`,
    s.state.toString(16).toUpperCase().padStart(2, '0'),
    '00000000:00000000',
    '00:00000000',
    '00000000',
    String(s.uid).padStart(5, ' '),
    '       0',
    String(s.inode),
    '1 0000000000000000 100 0 0 10 0',
  ].join(' ');
}

function hexAddress(address: string, table: 4 | 6, little: boolean): string {
  const bytes = address.includes(':')
    ? ipv6Bytes(address)
    : [
        ...(table === 6 ? [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255] : []),
        ...address.split('.').map(Number),
      ];
  let out = '';
  for (let i = 0; i < bytes.length; i += 4) {
    const w = bytes.slice(i, i + 4);
    if (little) w.reverse();
    out += w.map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join('');
  }
  return out;
}

function ipv6Bytes(address: string): number[] {
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t].map((g) =>
    Number.parseInt(g, 16),
  );
  return groups.flatMap((g) => [(g >> 8) & 0xff, g & 0xff]);
}
