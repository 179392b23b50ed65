import type {
  BundlePassportV1,
  PassportKeyV1,
  SignedBundleV1,
  WatchEventV1,
} from '@ward/api-types';
import { BundleError, verifyBundle } from '@ward/bundle';
import {
  type Decision,
  type DecisionInput,
  type PolicyDocument,
  RequestProblem,
  refusedDecision,
  tryCanonicalDecisionRequest,
} from '@ward/policy';
import type { Registry } from 'prom-client';
import { undici } from '../undici.ts';
import { startAgentSource } from './agent-source.ts';
import { ensureCacheDir, readCache, writeCache } from './cache.ts';
import type { ControlPlaneRequestOptions } from './control-plane.ts';
import { PdpError } from './errors.ts';
import { startFeedSource } from './feed-source.ts';
import { type LoadedBundle, loadBundle } from './loaded.ts';
import { createPdpRegistry, registerPdpMetrics } from './metrics.ts';
import { type PdpOptions, type ResolvedPdpOptions, resolvePdpOptions } from './options.ts';
import { startStatusReporter } from './status-report.ts';
import { svidDispatcher } from './svid-dispatcher.ts';
import { type SyncTarget, startSync } from './sync.ts';

/** A decision input whose destination defaults to the PDP's own service. */
export type PdpDecisionInput = Omit<DecisionInput, 'destination'> & { destination?: string };

/** What `pdp.status()` reports; every field is a snapshot. */
export interface PdpStatus {
  service: string;
  /** A bundle is loaded (from the cache or a control plane). */
  ready: boolean;
  /** Revision of the bundle in use, `null` before the first one. */
  revision: number | null;
  /** Content hash of the bundle in use (its ETag). */
  hash: string | null;
  /** Milliseconds since the control plane issued the bundle in use. */
  bundleAgeMs: number | null;
  /** `cache`, or the URL of the control plane the bundle in use came from. */
  source: string | null;
  /** ISO time the bundle in use was swapped in. */
  loadedAt: string | null;
  /** URL of the control plane whose watch stream is open, if any. */
  connected: string | null;
  lastError: { code: string; message: string; at: string } | null;
  /**
   * True while decisions deny because of `maxStaleness`: no control plane reachable, and the
   * bundle in use older than the limit.
   */
  stale: boolean;
  /** Highest revision accepted so far (the revision floor), `null` without a floor store. */
  revisionFloor: number | null;
  /** Refused bundles since start, by code (`BUNDLE_*`, `PDP_COMPILE_FAILED`, `PDP_CACHE_UNREADABLE`). */
  rejected: Record<string, number>;
  /** Decisions since start. */
  decisions: { allow: number; deny: number; dryRun: number };
  /** The id this PDP reports its status under (`ward status`), null when it does not report. */
  instance: string | null;
}

/** A running policy decision point: decides locally from the last good bundle. */
export interface Pdp {
  readonly service: string;
  /**
   * Synchronous, allocation-light decision from the bundle in use; never throws. Before any bundle
   * was loaded it denies (`rule: null`, `enforced: true`) and says why in `reason`.
   */
  decide(input: PdpDecisionInput): Decision;
  /**
   * `decide` for an input the caller already put in canonical form (the middleware does); skips
   * the check `decide` makes on hand-written requests.
   */
  decideCanonical(input: PdpDecisionInput): Decision;
  /**
   * Resolves once a first bundle is loaded (from cache or control plane); rejects on `close()`
   * before, and with `PDP_NOT_READY` after `readyTimeoutMs` when that option is set.
   */
  readonly ready: Promise<void>;
  /**
   * Like `ready`, but settles within `timeoutMs`: rejects with `PDP_NOT_READY` if no bundle has
   * loaded by then. The PDP keeps trying either way (a later bundle still makes it ready).
   */
  waitReady(options: { timeoutMs: number }): Promise<void>;
  status(): PdpStatus;
  /** Revision of the bundle in use; 0 before the first one. */
  revision(): number;
  /** Passport verification keys of the bundle in use; a new array whenever the bundle changes. */
  passportKeys(): readonly PassportKeyV1[];
  /** Passport settings of the bundle in use (zone, lifetime, verify/mint); see BundlePassportV1. */
  passportPolicy(): BundlePassportV1 | undefined;
  /**
   * Every document of the bundle in use, including kinds the policy engine does not compile
   * (a gateway's `Gateway` and `Route`); an empty array before the first bundle. Frozen; a new
   * array whenever the bundle changes.
   */
  documents(): readonly PolicyDocument[];
  /** Trust domain of the bundle in use; undefined before the first one. */
  trustDomain(): string | undefined;
  /**
   * Calls `listener` after each bundle swap (the cache load included), with the new revision;
   * `documents()` then returns the new bundle's documents. A listener that throws is logged and
   * does not stop the others. Returns the unsubscribe function.
   */
  onUpdate(listener: (revision: number) => void): () => void;
  /** Service name that a `Service` document of the bundle declares for a SPIFFE ID. */
  serviceForSpiffeId(spiffeId: string): string | undefined;
  /** Prometheus registry holding the `ward_pdp_*` metrics (the one given in options, if any). */
  metrics(): Registry;
  /** Stops watching, cancels requests and timers, waits for the cache write; idempotent. */
  close(): Promise<void>;
}

const EMPTY_KEYS: readonly PassportKeyV1[] = Object.freeze([]);
const EMPTY_DOCUMENTS: readonly PolicyDocument[] = Object.freeze([]);
// Index into the decision counters: (effect === 'allow' ? 1 : 0) | (enforced ? 2 : 0).
const ALLOW = 1;
const ENFORCED = 2;

/**
 * Starts a PDP for `service`. It loads the last good bundle from `cacheDir` at once (so it decides
 * even when no control plane answers), then keeps it current: it watches a control plane's
 * revision stream, fetches its bundle when it changes, verifies the signature, service and
 * revision, compiles it and swaps it in atomically. Refused bundles are logged and counted, and
 * the PDP keeps the one it has. It fails over between `controlPlanes` with exponential backoff
 * and full jitter.
 *
 * @example
 * ```ts
 * const pdp = createPdp({
 *   service: 'orders',
 *   controlPlanes: ['https://ward-a:8443', 'https://ward-b:8443'],
 *   publicKey: process.env.WARD_BUNDLE_KEY!,
 *   token: process.env.WARD_TOKEN,
 *   cacheDir: '/var/cache/ward',
 * });
 * const d = pdp.decide({ source: { service: 'checkout' }, request: { method: 'GET', path: '/orders/1' } });
 * if (!d.allowed) reply.code(403).send({ reason: d.reason });
 * ```
 */
export function createPdp(options: PdpOptions): Pdp {
  const opts: ResolvedPdpOptions = resolvePdpOptions(options);
  const { service, logger } = opts;
  const notReady: Decision = Object.freeze({
    effect: 'deny',
    enforced: true,
    allowed: false,
    rule: null,
    reason: `denied: no policy bundle for ${service} has been loaded yet (no cache, and no control plane answered)`,
  });
  const counts = new Float64Array(4);
  const rejected = new Map<string, number>();
  let current: LoadedBundle | null = null;
  const listeners = new Set<(revision: number) => void>();
  let lastError: PdpStatus['lastError'] = null;
  let connected: string | null = null;
  let closed = false;
  let cacheWrite: Promise<void> = Promise.resolve();
  // Highest revision accepted, as persisted in the floor store; bundles below it are refused.
  let floor = 0;
  let floorBroken = false;
  // Epoch ms of the last time a control plane confirmed the bundle in use (for maxStaleness).
  let lastContact = 0;
  let staleFor: LoadedBundle | null = null;
  let staleDecision: Decision = notReady;
  let resolveReady!: () => void;
  let rejectReady!: (error: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  // Nobody has to await `ready`; without this, close() before a first bundle would be an
  // unhandled rejection that crashes the service.
  ready.catch(() => {});
  let loadedOnce = false;
  ready.then(
    () => {
      loadedOnce = true;
    },
    () => {},
  );
  const waitReady = ({ timeoutMs }: { timeoutMs: number }): Promise<void> =>
    loadedOnce ? Promise.resolve() : withTimeout(ready, timeoutMs, service);
  const readyOut = opts.readyTimeoutMs > 0 ? waitReady({ timeoutMs: opts.readyTimeoutMs }) : ready;
  readyOut.catch(() => {});

  const recordError = (error: unknown): void => {
    const e = error as { code?: string; message?: string };
    const code = typeof e?.code === 'string' ? e.code : 'PDP_WATCH_FAILED';
    lastError = { code, message: String(e?.message ?? error), at: new Date().toISOString() };
  };
  const reject = (error: unknown, source: string): void => {
    recordError(error);
    const code = lastError!.code;
    rejected.set(code, (rejected.get(code) ?? 0) + 1);
    logger.warn(
      { service, source, code, error: lastError!.message },
      'bundle refused; keeping the bundle in use',
    );
  };

  /**
   * Keeps a bundle accepted from a control plane: the cache file first, then the raised floor
   * (so a crash in between leaves a cache at or above the floor). One write at a time, in order.
   */
  const persist = (loaded: LoadedBundle): void => {
    const revision = loaded.bundle.revision;
    const floorStore = opts.floor;
    const raise = floorStore !== undefined && (revision > floor || floorBroken);
    if (raise) {
      floor = revision;
      floorBroken = false;
    }
    const dir = opts.cacheDir;
    if (dir === undefined && !raise) return;
    cacheWrite = cacheWrite.then(async () => {
      if (dir !== undefined && current === loaded) {
        await writeCache(dir, service, loaded.envelope).catch((error) => {
          recordError(error);
          logger.warn({ service, error: (error as Error).message }, 'cannot write bundle cache');
        });
      }
      if (raise) {
        // Through a promise even if a caller's store throws synchronously.
        await Promise.resolve()
          .then(() => floorStore.write(service, revision))
          .catch((cause) => {
            const error = new PdpError(
              'PDP_FLOOR_WRITE_FAILED',
              `cannot write the revision floor ${revision}: ${(cause as Error)?.message ?? cause}`,
              { cause },
            );
            recordError(error);
            logger.warn({ service, error: error.message }, 'cannot write revision floor');
          });
      }
    });
  };

  /** Verifies, compiles and swaps in an envelope; returns whether the bundle in use changed. */
  const install = (envelope: unknown, source: string): boolean => {
    const held = current;
    if (held && (envelope as SignedBundleV1 | null)?.hash === held.envelope.hash) return false;
    let loaded: LoadedBundle;
    try {
      const bundle = verifyBundle(envelope, {
        keys: opts.keys,
        service,
        currentRevision: held?.bundle.revision,
      });
      if (bundle.revision < floor) {
        throw new PdpError(
          'PDP_REVISION_ROLLBACK',
          `bundle revision ${bundle.revision} from ${source} is older than revision ${floor}, which this PDP already accepted`,
        );
      }
      loaded = loadBundle(envelope as SignedBundleV1, bundle, source);
    } catch (error) {
      if (error instanceof BundleError || error instanceof PdpError) {
        reject(error, source);
        return false;
      }
      throw error;
    }
    if (closed) return false;
    current = loaded; // the swap: decide() reads `current` once per call
    resolveReady();
    logger.info?.(
      { service, revision: loaded.bundle.revision, source, hash: loaded.envelope.hash },
      'policy bundle in use',
    );
    if (source !== 'cache') persist(loaded);
    for (const listener of [...listeners]) {
      try {
        listener(loaded.bundle.revision);
      } catch (error) {
        logger.warn(
          { service, error: String((error as Error)?.message ?? error) },
          'bundle update listener failed',
        );
      }
    }
    return true;
  };

  // 0. The revision floor, before the cache is trusted: an unreadable floor keeps the cache out.
  if (opts.floor !== undefined) {
    try {
      const read = opts.floor.read(service) ?? 0;
      if (!Number.isSafeInteger(read) || read < 0) {
        throw new PdpError('PDP_FLOOR_UNREADABLE', `revision floor store returned ${read}`);
      }
      floor = read;
    } catch (error) {
      floorBroken = true;
      reject(error, 'floor');
    }
  }

  // 1. The disk cache, synchronously, so decide() works as soon as createPdp returns.
  if (opts.cacheDir !== undefined && !floorBroken) {
    try {
      ensureCacheDir(opts.cacheDir);
    } catch (cause) {
      // Not fatal: the PDP runs, it just cannot keep a copy (status and logs say so).
      const error = new PdpError('PDP_CACHE_WRITE_FAILED', `cannot create ${opts.cacheDir}`, {
        cause,
      });
      recordError(error);
      logger.warn({ service, error: error.message }, 'bundle cache unavailable');
    }
    let cached: unknown;
    try {
      cached = readCache(opts.cacheDir, service);
    } catch (error) {
      reject(error, 'cache');
    }
    if (cached !== undefined) install(cached, 'cache');
  }

  // 2. The control planes, in the background.
  const dispatcher =
    opts.dispatcher ??
    (opts.svid ? svidDispatcher(opts.svid, 4) : new (undici().Agent)({ connections: 4 }));
  const abort = new AbortController();
  const requestOptions = (signal: AbortSignal): ControlPlaneRequestOptions => ({
    token: opts.token(),
    dispatcher,
    watchDispatcher: opts.watchDispatcher ?? dispatcher,
    signal,
    requestTimeoutMs: opts.requestTimeoutMs,
    readTimeoutMs: opts.readTimeoutMs,
    maxBundleBytes: opts.maxBundleBytes,
  });
  const target: SyncTarget = {
    opts,
    signal: abort.signal,
    requestOptions,
    revision: () => current?.bundle.revision ?? null,
    etag: () => current?.envelope.hash,
    install,
    wants: (event: WatchEventV1) =>
      event.revision > (current?.bundle.revision ?? -1) &&
      (event.services.includes(service) || event.services.includes('*')),
    onConnected(url) {
      connected = url;
      lastContact = Date.now();
      logger.debug?.({ service, url }, 'watching control plane');
    },
    onSynced() {
      lastContact = Date.now();
    },
    onEvent(event, url) {
      logger.debug?.(
        { service, url, revision: event.revision, services: event.services },
        'watch event',
      );
    },
    onError(error, url) {
      if (connected !== null) lastContact = Date.now(); // the stream was current until now
      connected = null;
      if (closed) return;
      recordError(error);
      logger.warn(
        { service, url, code: lastError!.code, error: lastError!.message },
        'control plane unavailable',
      );
    },
    onMalformed(error, url) {
      recordError(error);
      logger.warn({ service, url, error: error.message }, 'malformed watch event ignored');
    },
  };
  // Bundles from an in-process feed, the node agent, or straight from the control planes.
  const sync =
    opts.bundleFeed !== undefined
      ? startFeedSource(target)
      : opts.agentSocket !== undefined
        ? startAgentSource(target)
        : startSync(target);
  // The status heartbeat goes to the control plane watched last (else the first one).
  let reportTo = opts.controlPlanes[0];
  const instance =
    opts.statusIntervalMs > 0 && reportTo !== undefined
      ? startStatusReporter({
          intervalMs: opts.statusIntervalMs,
          service,
          target: () => {
            if (connected !== null) reportTo = connected;
            return reportTo!;
          },
          snapshot: () => {
            const held = current;
            if (held === null) return undefined;
            return {
              revision: held.bundle.revision,
              bundleAt: new Date(held.issuedAt).toISOString(),
              connected: connected !== null,
              decisions: {
                allowed: counts[ALLOW | ENFORCED]! + counts[ALLOW]!,
                denied: counts[ENFORCED]!,
                dryRunDenied: counts[0]!,
              },
            };
          },
          request: requestOptions,
          ready,
          signal: abort.signal,
          logger,
        })
      : null;

  let registry: Registry | undefined;
  const metricsSource = {
    revision: () => current?.bundle.revision ?? null,
    bundleIssuedAt: () => current?.issuedAt ?? null,
    connected: () => connected !== null,
    rejected: () => rejected,
    decisionCounts: () => counts,
  };
  if (opts.registry) {
    registry = opts.registry;
    registerPdpMetrics(registry, metricsSource);
  }

  /** Whether the bundle in use has outlived `maxStaleness` with no control plane to vouch for it. */
  const staleness = opts.maxStaleness;
  const isStale = (held: LoadedBundle): boolean =>
    Date.now() - Math.max(held.issuedAt, lastContact) > staleness;
  const staleDecisionFor = (held: LoadedBundle): Decision => {
    if (staleFor !== held) {
      staleFor = held;
      staleDecision = Object.freeze({
        effect: 'deny',
        enforced: true,
        allowed: false,
        rule: null,
        reason: `denied: the policy bundle of ${service} (revision ${held.bundle.revision}, issued ${held.bundle.issuedAt}) is older than maxStaleness (${staleness} ms) and no control plane has confirmed it since`,
      });
    }
    return staleDecision;
  };

  /** The decision; `canonicalise` puts a hand-written request in the middleware's form first. */
  const decideWith = (input: PdpDecisionInput, canonicalise: boolean): Decision => {
    const held = current;
    let decision: Decision;
    if (held === null) {
      decision = notReady;
    } else if (staleness > 0 && connected === null && isStale(held)) {
      decision = staleDecisionFor(held);
    } else {
      try {
        // A hand-written request is split and normalised as the middleware's is (a path with
        // `?…` decides on the path alone); the middleware's own input is already canonical
        // (`decideCanonical`), and an already canonical one costs one scan of the path to see.
        const request = input.request;
        const canonical =
          request === undefined || !canonicalise ? request : tryCanonicalDecisionRequest(request);
        if (canonical instanceof RequestProblem) {
          decision = refusedDecision(canonical);
        } else {
          decision = held.policy.decide(
            input.destination === undefined || canonical !== request
              ? { ...input, destination: input.destination ?? service, request: canonical }
              : (input as DecisionInput),
          );
        }
      } catch (error) {
        // The engine must not throw; if it does, fail closed and say so rather than crash.
        decision = {
          effect: 'deny',
          enforced: true,
          allowed: false,
          rule: null,
          reason: `denied: policy evaluation failed: ${(error as Error)?.message ?? error}`,
        };
      }
    }
    counts[(decision.effect === 'allow' ? ALLOW : 0) | (decision.enforced ? ENFORCED : 0)]!++;
    return decision;
  };

  return {
    service,
    ready: readyOut,
    waitReady,
    decide(input: PdpDecisionInput): Decision {
      return decideWith(input, true);
    },
    decideCanonical(input: PdpDecisionInput): Decision {
      return decideWith(input, false);
    },
    status(): PdpStatus {
      const held = current;
      return {
        service,
        ready: held !== null,
        revision: held?.bundle.revision ?? null,
        hash: held?.envelope.hash ?? null,
        bundleAgeMs: held ? Math.max(0, Date.now() - held.issuedAt) : null,
        source: held?.source ?? null,
        loadedAt: held ? new Date(held.loadedAt).toISOString() : null,
        connected,
        lastError,
        stale: held !== null && staleness > 0 && connected === null && isStale(held),
        revisionFloor: opts.floor === undefined ? null : floor,
        rejected: Object.fromEntries(rejected),
        decisions: {
          allow: counts[ALLOW | ENFORCED]! + counts[ALLOW]!,
          deny: counts[ENFORCED]! + counts[0]!,
          dryRun: counts[0]! + counts[ALLOW]!,
        },
        instance,
      };
    },
    revision: () => current?.bundle.revision ?? 0,
    passportKeys: () => current?.passportKeys ?? EMPTY_KEYS,
    passportPolicy: () => current?.bundle.passport,
    documents: () => current?.documents ?? EMPTY_DOCUMENTS,
    trustDomain: () => current?.bundle.trustDomain,
    onUpdate(listener: (revision: number) => void): () => void {
      if (typeof listener !== 'function')
        throw new TypeError('onUpdate: listener must be a function');
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    serviceForSpiffeId: (spiffeId: string) => current?.policy.serviceBySpiffeId(spiffeId)?.name,
    metrics(): Registry {
      registry ??= createPdpRegistry(metricsSource);
      return registry;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      abort.abort();
      if (current === null) {
        rejectReady(
          new PdpError('PDP_CLOSED', `PDP for ${service} closed before a bundle was loaded`),
        );
      }
      await sync.catch(() => {});
      connected = null;
      await cacheWrite;
      if (!opts.dispatcher) await dispatcher.close();
    },
  };
}

/** `ready`, or a `PDP_NOT_READY` rejection after `timeoutMs`, whichever comes first. */
function withTimeout(ready: Promise<void>, timeoutMs: number, service: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new PdpError(
            'PDP_NOT_READY',
            `PDP for ${service} has no bundle after ${timeoutMs} ms: no control plane answered and no cache was usable`,
          ),
        ),
      timeoutMs,
    );
    timer.unref();
  });
  return Promise.race([ready, timeout]).finally(() => clearTimeout(timer));
}
