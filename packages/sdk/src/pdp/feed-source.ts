/**
 * Bundle source "in-process feed": the PDP takes its bundles from an object in the same process
 * that already holds them — the node agent, which runs one PDP per local service for its
 * decision API and holds one control-plane stream for the whole node. No socket, no request.
 *
 * As with the agent socket (agent-source.ts), the feed is a relay, not a trust anchor: every
 * envelope goes through the PDP's one `install` (signature against the PDP's own keys, service,
 * revision), so whoever fills the feed can neither forge nor roll back a bundle.
 */
import type { SyncTarget } from './sync.ts';

/** Where an in-process PDP (`createPdp({ bundleFeed })`) takes its bundles. */
export interface PdpBundleFeed {
  /** Names the feed in `status().source` and logs, e.g. `agent`. */
  readonly name: string;
  /**
   * Calls `listener` with the signed envelope held now (if any) and then with each new one, until
   * the returned function is called.
   */
  subscribe(listener: (envelope: unknown) => void): () => void;
}

/** Installs each envelope of `target.opts.bundleFeed` until `target.signal` aborts. */
export async function startFeedSource(target: SyncTarget): Promise<void> {
  const { opts, signal } = target;
  const feed = opts.bundleFeed!;
  const source = feed.name;
  target.onConnected(source);
  const unsubscribe = feed.subscribe((envelope) => {
    if (signal.aborted) return;
    target.install(envelope, source);
    target.onSynced(source);
  });
  try {
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    unsubscribe();
  }
}
