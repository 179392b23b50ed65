/**
 * Jaeger: the query API's trace JSON (`{"data":[{traceID, spans, processes}]}`, also what the UI
 * downloads) and its dependency links (`GET /api/dependencies`: `[{parent, child, callCount}]`,
 * bare or wrapped in `{"data": …}`).
 */
import { GraphError } from '../errors.ts';
import { normalizeId } from '../ids.ts';
import type { GraphBuilder, SourceRef } from '../model.ts';
import { PEER_KEYS, peerOf } from '../peer.ts';
import type { SpanInput, TraceAccumulator } from '../trace-accumulator.ts';
import { isObject } from '../util.ts';

const KINDS: Record<string, number> = {
  internal: 1,
  server: 2,
  client: 3,
  producer: 4,
  consumer: 5,
};

/** Feeds every span of a parsed Jaeger trace document to `acc`. */
export function readJaeger(doc: unknown, acc: TraceAccumulator, source: SourceRef): void {
  const traces = isObject(doc) ? doc.data : Array.isArray(doc) ? doc : undefined;
  if (!Array.isArray(traces)) {
    throw new GraphError('GRAPH_INPUT_MALFORMED', 'not a Jaeger trace document', {
      file: source.file,
      expected: '{"data": [trace…]} with "spans" and "processes"',
    });
  }
  for (let t = 0; t < traces.length; t++) {
    const trace: unknown = traces[t];
    if (!isObject(trace) || !Array.isArray(trace.spans)) {
      acc.skip('jaeger.trace', `${source.file}: data[${t}] has no "spans" array`);
      continue;
    }
    const processes = isObject(trace.processes) ? trace.processes : {};
    trace.spans.forEach((raw: unknown, i: number) => {
      const span = toSpan(raw, processes);
      if (typeof span === 'string')
        acc.skip('jaeger.span', `${source.file}: data[${t}].spans[${i}]: ${span}`);
      else acc.addSpan(span, source);
    });
  }
}

function tagMap(tags: unknown, into: Map<string, string>): void {
  if (!Array.isArray(tags)) return;
  for (const tag of tags) {
    if (isObject(tag) && typeof tag.key === 'string' && PEER_KEYS.has(tag.key)) {
      const v = tag.value;
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') {
        into.set(tag.key, String(v));
      }
    }
  }
}

function toSpan(raw: unknown, processes: Record<string, unknown>): SpanInput | string {
  if (!isObject(raw)) return 'span is not an object';
  const traceId = normalizeId(raw.traceID, 16);
  if (!traceId) return 'traceID must be hex of up to 32 digits';
  const spanId = normalizeId(raw.spanID, 8);
  if (!spanId) return 'spanID must be hex of up to 16 digits';
  let parentSpanId: string | undefined;
  if (Array.isArray(raw.references)) {
    // CHILD_OF is the RPC parent; FOLLOWS_FROM only when there is no CHILD_OF.
    let follows: string | undefined;
    for (const ref of raw.references) {
      if (!isObject(ref)) continue;
      const id = normalizeId(ref.spanID, 8);
      if (!id) continue;
      if (ref.refType === 'CHILD_OF') {
        parentSpanId = id;
        break;
      }
      follows ??= id;
    }
    parentSpanId ??= follows;
  }
  if (parentSpanId === undefined && typeof raw.parentSpanID === 'string') {
    parentSpanId = normalizeId(raw.parentSpanID, 8);
  }
  const process = typeof raw.processID === 'string' ? processes[raw.processID] : raw.process;
  const service =
    isObject(process) && typeof process.serviceName === 'string' ? process.serviceName : undefined;
  if (!service) return 'processID names no process with a serviceName';
  const tags = new Map<string, string>();
  tagMap(raw.tags, tags);
  const kind = KINDS[tags.get('span.kind') ?? ''] ?? 0;
  const error = tags.get('error') === 'true' || tags.get('otel.status_code') === 'ERROR';
  const durationMs = typeof raw.duration === 'number' ? raw.duration / 1000 : Number.NaN;
  return {
    traceId,
    spanId,
    parentSpanId,
    service,
    kind,
    durationMs,
    error,
    peer: kind === 3 || kind === 4 ? peerOf(tags) : undefined,
  };
}

/** Adds observed edges from a Jaeger dependency-links document. */
export function readJaegerDependencies(
  doc: unknown,
  builder: GraphBuilder,
  acc: TraceAccumulator,
  source: SourceRef,
): void {
  const links = isObject(doc) ? doc.data : doc;
  if (!Array.isArray(links)) {
    throw new GraphError('GRAPH_INPUT_MALFORMED', 'not a Jaeger dependency-links document', {
      file: source.file,
      expected: '[{"parent", "child", "callCount"}…] or {"data": […]}',
    });
  }
  links.forEach((link: unknown, i: number) => {
    if (
      !isObject(link) ||
      typeof link.parent !== 'string' ||
      typeof link.child !== 'string' ||
      link.parent === '' ||
      link.child === ''
    ) {
      acc.skip(
        'jaeger.link',
        `${source.file}: [${i}]: expected {"parent": string, "child": string}`,
      );
      return;
    }
    const calls = typeof link.callCount === 'number' && link.callCount >= 0 ? link.callCount : 0;
    builder.service(link.parent, { virtual: false }, source.file);
    builder.service(link.child, { virtual: false }, source.file);
    if (link.parent !== link.child) builder.observe(link.parent, link.child, source, calls, 0);
  });
}
