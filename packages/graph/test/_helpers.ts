/** Builders for OTLP/JSON test input. */
export const kv = (key: string, value: string) => ({ key, value: { stringValue: value } });

let nextId = 1;
/** A fresh 16-hex-digit span id. */
export function sid(): string {
  return (nextId++).toString(16).padStart(16, '0');
}

export interface SpanSpec {
  traceId?: string;
  spanId: string;
  parent?: string;
  kind: number;
  durationMs?: number;
  attrs?: Record<string, string>;
  error?: boolean;
}

export const TRACE = '0af7651916cd43dd8448eb211c80319c';

export function otlp(resources: [service: string, spans: SpanSpec[]][]): unknown {
  return {
    resourceSpans: resources.map(([service, spans]) => ({
      resource: { attributes: [kv('service.name', service)] },
      scopeSpans: [
        {
          spans: spans.map((s) => ({
            traceId: s.traceId ?? TRACE,
            spanId: s.spanId,
            parentSpanId: s.parent ?? '',
            name: 'op',
            kind: s.kind,
            startTimeUnixNano: '1700000000000000000',
            endTimeUnixNano: endTime(s.durationMs ?? 1),
            attributes: Object.entries(s.attrs ?? {}).map(([k, v]) => kv(k, v)),
            status: { code: s.error ? 2 : 0 },
          })),
        },
      ],
    })),
  };
}

function endTime(durationMs: number): string {
  const ns = Math.round(durationMs * 1e6);
  // Non-finite durations stay as they are: readers must cope with any string.
  return Number.isFinite(ns) ? String(1700000000000000000n + BigInt(ns)) : String(ns);
}
