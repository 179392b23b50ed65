/**
 * Edges sampled since the last shipment, merged by (source, destination, port). Bounded: at
 * most `maxEdges` distinct edges are held; beyond, new edges are counted in `dropped` (the edges
 * already held keep counting). Pure; `drain()` hands a batch to the shipper and starts over.
 */
import type { WireBatchV1, WireUnresolvedV1 } from '@ward/api-types';
import type { SampledEdge } from './correlate.ts';

interface Held {
  edge: SampledEdge;
  samples: number;
  connections: number;
  first: number;
  last: number;
}

const zero = (): WireUnresolvedV1 => ({
  inbound: 0,
  noProcess: 0,
  unattested: 0,
  unknownRemote: 0,
  self: 0,
  overCap: 0,
});

export class WireAccumulator {
  readonly #max: number;
  #held = new Map<string, Held>();
  #dropped = 0;
  #unresolved = zero();

  constructor(maxEdges: number) {
    this.#max = maxEdges;
  }

  get size(): number {
    return this.#held.size;
  }

  /** Adds one sample taken at `at` (epoch ms). */
  add(edges: readonly SampledEdge[], unresolved: WireUnresolvedV1, at: number): void {
    for (const e of edges) {
      const key = `${e.source}\u0000${e.destination}\u0000${e.port}`;
      const h = this.#held.get(key);
      if (h) {
        h.samples++;
        h.connections += e.connections;
        h.last = at;
      } else if (this.#held.size >= this.#max) this.#dropped++;
      else
        this.#held.set(key, {
          edge: e,
          samples: 1,
          connections: e.connections,
          first: at,
          last: at,
        });
    }
    for (const k of Object.keys(this.#unresolved) as (keyof WireUnresolvedV1)[]) {
      this.#unresolved[k] += unresolved[k];
    }
  }

  /** The batch to ship; the accumulator starts empty. */
  drain(): WireBatchV1 {
    const batch: WireBatchV1 = {
      edges: [...this.#held.values()].map((h) => ({
        source: h.edge.source,
        destination: h.edge.destination,
        port: h.edge.port,
        samples: h.samples,
        connections: h.connections,
        firstSeen: new Date(h.first).toISOString(),
        lastSeen: new Date(h.last).toISOString(),
      })),
      dropped: this.#dropped,
      unresolved: this.#unresolved,
    };
    this.#held = new Map();
    this.#dropped = 0;
    this.#unresolved = zero();
    return batch;
  }

  /** Puts a batch that could not be shipped back (merged with what came since, within the cap). */
  restore(batch: WireBatchV1): void {
    for (const e of batch.edges) {
      const key = `${e.source}\u0000${e.destination}\u0000${e.port}`;
      const h = this.#held.get(key);
      const first = Date.parse(e.firstSeen);
      const last = Date.parse(e.lastSeen);
      if (h) {
        h.samples += e.samples;
        h.connections += e.connections;
        h.first = Math.min(h.first, first);
        h.last = Math.max(h.last, last);
      } else if (this.#held.size >= this.#max) this.#dropped++;
      else
        this.#held.set(key, {
          edge: { source: e.source, destination: e.destination, port: e.port, connections: 0 },
          samples: e.samples,
          connections: e.connections,
          first,
          last,
        });
    }
    this.#dropped += batch.dropped;
    for (const k of Object.keys(this.#unresolved) as (keyof WireUnresolvedV1)[]) {
      this.#unresolved[k] += batch.unresolved[k];
    }
  }
}
