/**
 * A fast path for one line of OTLP/JSON (the collector file exporter's format): a hand-written
 * scanner that validates the whole line as JSON but materializes only what pairing reads (span
 * ids, kind, times, status code, the resource attributes naming the service and the span
 * attributes naming a peer). JSON.parse builds every name, attribute and scope object of every
 * span; in the trace-ingest profile it and the garbage it left were over half of the CPU time.
 *
 * Exactness by construction: each field the reader uses is handed, with the value JSON.parse
 * would have given it, to the same functions `readOtlpJson` uses (`toSpan`, `attr`). Anything
 * unusual (a malformed span, a repeated or alternative container key, a JSON syntax error, deep
 * nesting) makes the scanner give up before it has fed anything: the caller then parses the line
 * with JSON.parse and `readOtlpJson`, which produce the errors and skip messages. The
 * differential property test (test/otlp-scan.test.ts) holds the two paths equal.
 */
import type { SourceRef } from '../model.ts';
import { PEER_KEYS } from '../peer.ts';
import type { SpanInput, SpanSink } from '../trace-accumulator.ts';
import { attr, spanOf, toSpan } from './otlp-json.ts';

/** Thrown inside the scanner to give up; never escapes `scanOtlpJsonLine`. */
const GIVE_UP: unique symbol = Symbol('give up');

/** Deeper values are left to JSON.parse (the scanner recurses). */
const MAX_DEPTH = 256;

/** Keys compared as bytes: a string's charCodeAt costs several times a byte load. */
interface Keys<T extends string = string> {
  names: readonly T[];
  bytes: readonly Uint8Array[];
}
function keys<T extends string>(names: readonly T[]): Keys<T> {
  return { names, bytes: names.map((n) => ascii(n)) };
}
function ascii(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

const TOP_KEYS = keys(['resourceSpans', 'resource_spans']);
const RS_KEYS = keys(['resource', 'scopeSpans', 'scope_spans', 'instrumentationLibrarySpans']);
const SPAN_KEY_NAMES = [
  'traceId',
  'spanId',
  'parentSpanId',
  'kind',
  'startTimeUnixNano',
  'endTimeUnixNano',
  'attributes',
  'status',
  'trace_id',
  'span_id',
  'parent_span_id',
] as const;
const SPAN_KEYS = keys(SPAN_KEY_NAMES);
const RESOURCE_KEYS = keys(['service.name', 'k8s.namespace.name', 'service.namespace']);
const PEER_KEY_LIST = keys([...PEER_KEYS]);
const ATTRIBUTES = keys(['attributes']);
const SPANS = keys(['spans']);
const CODE = keys(['code']);
const KEY_VALUE = keys(['key', 'value']);
const TRUE = ascii('true');
const FALSE = ascii('false');
const NULL = ascii('null');
/** An attribute list with nothing the readers want: shared, never written. */
const NONE: readonly unknown[] = Object.freeze([]);

/** The fields of a span `toSpan` reads, all present so every raw span has one shape. */
interface RawSpan {
  traceId: unknown;
  spanId: unknown;
  parentSpanId: unknown;
  kind: unknown;
  startTimeUnixNano: unknown;
  endTimeUnixNano: unknown;
  attributes: unknown;
  status: unknown;
  trace_id: unknown;
  span_id: unknown;
  parent_span_id: unknown;
}

/**
 * Feeds the spans of one OTLP/JSON line to `acc` and returns true, or returns false having fed
 * nothing: the line is then for JSON.parse and `readOtlpJson`.
 */
export function scanOtlpJsonLine(line: string, acc: SpanSink, source: SourceRef): boolean {
  // Scanning bytes is several times faster than charCodeAt over a sliced string. An ASCII line
  // encodes to one byte per character, so byte offsets are string offsets; other lines are
  // rare in traces and go to JSON.parse.
  const n = line.length;
  if (bytes.length <= n) bytes = new Uint8Array(Math.max(n + 1, bytes.length * 2));
  const { read, written } = encoder.encodeInto(line, bytes);
  if (read !== n || written !== n) return false;
  bytes[n] = 0; // a sentinel no rule accepts: loops stop at the end without bounds checks
  const scan = new Scanner(line, bytes);
  let spans: SpanInput[];
  try {
    spans = scan.request();
  } catch (e) {
    if (e === GIVE_UP) return false;
    throw e;
  }
  for (let i = 0; i < spans.length; i++) acc.addSpan(spans[i]!, source);
  return true;
}

const encoder = new TextEncoder();
let lastTraceId = '';
let lastTraceBytes = new Uint8Array(0);
/** Reused across lines: the line's UTF-8 bytes and a sentinel. */
let bytes = new Uint8Array(1 << 16);

class Scanner {
  private readonly s: string;
  private readonly b: Uint8Array;
  private readonly n: number;
  private p = 0;
  /** Whether the last string scanned had escapes. */
  private esc = false;
  private readonly out: SpanInput[] = [];
  private readonly ids = new Int32Array(6);

  constructor(s: string, b: Uint8Array) {
    this.s = s;
    this.b = b;
    this.n = s.length;
  }

  /** The whole line: one ExportTraceServiceRequest object and nothing after it. */
  request(): SpanInput[] {
    this.ws();
    this.open(123); // {
    let seen = false;
    if (!this.close(125)) {
      do {
        const k = this.key(TOP_KEYS);
        if (k >= 0) {
          if (seen || this.peek() !== 91) throw GIVE_UP; // repeated, or not an array: the slow path says why
          seen = true;
          this.array(() => this.resourceSpans());
        } else this.skip(0);
      } while (this.next(125));
    }
    this.ws();
    // No resourceSpans: empty export, partialSuccess, or not OTLP; the slow path tells which.
    if (this.p !== this.n || !seen) throw GIVE_UP;
    return this.out;
  }

  private resourceSpans(): void {
    if (this.peek() !== 123) throw GIVE_UP; // skipped with a message by the slow path
    this.p++;
    const first = this.out.length;
    let resourceAttrs: unknown;
    let scopes = false;
    this.ws();
    if (!this.close(125)) {
      do {
        const k = this.key(RS_KEYS);
        if (k === 0) resourceAttrs = this.resource();
        else if (k > 0) {
          // `scopeSpans ?? scope_spans ?? instrumentationLibrarySpans`: one of them, once.
          if (scopes) throw GIVE_UP;
          scopes = true;
          if (this.peek() === 91) this.array(() => this.scope());
          else this.skip(0);
        } else this.skip(0);
      } while (this.next(125));
    }
    const service = attr(resourceAttrs, 'service.name') ?? 'unknown_service';
    const namespace =
      attr(resourceAttrs, 'k8s.namespace.name') ?? attr(resourceAttrs, 'service.namespace');
    for (let i = first; i < this.out.length; i++) {
      const span = this.out[i]!;
      span.service = service;
      span.namespace = namespace;
    }
  }

  /** `resource.attributes` when `resource` is an object, with only the naming attributes kept. */
  private resource(): unknown {
    if (this.peek() !== 123) {
      this.skip(0);
      return undefined;
    }
    this.p++;
    let attrs: unknown;
    this.ws();
    if (!this.close(125)) {
      do {
        if (this.key(ATTRIBUTES) === 0) attrs = this.attributes(RESOURCE_KEYS);
        else this.skip(0);
      } while (this.next(125));
    }
    return attrs;
  }

  private scope(): void {
    if (this.peek() !== 123) {
      this.skip(0);
      return;
    }
    this.p++;
    let spans = false;
    this.ws();
    if (!this.close(125)) {
      do {
        if (this.key(SPANS) === 0) {
          if (spans) throw GIVE_UP;
          spans = true;
          if (this.peek() === 91) this.array(() => this.span());
          else this.skip(0);
        } else this.skip(0);
      } while (this.next(125));
    }
  }

  private span(): void {
    if (this.peek() !== 123) throw GIVE_UP;
    this.p++;
    const raw: RawSpan = {
      traceId: undefined,
      spanId: undefined,
      parentSpanId: undefined,
      kind: undefined,
      startTimeUnixNano: undefined,
      endTimeUnixNano: undefined,
      attributes: undefined,
      status: undefined,
      trace_id: undefined,
      span_id: undefined,
      parent_span_id: undefined,
    };
    // Offsets of the three ids when they are plain strings (start of content, closing quote).
    const at = this.ids;
    at.fill(-1);
    this.ws();
    if (!this.close(125)) {
      do {
        // Repeated keys: the last one wins, as in JSON.parse.
        const k = this.key(SPAN_KEYS);
        if (k < 0) this.skip(0);
        else if (k <= 2) {
          raw[SPAN_KEY_NAMES[k]!] = undefined;
          at[2 * k] = -1;
          if (this.peek() === 34) {
            const start = this.p + 1;
            const end = this.string();
            if (this.esc) raw[SPAN_KEY_NAMES[k]!] = JSON.parse(this.s.slice(start - 1, end + 1));
            else {
              at[2 * k] = start;
              at[2 * k + 1] = end;
            }
          } else raw[SPAN_KEY_NAMES[k]!] = this.value();
        } else if (k === 6) raw.attributes = this.attributes(PEER_KEY_LIST);
        else if (k === 7) raw.status = this.status();
        else raw[SPAN_KEY_NAMES[k]!] = this.value();
      } while (this.next(125));
    }
    // Service and namespace are set when the resource is known (it may come after its spans).
    let span: SpanInput | string;
    if (
      this.hexId(at[0]!, at[1]!, 32) &&
      this.hexId(at[2]!, at[3]!, 16) &&
      (at[4]! < 0
        ? raw.parentSpanId === undefined
        : at[4] === at[5] || this.hexId(at[4]!, at[5]!, 16)) &&
      raw.trace_id === undefined &&
      raw.span_id === undefined &&
      raw.parent_span_id === undefined
    ) {
      // Full-length lowercase hex, not all zero: what normalizeId returns unchanged.
      span = spanOf(
        raw as unknown as Record<string, unknown>,
        this.traceId(at[0]!, at[1]!),
        this.s.slice(at[2], at[3]),
        at[4]! < 0 || at[4] === at[5] ? undefined : this.s.slice(at[4], at[5]),
        '',
        undefined,
      );
    } else {
      for (let k = 0; k <= 2; k++) {
        if (at[2 * k]! >= 0) raw[SPAN_KEY_NAMES[k]!] = this.s.slice(at[2 * k], at[2 * k + 1]);
      }
      span = toSpan(raw, '', undefined);
    }
    if (typeof span === 'string') throw GIVE_UP; // skipped with a message by the slow path
    this.out.push(span);
  }

  /** Whether `[start, end)` is `len` lowercase hex digits, not all zero. */
  private hexId(start: number, end: number, len: number): boolean {
    if (start < 0 || end - start !== len) return false;
    const b = this.b;
    let nonZero = false;
    for (let i = start; i < end; i++) {
      const c = b[i]!;
      if (c === 48) continue;
      if (!((c > 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
      nonZero = true;
    }
    return nonZero;
  }

  /**
   * The trace id at `[start, end)`, reusing the previous span's string when the bytes are the
   * same: spans of a trace come in runs, and the accumulator has hashed that string already.
   */
  private traceId(start: number, end: number): string {
    if (lastTraceId.length === end - start && this.bytesAre(start, lastTraceBytes)) {
      return lastTraceId;
    }
    lastTraceId = this.s.slice(start, end);
    lastTraceBytes = this.b.slice(start, end);
    return lastTraceId;
  }

  /** `status` as JSON.parse gives it, with only `code` kept when it is an object. */
  private status(): unknown {
    if (this.peek() !== 123) return this.value();
    this.p++;
    const status: { code: unknown } = { code: undefined };
    this.ws();
    if (!this.close(125)) {
      do {
        if (this.key(CODE) === 0) status.code = this.value();
        else this.skip(0);
      } while (this.next(125));
    }
    return status;
  }

  /**
   * An attribute list as JSON.parse gives it, keeping only the key-value objects whose key is in
   * `wanted`: the readers look at no other (and a non-array is returned whole).
   */
  private attributes(wanted: Keys): unknown {
    if (this.peek() !== 91) return this.value();
    let kept: { key: string; value: unknown }[] | undefined;
    this.open(91);
    if (this.close(93)) return NONE;
    do {
      if (this.peek() !== 123) {
        this.skip(0);
        continue;
      }
      this.p++;
      let key: unknown;
      let valueAt = -1;
      this.ws();
      if (!this.close(125)) {
        do {
          const k = this.key(KEY_VALUE);
          if (k === 0) key = this.attributeKey(wanted);
          else if (k === 1) {
            valueAt = this.p;
            this.skip(0);
          } else this.skip(0);
        } while (this.next(125));
      }
      if (typeof key === 'string' && wanted.names.includes(key)) {
        kept ??= [];
        kept.push({ key, value: valueAt < 0 ? undefined : this.reread(valueAt) });
      }
    } while (this.next(93));
    return kept ?? NONE;
  }

  /**
   * An attribute's key: the matching entry of `wanted` (no string made), `undefined` for a plain
   * string that is not wanted, or any other value as JSON.parse gives it.
   */
  private attributeKey(wanted: Keys): unknown {
    if (this.peek() !== 34) return this.value();
    const start = this.p;
    const end = this.string();
    if (this.esc) return JSON.parse(this.s.slice(start, end + 1));
    const len = end - start - 1;
    const bytes = wanted.bytes;
    for (let i = 0; i < bytes.length; i++) {
      const w = bytes[i]!;
      if (w.length === len && this.bytesAre(start + 1, w)) return wanted.names[i];
    }
    return undefined;
  }

  /** The value at `at` (already validated), as JSON.parse gives it. */
  private reread(at: number): unknown {
    const p = this.p;
    this.p = at;
    const v = this.value();
    this.p = p;
    return v;
  }

  /** Any JSON value as JSON.parse gives it; strings and numbers without building a tree. */
  private value(): unknown {
    const c = this.peek();
    const start = this.p;
    if (c === 34) {
      const end = this.string();
      return this.esc ? JSON.parse(this.s.slice(start, end + 1)) : this.s.slice(start + 1, end);
    }
    this.skip(0);
    // Number() and JSON.parse read a JSON number to the same double.
    if (c === 45 || (c >= 48 && c <= 57)) return Number(this.s.slice(start, this.p));
    if (c === 116) return true;
    if (c === 102) return false;
    if (c === 110) return null;
    return JSON.parse(this.s.slice(start, this.p));
  }

  /**
   * Reads an object key and its colon; returns its index in `keys`, or -1. Compares in place:
   * no string is made for a key unless it has escapes.
   */
  private key(keys: Keys): number {
    if (this.peek() !== 34) throw GIVE_UP;
    const start = this.p + 1;
    const end = this.string();
    let found = -1;
    if (this.esc) {
      found = keys.names.indexOf(JSON.parse(this.s.slice(start - 1, end + 1)) as string);
    } else {
      const len = end - start;
      const bytes = keys.bytes;
      for (let i = 0; i < bytes.length; i++) {
        const k = bytes[i]!;
        if (k.length === len && this.bytesAre(start, k)) {
          found = i;
          break;
        }
      }
    }
    this.ws();
    this.open(58); // :
    return found;
  }

  /** Calls `item` for each element of the array at the cursor. */
  private array(item: () => void): void {
    this.open(91);
    if (this.close(93)) return;
    do item();
    while (this.next(93));
  }

  /** Whether the bytes at `at` spell the ASCII `word` (the sentinel stops a match at the end). */
  private bytesAre(at: number, word: Uint8Array): boolean {
    const b = this.b;
    for (let i = 0; i < word.length; i++) if (b[at + i] !== word[i]) return false;
    return true;
  }

  /** Validates and passes over one value. */
  private skip(depth: number): void {
    const c = this.peek();
    if (c === 34) this.string();
    else if (c === 123) {
      if (depth > MAX_DEPTH) throw GIVE_UP;
      this.p++;
      this.ws();
      if (this.close(125)) return;
      do {
        if (this.peek() !== 34) throw GIVE_UP;
        this.string();
        this.ws();
        this.open(58);
        this.skip(depth + 1);
      } while (this.next(125));
    } else if (c === 91) {
      if (depth > MAX_DEPTH) throw GIVE_UP;
      this.p++;
      this.ws();
      if (this.close(93)) return;
      do this.skip(depth + 1);
      while (this.next(93));
    } else if (c === 116 && this.bytesAre(this.p, TRUE)) this.p += 4;
    else if (c === 102 && this.bytesAre(this.p, FALSE)) this.p += 5;
    else if (c === 110 && this.bytesAre(this.p, NULL)) this.p += 4;
    else this.number();
  }

  /** Passes over a JSON number (the grammar exactly: no leading zeros, no bare dot). */
  private number(): void {
    const s = this.b;
    let p = this.p;
    if (s[p]! === 45) p++;
    let c = s[p]!;
    if (c === 48) p++;
    else if (c >= 49 && c <= 57) p = this.digits(p);
    else throw GIVE_UP;
    if (s[p]! === 46) {
      c = s[p + 1]!;
      if (!(c >= 48 && c <= 57)) throw GIVE_UP;
      p = this.digits(p + 1);
    }
    c = s[p]!;
    if (c === 101 || c === 69) {
      p++;
      c = s[p]!;
      if (c === 43 || c === 45) p++;
      c = s[p]!;
      if (!(c >= 48 && c <= 57)) throw GIVE_UP;
      p = this.digits(p);
    }
    this.p = p;
  }

  private digits(p: number): number {
    const s = this.b;
    let c = s[p]!;
    while (c >= 48 && c <= 57) c = s[++p]!;
    return p;
  }

  /**
   * Validates the string whose opening quote is at the cursor and passes over it; returns the
   * index of its closing quote and sets `esc`. Raw control characters are not JSON.
   */
  private string(): number {
    const s = this.b;
    let p = this.p + 1;
    let esc = false;
    for (;;) {
      // One table load per byte: most bytes are plain; the sentinel at the end is a control
      // character, so an unterminated string gives up without a bounds check.
      const c = s[p]!;
      if (PLAIN[c] === 1) {
        p++;
        continue;
      }
      if (c === 34) break;
      if (c !== 92) throw GIVE_UP; // a raw control character
      esc = true;
      const e = s[p + 1]!;
      if (e === 117) {
        if (p + 6 > this.n) throw GIVE_UP; // past the sentinel are a previous line's bytes
        for (let i = p + 2; i < p + 6; i++) if (!isHex(s[i]!)) throw GIVE_UP;
        p += 6;
      } else if (ESCAPES.has(e)) p += 2;
      else throw GIVE_UP;
    }
    this.esc = esc;
    this.p = p + 1;
    return p;
  }

  /** After a value inside a container: true on a comma (another one follows), false on `end`. */
  private next(end: number): boolean {
    this.ws();
    const c = this.b[this.p]!;
    if (c === 44) {
      this.p++;
      this.ws();
      return true;
    }
    if (c === end) {
      this.p++;
      return false;
    }
    throw GIVE_UP;
  }

  /** Right after an opening bracket: consumes `end` and whitespace before it, if it is there. */
  private close(end: number): boolean {
    this.ws();
    if (this.b[this.p]! !== end) return false;
    this.p++;
    return true;
  }

  private open(c: number): void {
    if (this.b[this.p]! !== c) throw GIVE_UP;
    this.p++;
    this.ws();
  }

  private peek(): number {
    return this.b[this.p]!;
  }

  private ws(): void {
    const s = this.b;
    let p = this.p;
    for (;;) {
      const c = s[p]!;
      if (c === 32 || c === 10 || c === 13 || c === 9) p++;
      else break;
    }
    this.p = p;
  }
}

/** 1 for a byte that stands for itself inside a JSON string: not a quote, backslash or control. */
const PLAIN = new Uint8Array(256).fill(1);
for (let c = 0; c < 32; c++) PLAIN[c] = 0;
PLAIN[34] = 0;
PLAIN[92] = 0;
/** The characters that may follow a backslash in a JSON string (besides `u`). */
const ESCAPES = new Set([34, 92, 47, 98, 102, 110, 114, 116]);

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}
