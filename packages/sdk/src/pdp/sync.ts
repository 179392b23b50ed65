import { setTimeout as sleep } from 'node:timers/promises';
import type { WatchEventV1 } from '@ward/api-types';
import { ExponentialBackoff, fullJitterGenerator, type IBackoff } from 'cockatiel';
import { type ControlPlaneRequestOptions, fetchBundle, watch } from './control-plane.ts';
import { PdpError } from './errors.ts';
import type { ResolvedPdpOptions } from './options.ts';

/** What the sync loop needs from the PDP that owns it. */
export interface SyncTarget {
  opts: ResolvedPdpOptions;
  /** Aborted by `close()`. */
  signal: AbortSignal;
  requestOptions(signal: AbortSignal): ControlPlaneRequestOptions;
  /** Revision of the bundle in use, or null. */
  revision(): number | null;
  /** Content hash of the bundle in use, for If-None-Match. */
  etag(): string | undefined;
  /** Verifies and swaps in an envelope (refusals are recorded by the PDP, never thrown). */
  install(envelope: unknown, source: string): boolean;
  /** Whether an event may change this PDP's bundle. */
  wants(event: WatchEventV1): boolean;
  onConnected(url: string): void;
  /** A control plane answered a bundle fetch (new bundle or 304): the bundle in use is current. */
  onSynced(url: string): void;
  /** Every well-formed event, before filtering (for debug logs). */
  onEvent(event: WatchEventV1, url: string): void;
  onError(error: unknown, url: string): void;
  onMalformed(error: PdpError, url: string): void;
}

/** A connection that stayed open this long was healthy: the next failure starts a fresh backoff. */
const HEALTHY_MS = 1000;

/**
 * Keeps the PDP's bundle current until `target.signal` aborts. One control plane at a time:
 * fetch the bundle (re-sync), then watch its revision stream and fetch again on each event that
 * concerns the service. On any failure it moves to the next control plane after a delay drawn by
 * cockatiel's exponential backoff with full jitter (uniform in [0, min(max, initial·2^n))), so a
 * fleet of PDPs that lost the same control plane does not reconnect in lockstep.
 */
export async function startSync(target: SyncTarget): Promise<void> {
  const { opts, signal } = target;
  const planes = opts.controlPlanes;
  const factory = new ExponentialBackoff({
    generator: fullJitterGenerator,
    initialDelay: opts.backoffInitialMs,
    maxDelay: opts.backoffMaxMs,
  });
  let backoff: IBackoff<unknown> = factory.next();
  let index = 0;
  // Highest event revision whose fetch completed: where a new watch resumes from.
  let synced = 0;

  const resync = async (url: string, connection: AbortSignal): Promise<void> => {
    const result = await fetchBundle(
      url,
      opts.service,
      target.etag(),
      target.requestOptions(connection),
    );
    if (signal.aborted) return;
    if (result.changed) target.install(result.envelope, url);
    target.onSynced(url);
  };

  while (!signal.aborted) {
    const url = planes[index]!;
    const connection = new AbortController();
    const stop = () => connection.abort();
    signal.addEventListener('abort', stop, { once: true });
    let openedAt = 0;
    let failure: unknown = null;
    let inflight: Promise<void> | null = null;
    let again = false;
    let pendingRevision = 0;

    const onEvent = (event: WatchEventV1): void => {
      target.onEvent(event, url);
      if (!target.wants(event)) {
        synced = Math.max(synced, event.revision);
        return;
      }
      pendingRevision = Math.max(pendingRevision, event.revision);
      if (inflight) {
        again = true; // coalesce: one more fetch after the current one covers every event since
        return;
      }
      inflight = (async () => {
        do {
          again = false;
          const upTo = pendingRevision;
          await resync(url, connection.signal);
          synced = Math.max(synced, upTo);
        } while (again && !connection.signal.aborted);
      })()
        .catch((error: unknown) => {
          // The stream is up but the bundle cannot be fetched: drop this control plane and let
          // the loop fail over (its first step is a fresh fetch anyway).
          if (!connection.signal.aborted) {
            failure = error;
            connection.abort();
          }
        })
        .finally(() => {
          inflight = null;
        });
    };

    try {
      await resync(url, connection.signal);
      const since = Math.max(target.revision() ?? 0, synced);
      await watch(
        url,
        opts.service,
        since,
        {
          onOpen() {
            openedAt = Date.now();
            target.onConnected(url);
          },
          onEvent,
          onBundle(envelope, revision) {
            target.onEvent({ revision, services: [opts.service] }, url);
            if (!signal.aborted) target.install(envelope, url);
            synced = Math.max(synced, revision);
          },
          onMalformed: (error) => target.onMalformed(error, url),
        },
        target.requestOptions(connection.signal),
      );
      failure ??= new PdpError('PDP_WATCH_FAILED', `${url} ended the watch stream`, { url });
    } catch (error) {
      if (!signal.aborted) failure ??= error;
    } finally {
      signal.removeEventListener('abort', stop);
      connection.abort();
      if (inflight) await inflight;
    }
    if (signal.aborted) break;
    target.onError(failure, url);
    if (openedAt > 0 && Date.now() - openedAt >= HEALTHY_MS) backoff = factory.next();
    index = (index + 1) % planes.length;
    const delay = backoff.duration;
    backoff = backoff.next(undefined);
    try {
      await sleep(delay, undefined, { signal });
    } catch {
      break; // closed while waiting
    }
  }
}
