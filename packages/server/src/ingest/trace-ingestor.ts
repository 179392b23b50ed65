/**
 * OTLP trace ingest: spans from every export request feed ONE long-lived `TraceAccumulator`
 * (package `@ward/graph`), because a call's client span and server span come from two services'
 * exporters, in two requests. Pairs become observed edges at once; a recording builder collects
 * them as deltas (calls, errors, latency sketch per edge) that a group commit merges into the
 * hourly `ingest_trace_edges` rows. The export is answered after that commit, so a 200 means the
 * edges it completed are stored.
 *
 * Open traces are finalized every `finalizeMs` (unmatched client spans then count as calls to
 * their named peer: a database, `peer.service`, `server.address`); a trace whose halves straddle
 * that moment loses its pairing, and memory is bounded by the accumulator's span limits.
 * Trace edges are bucketed by ingest time, not span time.
 */
import {
  GraphBuilder,
  GraphError,
  LatencySketch,
  type NodeType,
  readOtlpJson,
  readOtlpProtobuf,
  type ServiceNode,
  type ServicePatch,
  type SourceRef,
  TraceAccumulator,
  type TraceStats,
} from '@ward/graph';
import { type Kysely, sql } from 'kysely';
import { ServerError } from '../errors.ts';
import type { Dialect } from '../store/database.ts';
import { GroupCommit } from './group-commit.ts';
import { SpanGate } from './span-gate.ts';
import { hourOf, type IngestDatabase } from './tables.ts';

interface EdgeDelta {
  source: string;
  destination: string;
  calls: number;
  errors: number;
  sketch: LatencySketch | undefined;
}

/** A GraphBuilder that keeps nothing but the observations since the last commit. */
class RecordingBuilder extends GraphBuilder {
  deltas = new Map<string, EdgeDelta>();
  readonly types = new Map<string, NodeType>();

  override service(name: string, patch: ServicePatch = {}): ServiceNode {
    if (patch.type && patch.type !== 'service' && this.types.size < 100_000)
      this.types.set(name, patch.type);
    return {
      name,
      type: patch.type ?? 'service',
      virtual: patch.virtual ?? false,
      labels: {},
      sources: [],
    };
  }

  override observe(
    from: string,
    to: string,
    _source: SourceRef,
    calls: number,
    errors: number,
    latencyMs?: number,
  ): void {
    const key = `${from}\u0000${to}`;
    let d = this.deltas.get(key);
    if (!d) {
      d = { source: from, destination: to, calls: 0, errors: 0, sketch: undefined };
      this.deltas.set(key, d);
    }
    d.calls += calls;
    d.errors += errors;
    if (latencyMs !== undefined) {
      d.sketch ??= new LatencySketch();
      d.sketch.add(latencyMs);
    }
  }
}

export interface TraceIngestOptions {
  now: () => number;
  onError: (error: unknown) => void;
  /** Spans held for pairing at most. Default 200,000. */
  maxPendingSpans?: number;
}

/** What one export did: spans read and spans rejected (malformed, skipped). */
export interface ExportOutcome {
  spans: number;
  rejected: number;
  firstRejection: string | undefined;
}

const SOURCE_PROTO: SourceRef = { type: 'otlp-proto', file: 'POST /v1/traces' };
const SOURCE_JSON: SourceRef = { type: 'otlp-json', file: 'POST /v1/traces' };
const CHUNK = 400;

export class TraceIngestor {
  readonly #db: Kysely<IngestDatabase>;
  readonly #dialect: Dialect;
  readonly #options: TraceIngestOptions;
  readonly #builder = new RecordingBuilder();
  readonly #acc: TraceAccumulator;
  readonly #commit: GroupCommit;

  constructor(db: Kysely<IngestDatabase>, dialect: Dialect, options: TraceIngestOptions) {
    this.#db = db;
    this.#dialect = dialect;
    this.#options = options;
    this.#acc = new TraceAccumulator(this.#builder, {
      maxPendingSpans: options.maxPendingSpans ?? 200_000,
    });
    this.#commit = new GroupCommit(() => this.#write(), options.onError);
  }

  get stats(): TraceStats {
    return this.#acc.stats;
  }

  /**
   * Reads one export request body and resolves once the edges it completed are stored. `service`:
   * the only reporting service admitted (a PDP's own); undefined admits any (collector, admin).
   */
  async accept(
    body: Buffer | unknown,
    protobuf: boolean,
    service?: string,
  ): Promise<ExportOutcome> {
    const gate = new SpanGate(this.#acc, service);
    try {
      if (protobuf) readOtlpProtobuf(body as Buffer, gate, SOURCE_PROTO);
      else readOtlpJson(body, gate, SOURCE_JSON);
    } catch (error) {
      if (error instanceof GraphError) {
        throw new ServerError(
          'API_MALFORMED_BODY',
          `not an OTLP ExportTraceServiceRequest: ${error.message}`,
          {
            errors: [{ field: 'body', message: error.message, code: error.code }],
            cause: error,
          },
        );
      }
      throw error;
    }
    await this.#commit.wait();
    return { spans: gate.admitted, rejected: gate.rejected, firstRejection: gate.firstRejection };
  }

  /** Finalizes open traces (unmatched client spans become peer calls) and stores the result. */
  async finalize(): Promise<void> {
    this.#acc.flush();
    await this.#commit.wait();
  }

  async close(): Promise<void> {
    await this.finalize().catch((e) => this.#options.onError(e));
  }

  async #write(): Promise<void> {
    const deltas = [...this.#builder.deltas.values()].sort((a, b) =>
      a.source === b.source
        ? a.destination < b.destination
          ? -1
          : 1
        : a.source < b.source
          ? -1
          : 1,
    );
    this.#builder.deltas = new Map();
    if (deltas.length === 0) return;
    try {
      await this.#store(deltas);
      return;
    } catch (error) {
      this.#options.onError(error);
    }
    // Write each edge alone: when only some fail, those are poison (nothing the gate foresaw)
    // and are dropped, so they cannot fail every later write; when all fail, the store is down
    // and they are kept for the next write.
    const failed: EdgeDelta[] = [];
    for (const d of deltas) {
      try {
        await this.#store([d]);
      } catch {
        failed.push(d);
      }
    }
    if (failed.length < deltas.length) return;
    for (const d of failed) {
      const key = `${d.source}\u0000${d.destination}`;
      const cur = this.#builder.deltas.get(key);
      if (!cur) this.#builder.deltas.set(key, d);
      else {
        cur.calls += d.calls;
        cur.errors += d.errors;
        if (d.sketch) {
          cur.sketch ??= new LatencySketch();
          cur.sketch.merge(d.sketch);
        }
      }
    }
    throw new ServerError('STORE_UNREACHABLE', 'trace edges could not be written; retry later', {
      retryAfterSeconds: 1,
    });
  }

  async #store(deltas: EdgeDelta[]): Promise<void> {
    const now = this.#options.now();
    const hour = hourOf(now);
    await this.#db.transaction().execute(async (trx) => {
      for (let i = 0; i < deltas.length; i += CHUNK) {
        const part = deltas.slice(i, i + CHUNK);
        // Sketches merge in code: read the bucket's current sketches (locked on PostgreSQL, so a
        // replica's concurrent merge waits), add ours, write back. Counts add in SQL.
        let q = trx
          .selectFrom('ingest_trace_edges')
          .select(['source', 'destination', 'sketch'])
          .where('hour', '=', hour)
          .where((eb) =>
            eb.or(
              part.map((d) =>
                eb.and([eb('source', '=', d.source), eb('destination', '=', d.destination)]),
              ),
            ),
          );
        if (this.#dialect === 'postgres') q = q.forUpdate();
        const existing = new Map(
          (await q.execute()).map((r) => [`${r.source}\u0000${r.destination}`, r.sketch]),
        );
        const rows = part.map((d) => {
          const sketch = new LatencySketch();
          const prev = existing.get(`${d.source}\u0000${d.destination}`);
          if (prev) sketch.merge(JSON.parse(prev));
          if (d.sketch) sketch.merge(d.sketch);
          return {
            hour,
            source: d.source,
            destination: d.destination,
            dest_type: this.#builder.types.get(d.destination) ?? 'service',
            calls: d.calls,
            errors: d.errors,
            sketch: JSON.stringify(sketch.toJSON()),
            first_seen: now,
            last_seen: now,
          };
        });
        await trx
          .insertInto('ingest_trace_edges')
          .values(rows)
          .onConflict((oc) =>
            oc.columns(['source', 'destination', 'hour']).doUpdateSet({
              calls: sql`ingest_trace_edges.calls + excluded.calls`,
              errors: sql`ingest_trace_edges.errors + excluded.errors`,
              sketch: sql`excluded.sketch`,
              dest_type: sql`excluded.dest_type`,
              last_seen: sql`excluded.last_seen`,
            }),
          )
          .execute();
      }
    });
  }
}
