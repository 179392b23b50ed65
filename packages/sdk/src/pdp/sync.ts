import { setTimeout as sleep } from 'node:timers/promises';
import type { WatchEventV1 } from '@ward/api-types';
import { ExponentialBackoff, fullJitterGenerator, type IBackoff } from 'cockatiel';
import {
  type ControlPlaneRequestOptions,
  fetchBundle,
  fetchReplicaRevision,
  watch,
} from './control-plane.ts';
import { LagCheck } from './cross-check.ts';
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
/** Up to this fraction is added to a `Retry-After`, so a refused fleet does not return at once. */
const RETRY_AFTER_JITTER = 0.2;

/**
 * The control plane to try after `index`: the next in order that is not waiting out its
 * `Retry-After`; when all are, the one free soonest (the caller waits until then).
 */
export function nextPlane(index: number, notBefore: readonly number[], now: number): number {
  const n = notBefore.length;
  let soonest = (index + 1) % n;
  for (let k = 1; k <= n; k++) {
    const j = (index + k) % n;
    if (notBefore[j]! <= now) return j;
    if (notBefore[j]! < notBefore[soonest]!) soonest = j;
  }
  return soonest;
}

/**
 * Keeps the PDP's bundle current until `target.signal` aborts. One control plane at a time:
 * fetch the bundle (re-sync), then watch its revision stream and fetch again on each event that
 * concerns the service. On any failure it moves to the next control plane after a delay drawn by
 * cockatiel's exponential backoff with full jitter (uniform in [0, min(max, initial·2^n))), so a
 * fleet of PDPs that lost the same control plane does not reconnect in lockstep. A control plane
 * that answered `Retry-After` is skipped until then while another is free; one that lags another
 * (the cross-check, see LagCheck) is left at once for the fresher one.
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
  // Epoch ms before which a control plane that answered Retry-After is not asked again.
  const notBefore = planes.map(() => 0);
  // Set when the watched replica lags another: where to go next, at once.
  let moveTo: number | null = null;
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
    const lag = crossCheck(target, index, connection.signal, (plane, watched, fresher) => {
      if (connection.signal.aborted) return;
      failure = new PdpError(
        'PDP_REPLICA_STALE',
        `${url} lags: still at revision ${watched} while ${planes[plane]} is at ${fresher}`,
        { url },
      );
      moveTo = plane;
      connection.abort();
    });

    const onEvent = (event: WatchEventV1): void => {
      target.onEvent(event, url);
      lag?.seen(event.revision);
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
          onOpen(heartbeatMs) {
            openedAt = Date.now();
            target.onConnected(url);
            lag?.start(heartbeatMs);
          },
          onHeartbeat: (revision) => lag?.heartbeat(revision),
          onEvent,
          onBundle(envelope, revision) {
            lag?.seen(revision);
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
      lag?.stop();
      signal.removeEventListener('abort', stop);
      connection.abort();
      if (inflight) await inflight;
    }
    if (signal.aborted) break;
    target.onError(failure, url);
    const now = Date.now();
    const retryAfter = (failure as PdpError | null)?.retryAfterMs;
    if (retryAfter !== undefined) {
      notBefore[index] = now + retryAfter * (1 + RETRY_AFTER_JITTER * Math.random());
    }
    if (openedAt > 0 && now - openedAt >= HEALTHY_MS) backoff = factory.next();
    // A lagging replica is left at once for the one known fresher; otherwise backoff.
    const next: number = moveTo ?? nextPlane(index, notBefore, now);
    let delay = moveTo === null ? backoff.duration : 0;
    if (moveTo === null) backoff = backoff.next(undefined);
    moveTo = null;
    index = next;
    delay = Math.max(delay, notBefore[index]! - now);
    try {
      await sleep(delay, undefined, { signal });
    } catch {
      break; // closed while waiting
    }
  }
}

/** The lag check of one watch stream on `index`, or null (off, or a single control plane). */
function crossCheck(
  target: SyncTarget,
  index: number,
  connection: AbortSignal,
  onLag: (plane: number, watched: number, fresher: number) => void,
): LagCheck | null {
  const { crossCheck: c, controlPlanes } = target.opts;
  if (c === null) return null;
  return new LagCheck({
    others: controlPlanes.map((_, i) => i).filter((i) => i !== index),
    probe: (plane) =>
      fetchReplicaRevision(controlPlanes[plane]!, target.requestOptions(connection)),
    intervalMs: c.intervalMs,
    graceMs: c.graceMs,
    maxLagRevisions: c.maxLagRevisions,
    onLag,
  });
}
