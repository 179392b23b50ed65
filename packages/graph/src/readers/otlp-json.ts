/**
 * OTLP/JSON: the body of `POST /v1/traces` (`ExportTraceServiceRequest` in the protobuf JSON
 * mapping, with hex ids as the OTLP spec prescribes, base64 accepted) and each line of the
 * collector's file exporter. Reads a parsed object; `LineReader` and the ingest layer do the
 * splitting and JSON parsing.
 */
import { GraphError } from '../errors.ts';
import { normalizeId } from '../ids.ts';
import type { SourceRef } from '../model.ts';
import { PEER_KEYS, peerOf } from '../peer.ts';
import { SPAN_KIND, type SpanInput, type SpanSink } from '../trace-accumulator.ts';
import { isObject } from '../util.ts';

const KIND_NAMES: Record<string, number> = {
  SPAN_KIND_UNSPECIFIED: 0,
  SPAN_KIND_INTERNAL: 1,
  SPAN_KIND_SERVER: 2,
  SPAN_KIND_CLIENT: 3,
  SPAN_KIND_PRODUCER: 4,
  SPAN_KIND_CONSUMER: 5,
};

/**
 * Feeds every span of one OTLP/JSON `ExportTraceServiceRequest` (already parsed) to `acc`.
 * Throws `GRAPH_INPUT_MALFORMED` when the object is not a request at all; a malformed span or
 * resource is skipped and counted.
 *
 * @example
 * const acc = new TraceAccumulator(new GraphBuilder());
 * readOtlpJson(JSON.parse(body), acc, { type: 'otlp-json', file: 'POST /v1/traces' });
 * acc.flush();
 */
export function readOtlpJson(
  request: unknown,
  acc: SpanSink,
  source: SourceRef,
  line?: number,
): void {
  const at = line === undefined ? source.file : `${source.file}:${line}`;
  if (!isObject(request)) {
    throw new GraphError('GRAPH_INPUT_MALFORMED', 'OTLP/JSON input is not an object', {
      file: source.file,
      line,
      expected: 'an ExportTraceServiceRequest object with "resourceSpans"',
    });
  }
  const resourceSpans = request.resourceSpans ?? request.resource_spans;
  if (resourceSpans === undefined) {
    // An empty export (`{}`) is valid protobuf JSON; anything else without the field is not OTLP.
    if (Object.keys(request).length === 0 || 'partialSuccess' in request) return;
    throw new GraphError('GRAPH_INPUT_MALFORMED', 'OTLP/JSON object has no "resourceSpans"', {
      file: source.file,
      line,
      expected: 'an ExportTraceServiceRequest object with "resourceSpans"',
    });
  }
  if (!Array.isArray(resourceSpans)) {
    throw new GraphError('GRAPH_INPUT_MALFORMED', '"resourceSpans" is not an array', {
      file: source.file,
      line,
      expected: 'an array of ResourceSpans',
    });
  }
  for (let r = 0; r < resourceSpans.length; r++) {
    const rs: unknown = resourceSpans[r];
    if (!isObject(rs)) {
      acc.skip('otlp.resource', `${at}: resourceSpans[${r}] is not an object`);
      continue;
    }
    const resourceAttrs = isObject(rs.resource) ? rs.resource.attributes : undefined;
    const service = attr(resourceAttrs, 'service.name') ?? 'unknown_service';
    const namespace =
      attr(resourceAttrs, 'k8s.namespace.name') ?? attr(resourceAttrs, 'service.namespace');
    const scopes = rs.scopeSpans ?? rs.scope_spans ?? rs.instrumentationLibrarySpans;
    if (!Array.isArray(scopes)) continue;
    for (let s = 0; s < scopes.length; s++) {
      const scope: unknown = scopes[s];
      const spans = isObject(scope) ? scope.spans : undefined;
      if (!Array.isArray(spans)) continue;
      for (let i = 0; i < spans.length; i++) {
        const span = toSpan(spans[i], service, namespace);
        if (typeof span === 'string') {
          acc.skip(
            `otlp.${span.split(' ')[0]}`,
            `${at}: resourceSpans[${r}].scopeSpans[${s}].spans[${i}]: ${span}`,
          );
        } else acc.addSpan(span, source);
      }
    }
  }
}

let lastRawTraceId = '';
let lastTraceId = '';

/** A normalized span, or a message (its first word names the field) when the span is malformed. */
function toSpan(raw: unknown, service: string, namespace: string | undefined): SpanInput | string {
  if (!isObject(raw)) return 'span is not an object';
  const rawTrace = raw.traceId ?? raw.trace_id;
  // Spans of one trace come in runs: reuse the last id's validation, and its string, whose hash
  // the accumulator's Map has already computed.
  let traceId: string | undefined;
  if (rawTrace === lastRawTraceId) traceId = lastTraceId;
  else {
    traceId = normalizeId(rawTrace, 16);
    if (traceId) {
      lastRawTraceId = rawTrace as string;
      lastTraceId = traceId;
    }
  }
  if (!traceId) return 'traceId must be 32 hex digits or base64 of 16 bytes, not all zero';
  const spanId = normalizeId(raw.spanId ?? raw.span_id, 8);
  if (!spanId) return 'spanId must be 16 hex digits or base64 of 8 bytes, not all zero';
  const rawParent = raw.parentSpanId ?? raw.parent_span_id;
  let parentSpanId: string | undefined;
  if (rawParent !== undefined && rawParent !== '') {
    parentSpanId = normalizeId(rawParent, 8);
    if (!parentSpanId) return 'parentSpanId must be empty, 16 hex digits or base64 of 8 bytes';
  }
  let kind = raw.kind ?? 0;
  if (typeof kind === 'string') kind = KIND_NAMES[kind] ?? -1;
  if (typeof kind !== 'number' || !(kind >= 0 && kind <= 5))
    return 'kind must be 0..5 or a SPAN_KIND_* name';
  const start = nanos(raw.startTimeUnixNano);
  const end = nanos(raw.endTimeUnixNano);
  const durationMs = (end - start) / 1e6;
  let error = false;
  if (isObject(raw.status))
    error = raw.status.code === 2 || raw.status.code === 'STATUS_CODE_ERROR';
  let peer: SpanInput['peer'];
  const attrs = raw.attributes;
  if (kind === SPAN_KIND.CLIENT || kind === SPAN_KIND.PRODUCER) {
    if (Array.isArray(attrs) && attrs.length > 0) {
      // One pass picking the few peer keys; the Map is made only when one is there (most client
      // spans carry only HTTP attributes).
      let wanted: Map<string, string> | undefined;
      for (let a = 0; a < attrs.length; a++) {
        const kv: unknown = attrs[a];
        if (isObject(kv) && typeof kv.key === 'string' && PEER_KEYS.has(kv.key)) {
          const v = scalar(kv.value);
          if (v !== undefined) {
            wanted ??= new Map();
            wanted.set(kv.key, v);
          }
        }
      }
      if (wanted !== undefined) peer = peerOf(wanted);
    }
  }
  return { traceId, spanId, parentSpanId, service, namespace, kind, durationMs, error, peer };
}

function nanos(v: unknown): number {
  // fixed64 nanoseconds arrive as decimal strings; Number() loses sub-microsecond precision at
  // today's epoch, which a millisecond latency never sees.
  if (typeof v === 'string') return v === '' ? Number.NaN : Number(v);
  if (typeof v === 'number') return v;
  return Number.NaN;
}

/** The string form of an `AnyValue` scalar. */
function scalar(v: unknown): string | undefined {
  if (!isObject(v)) return undefined;
  if (typeof v.stringValue === 'string') return v.stringValue;
  if (v.intValue !== undefined) return String(v.intValue);
  if (v.boolValue !== undefined) return String(v.boolValue);
  if (v.doubleValue !== undefined) return String(v.doubleValue);
  return undefined;
}

function attr(attrs: unknown, key: string): string | undefined {
  if (!Array.isArray(attrs)) return undefined;
  for (const kv of attrs as unknown[]) if (isObject(kv) && kv.key === key) return scalar(kv.value);
  return undefined;
}
