/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) for outgoing calls: the call joins the
 * caller's trace (same trace id) as a new span (a fresh parent id), or starts a new trace when
 * the caller has none or sent a malformed one. The incoming header is untrusted input: anything
 * that does not parse is dropped, never forwarded.
 */
import { randomFillSync } from 'node:crypto';

/** A parsed `traceparent`. */
export interface TraceParent {
  /** 32 lower-case hex digits, not all zero. */
  traceId: string;
  /** 16 lower-case hex digits, not all zero. */
  parentId: string;
  /** 2 hex digits. */
  flags: string;
}

const V00 = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
// A later version: its first four fields have version 00's shape; more may follow after a dash.
const LATER = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-|$)/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
/** tracestate is at most 32 members; 512 characters is the size the spec lets us cut at. */
const MAX_TRACESTATE = 512;

/** Parses a `traceparent` header; undefined when it is not a valid one. */
export function parseTraceParent(value: unknown): TraceParent | undefined {
  if (typeof value !== 'string' || value.length > 512) return undefined;
  let m = V00.exec(value);
  let traceId: string;
  let parentId: string;
  let flags: string;
  if (m) [, traceId, parentId, flags] = m as unknown as [string, string, string, string];
  else {
    m = LATER.exec(value);
    // Version ff is forbidden; 00 must match exactly (no trailing fields).
    if (!m || m[1] === 'ff' || m[1] === '00') return undefined;
    [, , traceId, parentId, flags] = m as unknown as [string, string, string, string, string];
  }
  if (traceId === ZERO_TRACE || parentId === ZERO_SPAN) return undefined;
  return { traceId, parentId, flags };
}

// Ids come from a pool of random bytes refilled 4 KiB at a time: a call needs 8 to 24 bytes,
// and one CSPRNG call per id was a measurable share of a keep-alive request's cost.
const pool = Buffer.alloc(4096);
let used = pool.length;

function randomHex(bytes: number): string {
  if (used + bytes > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const hex = pool.toString('hex', used, used + bytes);
  used += bytes;
  return hex;
}

/** A new span id (8 random bytes). */
function spanId(): string {
  let id: string;
  do id = randomHex(8);
  while (id === ZERO_SPAN);
  return id;
}

/**
 * The trace headers of an outgoing call: `traceparent` with the caller's trace id (or a new one)
 * and a new parent id, plus the caller's `tracestate` when the caller's trace was kept.
 */
export function childTrace(
  traceparent: unknown,
  tracestate: unknown,
): { traceparent: string; tracestate?: string } {
  const parent = parseTraceParent(traceparent);
  if (parent === undefined) {
    // A new trace; not sampled, since this client records nothing itself (§3.2.2.5).
    let traceId: string;
    do traceId = randomHex(16);
    while (traceId === ZERO_TRACE);
    return { traceparent: `00-${traceId}-${spanId()}-00` };
  }
  const out: { traceparent: string; tracestate?: string } = {
    traceparent: `00-${parent.traceId}-${spanId()}-${parent.flags}`,
  };
  if (
    typeof tracestate === 'string' &&
    tracestate.length > 0 &&
    tracestate.length <= MAX_TRACESTATE &&
    // Printable ASCII only: a header value that could not be forwarded verbatim is dropped.
    /^[\x20-\x7e]*$/.test(tracestate)
  ) {
    out.tracestate = tracestate;
  }
  return out;
}
