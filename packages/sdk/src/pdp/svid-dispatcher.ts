/**
 * An undici dispatcher that authenticates to the control plane with the workload's X.509-SVID
 * (mTLS): the control plane maps the certificate's SPIFFE ID to the service, so the PDP needs no
 * token. Each new connection presents the SVID current at that moment, so rotation needs nothing
 * (open connections keep theirs until they close; the control plane ends a watch stream when the
 * certificate it was opened with expires, and the PDP reconnects with the new one).
 */
import { trustDomainOf } from '@ward/spiffe';
import type { Agent, Dispatcher } from 'undici';
import type { SpiffeIdMatcher } from '../identity/peer.ts';
import type { X509Svid } from '../identity/svid.ts';
import { spiffeServerIdentityCheck } from '../identity/tls.ts';
import { undici } from '../undici.ts';

/** Where the current SVID comes from: a `WorkloadIdentity`, or any object with an `svid` getter. */
export interface SvidSource {
  readonly svid: X509Svid;
}

/** How a PDP (or decision-log shipper) authenticates with its SVID. */
export interface SvidClientOptions {
  /** The workload's identity (`await workloadIdentity()`), read at each new connection. */
  source: SvidSource;
  /**
   * PEM roots that verify the control plane's serving certificate (checked against the URL's
   * host name as usual). Default: the SVID's own trust bundle, for a control plane whose
   * certificate the Ward CA issued.
   */
  serverCa?: string;
  /**
   * Verify the server as a SPIFFE workload instead of by host name: its SVID chain against the
   * trust bundle (or `serverCa`) and its SPIFFE ID (URI SAN, which Node never checks) against
   * this matcher. The resilient client (`createClient`) sets it per destination.
   */
  serverSpiffeId?: SpiffeIdMatcher;
}

/**
 * A dispatcher presenting the current SVID; see {@link SvidClientOptions}. Connections are never
 * shared across SVIDs: when the SVID changes, requests go to a fresh pool and the old pool is
 * closed once its requests finish (a kept-alive connection would otherwise keep presenting the
 * old certificate, which the control plane refuses once it has expired).
 */
export function svidDispatcher(options: SvidClientOptions, connections?: number): Dispatcher {
  SvidAgent ??= defineSvidAgent();
  return new SvidAgent(options, connections);
}

let SvidAgent: ReturnType<typeof defineSvidAgent> | undefined;

// Defined at first use: subclassing undici's Dispatcher at import time would load undici, which
// fills Node's global dispatcher slot (see ../undici.ts).
function defineSvidAgent() {
  const { Agent, Dispatcher } = undici();
  return class SvidAgent extends Dispatcher {
    readonly #options: SvidClientOptions;
    readonly #connections: number | undefined;
    #svid: X509Svid | undefined;
    #agent: Agent | undefined;

    constructor(options: SvidClientOptions, connections: number | undefined) {
      super();
      this.#options = options;
      this.#connections = connections;
    }

    #current(): Agent {
      const svid = this.#options.source.svid;
      if (svid !== this.#svid || !this.#agent) {
        const old = this.#agent;
        this.#svid = svid;
        this.#agent = new Agent({
          ...(this.#connections ? { connections: this.#connections } : {}),
          connect: {
            key: svid.keyPem,
            cert: svid.certChainPem,
            ca: this.#options.serverCa ?? svid.bundlePem,
            minVersion: 'TLSv1.2',
            // A resumed session would carry the old certificate.
            maxCachedSessions: 0,
            ...(this.#options.serverSpiffeId === undefined
              ? {}
              : {
                  rejectUnauthorized: true,
                  checkServerIdentity: spiffeServerIdentityCheck(
                    this.#options.serverSpiffeId,
                    trustDomainOf(svid.spiffeId),
                  ),
                }),
          },
        });
        old?.close().catch(() => {});
      }
      return this.#agent;
    }

    override dispatch(
      opts: Dispatcher.DispatchOptions,
      handler: Dispatcher.DispatchHandler,
    ): boolean {
      return this.#current().dispatch(opts, handler);
    }

    override close(): Promise<void>;
    override close(callback: () => void): void;
    override close(callback?: () => void): Promise<void> | void {
      const done = this.#agent ? this.#agent.close() : Promise.resolve();
      if (!callback) return done;
      void done.then(callback, callback);
    }

    override destroy(): Promise<void>;
    override destroy(error: Error | null): Promise<void>;
    override destroy(callback: () => void): void;
    override destroy(error: Error | null, callback: () => void): void;
    override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
      const error = typeof a === 'function' ? null : (a ?? null);
      const callback = typeof a === 'function' ? a : b;
      const done = this.#agent ? this.#agent.destroy(error) : Promise.resolve();
      if (!callback) return done;
      void done.then(callback, callback);
    }
  };
}
