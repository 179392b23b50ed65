/**
 * Trace and span ids arrive hex-encoded (OTLP/JSON as the spec says, Jaeger, Zipkin), base64
 * encoded (OTLP/JSON written by protobuf's generic JSON mapping), or as raw bytes (protobuf).
 * Everything is normalized to lowercase hex so spans from any reader pair up.
 */

const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const B64 = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) {
  B64['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;
}
// base64url too: some exporters use it.
B64['-'.charCodeAt(0)] = 62;
B64['_'.charCodeAt(0)] = 63;

/** Lowercase hex of `bytes[start, end)`. */
export function bytesToHex(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let out = '';
  for (let i = start; i < end; i++) out += HEX[bytes[i]!];
  return out;
}

/** Per UTF-16 code unit: 1 lowercase hex digit, 2 upper-case hex digit, 0 anything else. */
const HEX_CLASS = new Uint8Array(65536);
for (const c of '0123456789abcdef') HEX_CLASS[c.charCodeAt(0)] = 1;
for (const c of 'ABCDEF') HEX_CLASS[c.charCodeAt(0)] = 2;

/**
 * 0: not hex; 1: lowercase hex; 2: hex with upper-case digits. A table lookup per character,
 * not range tests: this runs three times per span and showed in the trace-ingest profile.
 */
function hexCase(s: string): number {
  let seen = 0;
  for (let i = 0; i < s.length; i++) {
    const k = HEX_CLASS[s.charCodeAt(i)]!;
    if (k === 0) return 0;
    seen |= k;
  }
  return seen & 2 ? 2 : 1;
}

function base64ToHex(s: string, bytes: number): string | undefined {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 61) end--; // '='
  if (Math.floor((end * 6) / 8) !== bytes) return undefined;
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? B64[c]! : -1;
    if (v < 0) return undefined;
    buffer = ((buffer << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += HEX[(buffer >> bits) & 0xff];
    }
  }
  return out;
}

/**
 * Normalizes an id of `bytes` bytes (16 for trace ids, 8 for span ids) given as hex or base64.
 * Shorter hex ids are left-padded (Jaeger and Zipkin drop leading zeros, and 64-bit trace ids are
 * common). Returns undefined for anything else, and for the all-zero id, which the spec says is
 * invalid.
 */
export function normalizeId(value: unknown, bytes: 8 | 16): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return undefined;
  let hex: string | undefined;
  const n = value.length;
  const hexKind = n <= bytes * 2 ? hexCase(value) : 0;
  if (hexKind !== 0) {
    // Padded base64 of 16 or 8 bytes always ends in '=', so it never reaches this branch; a
    // short hex id is one with its leading zeros trimmed (Jaeger, Zipkin).
    // The common case (full-length lowercase hex) returns the string itself: no allocation.
    hex = hexKind === 2 ? value.toLowerCase() : value;
    if (n < bytes * 2) hex = hex.padStart(bytes * 2, '0');
  } else {
    hex = base64ToHex(value, bytes);
  }
  if (hex === undefined || hex === (bytes === 16 ? ZERO_TRACE : ZERO_SPAN)) return undefined;
  return hex;
}
