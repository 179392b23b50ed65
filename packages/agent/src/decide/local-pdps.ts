/**
 * One PDP per service of the node, fed in-process from the agent's bundle stream: the policy
 * decision points behind the local decision API (and Envoy ext_authz), for services in any
 * language. Each is the SDK's own PDP (`createPdp({ bundleFeed })`): it verifies every bundle
 * with the bundle public key, exactly as a PDP in a Node service does, so the agent decides only
 * from bundles the control plane signed.
 *
 * A PDP is created when the first bundle of a service with a registration entry on this node
 * arrives, and closed when the service's entries leave the node (its bundle may stay in the
 * feed a moment longer; it is no longer decided from).
 */
import type { DecisionRecorder, Pdp } from '@ward/sdk';
import { createPdp, Enforcer } from '@ward/sdk';
import type { Logger } from 'pino';
import type { BundleFeed } from '../bundle-feed.ts';
import type { SvidManager } from '../svid-manager.ts';

/** What LocalPdps needs. */
export interface LocalPdpsOptions {
  feed: BundleFeed;
  manager: Pick<SvidManager, 'entries' | 'on' | 'off'>;
  /** The control plane's bundle public key(s) (base64url raw Ed25519 or PEM). */
  publicKey: string | readonly string[];
  /** Where the enforcers record their decisions (the agent's decision-log shipper). */
  log?: DecisionRecorder;
  logger: Logger;
}

interface Local {
  pdp: Pdp;
  enforcer: Enforcer;
  /** Set by the PDP's subscription: hands it each new envelope. */
  push: ((envelope: unknown) => void) | undefined;
}

export class LocalPdps {
  readonly #opts: LocalPdpsOptions;
  readonly #local = new Map<string, Local>();
  readonly #closing = new Set<Promise<void>>();
  #closed = false;

  constructor(options: LocalPdpsOptions) {
    this.#opts = options;
    options.feed.on('bundle', this.#onBundle);
    options.manager.on('update', this.#onEntries);
    this.#onEntries();
  }

  /** The enforcer of `service` (a service key), when the node holds a PDP for it. */
  enforcerFor(service: string): Enforcer | undefined {
    return this.#local.get(service)?.enforcer;
  }

  /** The PDP of `service`, when the node holds one. */
  pdpFor(service: string): Pdp | undefined {
    return this.#local.get(service)?.pdp;
  }

  /** The SPIFFE ID of `service`'s workloads, from its bundle (undefined: no bundle held). */
  spiffeIdOf(service: string): string | undefined {
    return this.#opts.feed.get(service)?.spiffeId;
  }

  /** The services with a PDP now. */
  services(): string[] {
    return [...this.#local.keys()];
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#opts.feed.off('bundle', this.#onBundle);
    this.#opts.manager.off('update', this.#onEntries);
    for (const service of [...this.#local.keys()]) this.#drop(service);
    await Promise.all([...this.#closing]);
  }

  #onNode(): Set<string> {
    return new Set(this.#opts.manager.entries.map((e) => e.spiffeId));
  }

  readonly #onBundle = (service: string): void => {
    const held = this.#opts.feed.get(service);
    if (!held) return;
    const local = this.#local.get(service);
    if (local) local.push?.(held.bundle);
    else if (this.#onNode().has(held.spiffeId)) this.#create(service);
  };

  /** Entries changed: drop the PDPs of services that left, create those of services that came. */
  readonly #onEntries = (): void => {
    const ids = this.#onNode();
    for (const service of [...this.#local.keys()]) {
      const id = this.spiffeIdOf(service);
      if (id === undefined || !ids.has(id)) this.#drop(service);
    }
    for (const { service } of this.#opts.feed.revisions()) {
      const id = this.spiffeIdOf(service);
      if (!this.#local.has(service) && id !== undefined && ids.has(id)) this.#create(service);
    }
  };

  #create(service: string): void {
    if (this.#closed) return;
    const { feed, publicKey, logger, log } = this.#opts;
    const local = { push: undefined } as unknown as Local;
    local.pdp = createPdp({
      service,
      publicKey,
      bundleFeed: {
        name: 'agent',
        subscribe: (listener) => {
          local.push = listener;
          const held = feed.get(service);
          if (held) listener(held.bundle);
          return () => {
            local.push = undefined;
          };
        },
      },
      // In memory only: the agent's stream is its cache, and it reports for its node.
      revisionFloor: false,
      statusIntervalMs: 0,
      logger,
    });
    local.enforcer = new Enforcer({ decider: local.pdp, service, ...(log ? { log } : {}) });
    this.#local.set(service, local);
    logger.info({ service }, 'local PDP started');
  }

  #drop(service: string): void {
    const local = this.#local.get(service);
    if (!local) return;
    this.#local.delete(service);
    const closing = local.pdp.close().finally(() => this.#closing.delete(closing));
    this.#closing.add(closing);
    this.#opts.logger.info({ service }, 'service left the node; its local PDP closed');
  }
}
