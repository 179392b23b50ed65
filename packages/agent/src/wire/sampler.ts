/**
 * Wire sampling in the node agent: every `intervalMs`, one look at the node's TCP connections
 * (`/proc/net/tcp{,6}`), each local socket mapped to its process and the process to the workload
 * the agent attests it as (the same unix selectors as the Workload API, so the identity a
 * process would get its SVID for is the one its connections are reported under). Edges go to a
 * bounded accumulator and are shipped every `shipIntervalMs` as observed edges.
 *
 * Works for any process of any language: no SDK, no tracing. What it cannot see: connections
 * opened and closed between two samples, and processes of other users when the agent lacks
 * CAP_SYS_PTRACE (counted as `noProcess`).
 */
import { networkInterfaces } from 'node:os';
import type { WireBatchV1 } from '@ward/api-types';
import { entriesForWorkload, type RegistrationEntry, unixSelectors } from '@ward/ca';
import type { Logger } from 'pino';
import { WireAccumulator } from './accumulator.ts';
import { type Correlated, correlate } from './correlate.ts';
import type { ProcNetIssue } from './proc-net.ts';
import { processFacts, readTcpTables, socketOwners } from './proc-scan.ts';

export interface WireOptions {
  /** Time between samples. Default 10 s. */
  intervalMs?: number;
  /** Time between shipments to the control plane. Default 60 s. */
  shipIntervalMs?: number;
  /** Distinct edges held between shipments (and per sample) at most. Default 10,000. */
  maxEdges?: number;
  /**
   * Remote `ip:port` (`[v6]:port`) or `ip` → service name, for destinations that are not
   * workloads of this node (Service and pod IPs of other nodes).
   */
  addressMap?: Readonly<Record<string, string>>;
  /** Addresses of this node besides loopback. Default: those of its network interfaces. */
  localAddresses?: readonly string[];
  /** Root of procfs. Default `/proc`. */
  procRoot?: string;
}

/** What one sample saw. */
export interface WireSample extends Correlated {
  /** Rows of the tables read (ESTABLISHED and LISTEN). */
  sockets: number;
  /** Processes whose descriptors the agent could not read. */
  unreadableProcesses: number;
  /** Rows that did not parse, with file and line. */
  skipped: (ProcNetIssue & { file: string })[];
}

export class WireSampler {
  readonly #proc: string;
  readonly #intervalMs: number;
  readonly #shipIntervalMs: number;
  readonly #maxEdges: number;
  readonly #addressMap: ReadonlyMap<string, string>;
  readonly #local: ReadonlySet<string>;
  readonly #entries: () => readonly RegistrationEntry[];
  readonly #ship: (batch: WireBatchV1) => Promise<unknown>;
  readonly #log: Logger;
  readonly #acc: WireAccumulator;
  #sampleTimer: NodeJS.Timeout | undefined;
  #shipTimer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> = Promise.resolve();

  constructor(
    options: WireOptions & {
      /** The registration entries of this node (the agent's current sync). */
      entries: () => readonly RegistrationEntry[];
      ship: (batch: WireBatchV1) => Promise<unknown>;
      logger: Logger;
    },
  ) {
    this.#proc = options.procRoot ?? '/proc';
    this.#intervalMs = options.intervalMs ?? 10_000;
    this.#shipIntervalMs = options.shipIntervalMs ?? 60_000;
    this.#maxEdges = options.maxEdges ?? 10_000;
    this.#addressMap = new Map(Object.entries(options.addressMap ?? {}));
    this.#local = new Set(options.localAddresses ?? nodeAddresses());
    this.#entries = options.entries;
    this.#ship = options.ship;
    this.#log = options.logger;
    this.#acc = new WireAccumulator(this.#maxEdges);
  }

  /** Edges waiting to be shipped. */
  get pending(): number {
    return this.#acc.size;
  }

  /** Takes one sample now and adds it to the next shipment. */
  async sample(now = Date.now()): Promise<WireSample> {
    const { sockets, skipped } = await readTcpTables(this.#proc);
    const wanted = new Set<number>();
    for (const s of sockets) if (s.inode !== 0) wanted.add(s.inode);
    const { owners, unreadable } = await socketOwners(this.#proc, wanted);
    const workloads = new Map<number, string | undefined>();
    const entries = this.#entries();
    for (const pid of new Set(owners.values())) {
      // The agent's own connections (to the control plane) are not a workload's.
      if (pid === process.pid && this.#proc === '/proc') continue;
      const facts = await processFacts(this.#proc, pid);
      // The default identity, as the Workload API would serve it: the oldest matching entry.
      const entry = facts ? entriesForWorkload(entries, unixSelectors(facts))[0] : undefined;
      workloads.set(pid, entry?.spiffeId);
    }
    const result = correlate({
      sockets,
      ownerOf: (inode) => owners.get(inode),
      workloadOf: (pid) => workloads.get(pid),
      addressMap: this.#addressMap,
      localAddresses: this.#local,
      maxEdges: this.#maxEdges,
    });
    this.#acc.add(result.edges, result.unresolved, now);
    if (skipped.length > 0) {
      this.#log.warn({ skipped: skipped.slice(0, 5) }, 'wire: rows of the TCP table did not parse');
    }
    return { ...result, sockets: sockets.length, unreadableProcesses: unreadable, skipped };
  }

  /**
   * Ships what was sampled since the last shipment. On failure the batch is put back (within the
   * cap) for the next attempt, and the error is thrown.
   */
  async ship(): Promise<WireBatchV1 | undefined> {
    const batch = this.#acc.drain();
    if (batch.edges.length === 0 && batch.dropped === 0) return undefined;
    try {
      await this.#ship(batch);
      return batch;
    } catch (error) {
      this.#acc.restore(batch);
      throw error;
    }
  }

  /** Starts the sampling and shipping timers. */
  start(): void {
    const guard = (what: string, run: () => Promise<unknown>) => () => {
      // One operation at a time: a slow /proc walk never overlaps the next one.
      this.#running = this.#running
        .then(run)
        .catch((err) => this.#log.warn({ err }, `wire: ${what} failed`));
    };
    this.#sampleTimer = setInterval(
      guard('sample', () => this.sample()),
      this.#intervalMs,
    );
    this.#shipTimer = setInterval(
      guard('ship', () => this.ship()),
      this.#shipIntervalMs,
    );
    this.#sampleTimer.unref();
    this.#shipTimer.unref();
  }

  /** Stops the timers and waits for a running sample or shipment. */
  async stop(): Promise<void> {
    clearInterval(this.#sampleTimer);
    clearInterval(this.#shipTimer);
    await this.#running;
  }
}

function nodeAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .map((i) => i.address);
}
