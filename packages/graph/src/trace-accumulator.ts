/**
 * Pairs spans across services into observed edges, incrementally. Every trace reader (OTLP JSON
 * and protobuf, Jaeger, Zipkin) normalizes its spans to `SpanInput` and feeds them here, one at
 * a time, in any order; the control plane feeds it decoded request bodies the same way.
 *
 * Memory is bounded: only what pairing needs is kept (per span: service, kind, duration, error,
 * peer), at most `maxPendingSpans` spans across all open traces and `maxSpansPerTrace` per trace.
 * When the bound is hit the oldest trace (first seen) is finalized and evicted; both are counted
 * in `stats`. Trace exporters write a trace's spans close together, so first-seen order is a good
 * stand-in for "finished".
 */
import { canonicalServiceKey } from '@ward/spiffe';
import type { GraphBuilder, SourceRef } from './model.ts';
import { type PeerRef, peerKey } from './peer.ts';

/** OTLP span kinds (the numbering of `opentelemetry.proto.trace.v1.Span.SpanKind`). */
export const SPAN_KIND = {
  UNSPECIFIED: 0,
  INTERNAL: 1,
  SERVER: 2,
  CLIENT: 3,
  PRODUCER: 4,
  CONSUMER: 5,
} as const;

/**
 * The node of a span's service: its service key. A `service.name` with no namespace of its own
 * (`orders`) is placed in the namespace the resource names (`k8s.namespace.name`, else
 * `service.namespace`) when that is a valid namespace — `shop/orders`, as the Kubernetes reader
 * and Ward's documents name it; otherwise the name is taken as it comes (a key already, or a name
 * outside Ward's grammar).
 */
export function spanKey(service: string, namespace: string | undefined): string {
  // A key as written (`default/orders` is `orders`); a name with its own `/` keeps its namespace.
  const home = namespace === undefined || service.includes('/') ? undefined : namespace;
  return canonicalServiceKey(service, home) ?? service;
}

/** One span, normalized by a reader. Ids are lowercase hex (see `normalizeId`). */
export interface SpanInput {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  service: string;
  namespace?: string | undefined;
  kind: number;
  /** Duration in ms; NaN when unknown. */
  durationMs: number;
  error: boolean;
  peer: PeerRef | undefined;
}

/**
 * Where the OTLP readers put what they read: the accumulator itself, or a filter in front of it
 * (the control plane admits only the spans the exporting identity may report).
 */
export interface SpanSink {
  addSpan(span: SpanInput, source: SourceRef): void;
  /** Counts a skipped span or record. */
  skip(reason: string, message: string): void;
}

export interface TraceAccumulatorOptions {
  /** Spans held for pairing across all open traces. Default 200,000 (about 40 MB). */
  maxPendingSpans?: number;
  /** Spans held per trace; further spans still pair with their parent but are not kept. */
  maxSpansPerTrace?: number;
  /** Skip messages kept as samples for the report. Default 20. */
  maxSkipSamples?: number;
}

/** What trace ingest did, for reports and the control plane's metrics. */
export interface TraceStats {
  spans: number;
  /** Client→server (or producer→consumer) pairs across services that became edge traffic. */
  pairs: number;
  /** Calls to uninstrumented peers (databases, queues, hosts) recorded as virtual-node edges. */
  peerCalls: number;
  /** Parent/child pairs within one service that are not client→server calls: dropped. */
  selfLoopsDropped: number;
  /** Client/producer spans with neither a server child nor a peer attribute. */
  unpairedClientSpans: number;
  evictedTraces: number;
  evictedSpans: number;
  /** Spans not kept because their trace already held `maxSpansPerTrace`. */
  spansOverTraceLimit: number;
  /** Malformed spans or records skipped, by reason. */
  skipped: Record<string, number>;
  /** The first few skip messages, naming file and line. */
  skipSamples: string[];
}

interface Pending {
  spanId: string;
  /** Set only while the span waits for its parent: no need to keep the string alive otherwise. */
  parentSpanId: string | undefined;
  service: string;
  kind: number;
  durationMs: number;
  error: boolean;
  peer: PeerRef | undefined;
  matched: boolean;
  source: SourceRef;
}

/**
 * One open trace. Most traces hold a handful of spans, so spans (and children waiting for their
 * parent) live in arrays searched linearly; a Map index is built only when a trace outgrows
 * `SCAN_LIMIT`. Two Maps per trace were most of the pairing cost in the trace-ingest profile.
 */
interface TraceState {
  id: string;
  /** False once finalized: its entry in the eviction queue is then stale. */
  live: boolean;
  /** Kept spans, one per span id (a repeated id replaces the earlier span in place). */
  spans: Pending[];
  /** Position in `spans` by span id, once `spans` outgrows `SCAN_LIMIT`. */
  spanIndex: Map<string, number> | undefined;
  /** Children that arrived before their parent, in arrival order. */
  waiting: Pending[] | undefined;
  /** The same by parent span id, once `waiting` outgrows `SCAN_LIMIT`. */
  waitingIndex: Map<string, Pending[]> | undefined;
  waitingCount: number;
}

/** Beyond this many entries a linear scan costs more than a Map. */
const SCAN_LIMIT = 16;

const CALLER = (kind: number): boolean => kind === SPAN_KIND.CLIENT || kind === SPAN_KIND.PRODUCER;
const CALLEE = (kind: number): boolean => kind === SPAN_KIND.SERVER || kind === SPAN_KIND.CONSUMER;

export class TraceAccumulator implements SpanSink {
  readonly stats: TraceStats = {
    spans: 0,
    pairs: 0,
    peerCalls: 0,
    selfLoopsDropped: 0,
    unpairedClientSpans: 0,
    evictedTraces: 0,
    evictedSpans: 0,
    spansOverTraceLimit: 0,
    skipped: {},
    skipSamples: [],
  };
  private readonly traces = new Map<string, TraceState>();
  /**
   * Open traces in first-seen order, for eviction, with `head` the oldest not yet taken. Kept
   * apart from `traces` because taking the first entry of a Map that has had entries deleted
   * (`traces.entries().next()`) walks over every deleted slot until V8 rehashes the table: the
   * profile of trace-ingest showed eviction costing as much as JSON.parse.
   */
  private queue: (TraceState | undefined)[] = [];
  private head = 0;
  private lastService = '';
  private lastNamespace: string | undefined;
  private lastKey = '';
  private lastSource: SourceRef | undefined;
  private lastTrace: TraceState | undefined;
  private pending = 0;
  private readonly maxPending: number;
  private readonly maxPerTrace: number;
  private readonly maxSamples: number;

  readonly builder: GraphBuilder;

  constructor(builder: GraphBuilder, options: TraceAccumulatorOptions = {}) {
    this.builder = builder;
    this.maxPending = options.maxPendingSpans ?? 200_000;
    this.maxPerTrace = options.maxSpansPerTrace ?? 10_000;
    this.maxSamples = options.maxSkipSamples ?? 20;
    if (!(this.maxPending >= 1) || !(this.maxPerTrace >= 1)) {
      throw new TypeError('maxPendingSpans and maxSpansPerTrace must be >= 1');
    }
  }

  /** Spans currently held for pairing. */
  get pendingSpans(): number {
    return this.pending;
  }

  /** Counts a skipped span or record; keeps the first messages as samples. */
  skip(reason: string, message: string): void {
    this.stats.skipped[reason] = (this.stats.skipped[reason] ?? 0) + 1;
    if (this.stats.skipSamples.length < this.maxSamples) this.stats.skipSamples.push(message);
  }

  addSpan(span: SpanInput, source: SourceRef): void {
    this.stats.spans++;
    // Spans come in runs from one resource: register the node once per run, not per span.
    if (
      span.service !== this.lastService ||
      span.namespace !== this.lastNamespace ||
      source !== this.lastSource
    ) {
      this.lastService = span.service;
      this.lastNamespace = span.namespace;
      this.lastSource = source;
      this.lastKey = spanKey(span.service, span.namespace);
      this.builder.service(
        this.lastKey,
        { virtual: false, namespace: span.namespace },
        source.file,
      );
    }
    const rec: Pending = {
      spanId: span.spanId,
      parentSpanId: undefined,
      service: this.lastKey,
      kind: span.kind,
      durationMs: span.durationMs,
      error: span.error,
      peer: span.peer,
      matched: false,
      source,
    };
    // A database call never has an instrumented child: record it now and keep nothing.
    if (span.peer?.type === 'database' && CALLER(span.kind)) {
      this.callPeer(rec);
      return;
    }
    // Consecutive spans usually share a trace: skip the Map lookup (hashing a fresh id string
    // was the costliest line of addSpan).
    let trace = this.lastTrace;
    if (trace === undefined || !trace.live || trace.id !== span.traceId) {
      trace = this.traces.get(span.traceId);
    }
    if (trace === undefined) {
      trace = {
        id: span.traceId,
        live: true,
        spans: [],
        spanIndex: undefined,
        waiting: undefined,
        waitingIndex: undefined,
        waitingCount: 0,
      };
      this.traces.set(span.traceId, trace);
      this.queue.push(trace);
    }
    this.lastTrace = trace;
    const spans = trace.spans;
    const parentId = span.parentSpanId;
    // One pass finds both the parent and an earlier span with the same id (the latest of each,
    // as a Map keyed by span id would).
    let parent: Pending | undefined;
    let same = -1;
    if (trace.spanIndex === undefined) {
      const id = rec.spanId;
      for (let i = spans.length - 1; i >= 0; i--) {
        const sid = spans[i]!.spanId;
        if (parent === undefined && sid === parentId) parent = spans[i];
        if (same < 0 && sid === id) same = i;
      }
    } else if (parentId !== undefined) {
      const at = trace.spanIndex.get(parentId);
      if (at !== undefined) parent = spans[at];
    }
    if (parentId !== undefined) {
      if (parent !== undefined) this.pair(parent, rec);
      else if (spans.length < this.maxPerTrace) {
        rec.parentSpanId = parentId;
        this.addWaiting(trace, rec);
        this.pending++;
      }
    }
    if (trace.waitingCount > 0) this.takeWaiting(trace, rec);
    if (spans.length < this.maxPerTrace) {
      if (trace.spanIndex !== undefined) same = trace.spanIndex.get(rec.spanId) ?? -1;
      if (same >= 0) spans[same] = rec;
      else {
        spans.push(rec);
        this.pending++;
        if (trace.spanIndex !== undefined) trace.spanIndex.set(rec.spanId, spans.length - 1);
        else if (spans.length > SCAN_LIMIT) {
          trace.spanIndex = new Map();
          for (let i = 0; i < spans.length; i++) trace.spanIndex.set(spans[i]!.spanId, i);
        }
      }
    } else {
      this.stats.spansOverTraceLimit++;
      this.finish(rec);
    }
    while (this.pending > this.maxPending) this.evictOldest();
  }

  /**
   * Finalizes every open trace: unmatched client spans become calls to their named peer, or are
   * counted as unpaired. Call at the end of an input (the CLI) or periodically (a server).
   */
  flush(): void {
    for (const trace of this.traces.values()) this.finalize(trace);
    this.queue = [];
    this.head = 0;
    this.lastTrace = undefined;
  }

  private evictOldest(): void {
    const queue = this.queue;
    let trace: TraceState | undefined;
    while (this.head < queue.length) {
      const t = queue[this.head];
      queue[this.head++] = undefined;
      if (t?.live) {
        trace = t;
        break;
      }
    }
    // Drop the taken prefix once it is most of the array, so the queue stays O(open traces).
    if (this.head > 1024 && this.head * 2 > queue.length) {
      this.queue = queue.slice(this.head);
      this.head = 0;
    }
    if (!trace) return;
    this.stats.evictedTraces++;
    this.stats.evictedSpans += trace.spans.length;
    this.finalize(trace);
  }

  private finalize(trace: TraceState): void {
    trace.live = false;
    this.traces.delete(trace.id);
    for (const rec of trace.spans) this.finish(rec);
    this.pending -= trace.spans.length + trace.waitingCount;
  }

  /** Parks a child whose parent has not arrived yet. */
  private addWaiting(trace: TraceState, child: Pending): void {
    trace.waitingCount++;
    if (trace.waitingIndex !== undefined) {
      const parentId = child.parentSpanId!;
      const list = trace.waitingIndex.get(parentId);
      if (list) list.push(child);
      else trace.waitingIndex.set(parentId, [child]);
      return;
    }
    trace.waiting ??= [];
    trace.waiting.push(child);
    if (trace.waiting.length > SCAN_LIMIT) {
      const index = new Map<string, Pending[]>();
      for (const c of trace.waiting) {
        const list = index.get(c.parentSpanId!);
        if (list) list.push(c);
        else index.set(c.parentSpanId!, [c]);
      }
      trace.waitingIndex = index;
      trace.waiting = undefined;
    }
  }

  /** Pairs `parent` with every child waiting for it, in arrival order, and unparks them. */
  private takeWaiting(trace: TraceState, parent: Pending): void {
    const id = parent.spanId;
    if (trace.waitingIndex !== undefined) {
      const children = trace.waitingIndex.get(id);
      if (children === undefined) return;
      trace.waitingIndex.delete(id);
      trace.waitingCount -= children.length;
      this.pending -= children.length;
      for (const child of children) {
        child.parentSpanId = undefined;
        this.pair(parent, child);
      }
      return;
    }
    const waiting = trace.waiting!;
    let kept = 0;
    for (let i = 0; i < waiting.length; i++) {
      const child = waiting[i]!;
      if (child.parentSpanId === id) {
        trace.waitingCount--;
        this.pending--;
        child.parentSpanId = undefined;
        this.pair(parent, child);
      } else waiting[kept++] = child;
    }
    waiting.length = kept;
  }

  private finish(rec: Pending): void {
    if (!CALLER(rec.kind) || rec.matched) return;
    if (rec.peer) this.callPeer(rec);
    else this.stats.unpairedClientSpans++;
  }

  private callPeer(rec: Pending): void {
    const peer = rec.peer!;
    const resolved = peerKey(peer, rec.service);
    const name = resolved.name;
    if (name === rec.service) {
      this.stats.selfLoopsDropped++;
      return;
    }
    this.builder.service(name, {
      type: peer.type,
      virtual: true,
      ...(resolved.namespace !== undefined ? { namespace: resolved.namespace } : {}),
    });
    this.stats.peerCalls++;
    this.builder.observe(rec.service, name, rec.source, 1, rec.error ? 1 : 0, ms(rec));
  }

  private pair(parent: Pending, child: Pending): void {
    if (parent.service === child.service) {
      // Internal spans nest inside one service all the time; only an explicit client→server
      // call to itself is a real self-dependency.
      if (parent.kind === SPAN_KIND.CLIENT && child.kind === SPAN_KIND.SERVER) {
        parent.matched = true;
        this.stats.pairs++;
        this.builder.observe(parent.service, child.service, child.source, 1, err(parent, child));
      } else this.stats.selfLoopsDropped++;
      return;
    }
    if (!CALLER(parent.kind) && !CALLEE(child.kind)) return;
    parent.matched = true;
    this.stats.pairs++;
    // The caller's span measures what the caller waits for, network included.
    const latency = CALLER(parent.kind) ? ms(parent) : ms(child);
    this.builder.observe(
      parent.service,
      child.service,
      child.source,
      1,
      err(parent, child),
      latency,
    );
  }
}

function ms(rec: Pending): number | undefined {
  return Number.isFinite(rec.durationMs) && rec.durationMs >= 0 ? rec.durationMs : undefined;
}

function err(a: Pending, b: Pending): number {
  return a.error || b.error ? 1 : 0;
}
