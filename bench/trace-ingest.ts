/**
 * `npm run bench -- trace-ingest [spans]`: spans per second from an OTLP/JSON file of one
 * million spans, in the collector file exporter's format (one ExportTraceServiceRequest per
 * line), generated into a temp dir and streamed through GraphIngest exactly as `ward graph
 * analyze` reads it. Target: `spans_per_sec` >= 200,000. `peak_heap_mb` shows the file is not
 * held in memory.
 *
 * Peers, same run:
 * - `json_parse_spans_per_sec`: only JSON.parse of the same lines, no pairing: the bound any
 *   JSON-based reader can reach.
 * - `json_read_spans_per_sec`: JSON.parse and `readOtlpJson` (ids checked, spans normalized)
 *   into a sink that drops the spans: everything but the pairing, so the gap to
 *   `spans_per_sec` is what pairing and the graph cost.
 * - OTLP/protobuf: the same kind of traces encoded with protobufjs from the opentelemetry-proto
 *   field numbers; Ward's hand-written decoder (`proto_spans_per_sec`) against protobufjs's
 *   generated decoder feeding the same pairing (`protobufjs_spans_per_sec`). This is the
 *   measurement behind choosing the hand-written decoder (see readers/otlp-proto.ts).
 */

import { once } from 'node:events';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GraphBuilder,
  GraphIngest,
  readOtlpJson,
  readOtlpProtobuf,
  SPAN_KIND,
  type SpanInput,
  TraceAccumulator,
} from '@ward/graph';
import protobuf from 'protobufjs';
import { progress, round } from './_stats.ts';

const SERVICES = [
  'frontend',
  'checkout',
  'orders',
  'payments',
  'inventory',
  'shipping',
  'email',
  'auth',
];
const TRACES_PER_LINE = 20;
const kv = (key: string, value: string) => ({ key, value: { stringValue: value } });

/** One trace of 10 spans: a chain of 4 client→server hops, a DB call and an internal span. */
function traceSpans(t: number): [string, unknown[]][] {
  const traceId = (0x1000000 + t).toString(16).padStart(32, '0');
  const id = (k: number) => (t * 16 + k + 1).toString(16).padStart(16, '0');
  const start = 1_700_000_000_000_000_000n + BigInt(t) * 1_000_000n;
  const span = (k: number, parent: number, kind: number, attrs: unknown[] = []) => ({
    traceId,
    spanId: id(k),
    parentSpanId: parent < 0 ? '' : id(parent),
    name: `op-${k}`,
    kind,
    startTimeUnixNano: String(start + BigInt(k) * 1000n),
    endTimeUnixNano: String(
      start + BigInt(k) * 1000n + BigInt(1_000_000 + ((t * 7919 + k) % 5_000_000)),
    ),
    attributes: [kv('http.request.method', 'GET'), kv('url.path', `/api/v1/items/${k}`), ...attrs],
    status: { code: (t + k) % 97 === 0 ? 2 : 0 },
  });
  const hop = t % 4;
  const chain = [SERVICES[0]!, SERVICES[1 + hop]!, SERVICES[5]!, SERVICES[6 + (t % 2)]!];
  const out: [string, unknown[]][] = chain.map((s) => [s, []]);
  out[0]![1].push(span(0, -1, SPAN_KIND.SERVER), span(1, 0, SPAN_KIND.CLIENT));
  out[1]![1].push(
    span(2, 1, SPAN_KIND.SERVER),
    span(3, 2, SPAN_KIND.CLIENT),
    span(8, 2, SPAN_KIND.CLIENT, [
      kv('db.system.name', 'postgresql'),
      kv('server.address', 'postgres'),
    ]),
  );
  out[2]![1].push(
    span(4, 3, SPAN_KIND.SERVER),
    span(5, 4, SPAN_KIND.CLIENT),
    span(9, 4, SPAN_KIND.INTERNAL),
  );
  out[3]![1].push(span(6, 5, SPAN_KIND.SERVER), span(7, 6, SPAN_KIND.INTERNAL));
  return out;
}

function request(firstTrace: number, traces: number): { resourceSpans: unknown[] } {
  const byService = new Map<string, unknown[]>();
  for (let t = firstTrace; t < firstTrace + traces; t++) {
    for (const [service, spans] of traceSpans(t))
      byService.set(service, [...(byService.get(service) ?? []), ...spans]);
  }
  return {
    resourceSpans: [...byService].map(([service, spans]) => ({
      resource: { attributes: [kv('service.name', service), kv('k8s.namespace.name', 'shop')] },
      scopeSpans: [{ scope: { name: 'bench' }, spans }],
    })),
  };
}

// The OTLP trace messages, field numbers from opentelemetry-proto (trace/v1, common/v1,
// resource/v1, collector/trace/v1); only what the benchmark encodes.
const PROTO = `
syntax = "proto3";
package otlp;
message AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; } }
message KeyValue { string key = 1; AnyValue value = 2; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message InstrumentationScope { string name = 1; string version = 2; }
message Status { string message = 2; int32 code = 3; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4;
  string name = 5; int32 kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9; Status status = 15; fixed32 flags = 16;
}
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
`;

interface PbKV {
  key: string;
  value?: { stringValue?: string };
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const total = Number(args[0] ?? 1_000_000);
  const spansPerTrace = 10;
  const traces = Math.ceil(total / spansPerTrace);
  const dir = mkdtempSync(join(tmpdir(), 'ward-trace-ingest-'));
  const file = join(dir, 'traces.jsonl');
  try {
    progress(`generating ${traces * spansPerTrace} spans into ${file}…`);
    const out = createWriteStream(file);
    for (let t = 0; t < traces; t += TRACES_PER_LINE) {
      if (!out.write(`${JSON.stringify(request(t, Math.min(TRACES_PER_LINE, traces - t)))}\n`))
        await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
    const bytes = statSync(file).size;
    progress(`${round(bytes / 1048576)} MB; ward ingest…`);

    let peakHeap = 0;
    const sampler = setInterval(() => {
      peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    }, 20);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const ingest = new GraphIngest();
    const sink = ingest.open('otlp-json', file);
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }))
      sink.write(chunk as Buffer);
    sink.end();
    const { graph, stats } = ingest.finish();
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    clearInterval(sampler);
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    const spansPerSec = stats.spans / seconds;
    progress(
      `ward: ${round(spansPerSec, 0)} spans/s, ${graph.edges.length} edges, ${stats.pairs} pairs`,
    );

    progress('peer: JSON.parse only…');
    const pcpu0 = process.cpuUsage();
    const p0 = performance.now();
    let parsedSpans = 0;
    let rest = '';
    for await (const chunk of createReadStream(file, {
      highWaterMark: 1 << 20,
      encoding: 'utf8',
    })) {
      const lines = (rest + (chunk as string)).split('\n');
      rest = lines.pop()!;
      for (const line of lines) {
        const req = JSON.parse(line) as { resourceSpans: { scopeSpans: { spans: unknown[] }[] }[] };
        for (const rs of req.resourceSpans)
          for (const ss of rs.scopeSpans) parsedSpans += ss.spans.length;
      }
    }
    const parseSeconds = (performance.now() - p0) / 1000;
    const pcpu = process.cpuUsage(pcpu0);
    const parseCpuSeconds = (pcpu.user + pcpu.system) / 1e6;

    progress('peer: JSON.parse + readOtlpJson, no pairing…');
    let readSpans = 0;
    const dropSpans = {
      addSpan: () => void readSpans++,
      skip: () => {},
    } as unknown as TraceAccumulator;
    const jsonSource = { type: 'otlp-json' as const, file };
    const rcpu0 = process.cpuUsage();
    const r0 = performance.now();
    rest = '';
    let lineNo = 0;
    for await (const chunk of createReadStream(file, {
      highWaterMark: 1 << 20,
      encoding: 'utf8',
    })) {
      const lines = (rest + (chunk as string)).split('\n');
      rest = lines.pop()!;
      for (const line of lines) readOtlpJson(JSON.parse(line), dropSpans, jsonSource, ++lineNo);
    }
    const readSeconds = (performance.now() - r0) / 1000;
    const rcpu = process.cpuUsage(rcpu0);
    const readCpuSeconds = (rcpu.user + rcpu.system) / 1e6;

    progress('OTLP/protobuf: hand-written decoder vs protobufjs…');
    const root = protobuf.parse(PROTO).root;
    const Req = root.lookupType('otlp.ExportTraceServiceRequest');
    const protoTraces = Math.min(traces, 20_000);
    const bodies: Uint8Array[] = [];
    for (let t = 0; t < protoTraces; t += TRACES_PER_LINE) {
      const json = request(t, TRACES_PER_LINE) as {
        resourceSpans: {
          resource: unknown;
          scopeSpans: { scope: unknown; spans: Record<string, unknown>[] }[];
        }[];
      };
      const msg = {
        resourceSpans: json.resourceSpans.map((rs) => ({
          resource: rs.resource,
          scopeSpans: rs.scopeSpans.map((ss) => ({
            scope: ss.scope,
            spans: ss.spans.map((s) => ({
              ...s,
              traceId: Buffer.from(s.traceId as string, 'hex'),
              spanId: Buffer.from(s.spanId as string, 'hex'),
              parentSpanId: Buffer.from(s.parentSpanId as string, 'hex'),
              startTimeUnixNano: s.startTimeUnixNano,
              endTimeUnixNano: s.endTimeUnixNano,
            })),
          })),
        })),
      };
      bodies.push(Req.encode(Req.fromObject(msg)).finish());
    }
    const protoSpans = protoTraces * spansPerTrace;
    const best = (fn: () => void): number => {
      let min = Number.POSITIVE_INFINITY;
      for (let i = 0; i < 3; i++) {
        const s = performance.now();
        fn();
        min = Math.min(min, performance.now() - s);
      }
      return min / 1000;
    };
    const handSeconds = best(() => {
      const acc = new TraceAccumulator(new GraphBuilder());
      for (const b of bodies) readOtlpProtobuf(b, acc, { type: 'otlp-proto', file: 'bench' });
      acc.flush();
    });
    const hex = (b: Uint8Array) =>
      Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
    // Decoding alone (spans handed to a sink that drops them): the decoders without the pairing.
    let sunk = 0;
    const drop = {
      addSpan: () => void sunk++,
      skip: () => {},
    } as unknown as TraceAccumulator;
    const handDecodeSeconds = best(() => {
      for (const b of bodies) readOtlpProtobuf(b, drop, { type: 'otlp-proto', file: 'bench' });
    });
    const pbjsRun = (acc: TraceAccumulator): void => {
      const source = { type: 'otlp-proto' as const, file: 'bench' };
      for (const b of bodies) {
        const req = Req.decode(b) as unknown as {
          resourceSpans: {
            resource?: { attributes: PbKV[] };
            scopeSpans: {
              spans: {
                traceId: Uint8Array;
                spanId: Uint8Array;
                parentSpanId: Uint8Array;
                kind: number;
                startTimeUnixNano: { toNumber(): number } | number;
                endTimeUnixNano: { toNumber(): number } | number;
                status?: { code: number };
                attributes: PbKV[];
              }[];
            }[];
          }[];
        };
        for (const rs of req.resourceSpans) {
          const service =
            rs.resource?.attributes.find((a) => a.key === 'service.name')?.value?.stringValue ??
            'unknown_service';
          for (const ss of rs.scopeSpans) {
            for (const s of ss.spans) {
              const num = (v: { toNumber(): number } | number) =>
                typeof v === 'number' ? v : v.toNumber();
              const span: SpanInput = {
                traceId: hex(s.traceId),
                spanId: hex(s.spanId),
                parentSpanId: s.parentSpanId.length ? hex(s.parentSpanId) : undefined,
                service,
                kind: s.kind,
                durationMs: (num(s.endTimeUnixNano) - num(s.startTimeUnixNano)) / 1e6,
                error: s.status?.code === 2,
                peer: undefined,
              };
              acc.addSpan(span, source);
            }
          }
        }
      }
      if (acc instanceof TraceAccumulator) acc.flush();
    };
    const pbjsSeconds = best(() => pbjsRun(new TraceAccumulator(new GraphBuilder())));
    const pbjsDecodeSeconds = best(() => pbjsRun(drop));

    return {
      spans: stats.spans,
      file_mb: round(bytes / 1048576),
      seconds: round(seconds, 2),
      spans_per_sec: Math.round(spansPerSec),
      // Per second of this process's CPU time: the machine is shared, wall time includes waits.
      spans_per_cpu_sec: Math.round(stats.spans / cpuSeconds),
      target_spans_per_sec: 200_000,
      peak_heap_mb: round(peakHeap / 1048576),
      edges: graph.edges.length,
      pairs: stats.pairs,
      evicted_traces: stats.evictedTraces,
      json_parse_spans_per_sec: Math.round(parsedSpans / parseSeconds),
      json_parse_spans_per_cpu_sec: Math.round(parsedSpans / parseCpuSeconds),
      json_read_spans_per_sec: Math.round(readSpans / readSeconds),
      json_read_spans_per_cpu_sec: Math.round(readSpans / readCpuSeconds),
      proto_spans: protoSpans,
      proto_spans_per_sec: Math.round(protoSpans / handSeconds),
      protobufjs_spans_per_sec: Math.round(protoSpans / pbjsSeconds),
      proto_decode_only_spans_per_sec: Math.round(protoSpans / handDecodeSeconds),
      protobufjs_decode_only_spans_per_sec: Math.round(protoSpans / pbjsDecodeSeconds),
    };
  } finally {
    if (!process.env.WARD_BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
  }
}
