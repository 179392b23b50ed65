/**
 * Zipkin v2 JSON: an array of spans (`POST /api/v2/spans`), or an array of traces (arrays of
 * spans, as `GET /api/v2/traces` returns). Zipkin's B3 propagation may share one span id between
 * the client and the server side (`shared: true` on the server span); such a server span is
 * re-keyed as a child of the client span so the pair joins like any other.
 */
import { GraphError } from '../errors.ts';
import { normalizeId } from '../ids.ts';
import type { SourceRef } from '../model.ts';
import { peerOf } from '../peer.ts';
import type { SpanInput, TraceAccumulator } from '../trace-accumulator.ts';
import { isObject } from '../util.ts';

const KINDS: Record<string, number> = { SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 };

export function readZipkin(doc: unknown, acc: TraceAccumulator, source: SourceRef): void {
  if (!Array.isArray(doc)) {
    throw new GraphError('GRAPH_INPUT_MALFORMED', 'not a Zipkin v2 span list', {
      file: source.file,
      expected: 'a JSON array of Zipkin v2 spans (or of traces)',
    });
  }
  const spans: unknown[] = doc.every((x) => Array.isArray(x)) ? doc.flat() : doc;
  spans.forEach((raw, i) => {
    const span = toSpan(raw);
    if (typeof span === 'string') acc.skip('zipkin.span', `${source.file}: span ${i}: ${span}`);
    else acc.addSpan(span, source);
  });
}

function toSpan(raw: unknown): SpanInput | string {
  if (!isObject(raw)) return 'span is not an object';
  const traceId = normalizeId(raw.traceId, 16);
  if (!traceId) return 'traceId must be 16 or 32 hex digits';
  let spanId = normalizeId(raw.id, 8);
  if (!spanId) return 'id must be 16 hex digits';
  let parentSpanId = raw.parentId === undefined ? undefined : normalizeId(raw.parentId, 8);
  if (raw.parentId !== undefined && !parentSpanId) return 'parentId must be 16 hex digits';
  const local = isObject(raw.localEndpoint) ? raw.localEndpoint.serviceName : undefined;
  if (typeof local !== 'string' || local === '') return 'localEndpoint.serviceName is missing';
  const kind = typeof raw.kind === 'string' ? (KINDS[raw.kind] ?? 1) : 1;
  if (raw.shared === true && kind === 2) {
    // The client span carries this id; make the server side its child.
    parentSpanId = spanId;
    spanId = `${spanId}:shared`;
  }
  const tags = isObject(raw.tags) ? raw.tags : {};
  const error = 'error' in tags;
  const attrs = new Map<string, string>();
  for (const key of [
    'peer.service',
    'db.system',
    'db.name',
    'db.namespace',
    'messaging.system',
    'messaging.destination.name',
    'server.address',
  ]) {
    if (typeof tags[key] === 'string') attrs.set(key, tags[key] as string);
  }
  const remote = isObject(raw.remoteEndpoint) ? raw.remoteEndpoint.serviceName : undefined;
  if (typeof remote === 'string' && remote !== '' && !attrs.has('peer.service'))
    attrs.set('peer.service', remote);
  return {
    traceId,
    spanId,
    parentSpanId,
    service: local,
    kind,
    durationMs: typeof raw.duration === 'number' ? raw.duration / 1000 : Number.NaN,
    error,
    peer: kind === 3 || kind === 4 ? peerOf(attrs) : undefined,
  };
}
