import { type BundlePublicKey, importPublicKey } from '@ward/bundle';
import { canonicalServiceKey } from '@ward/spiffe';
import type { Registry } from 'prom-client';
import type { Dispatcher } from 'undici';
import type { PdpBundleFeed } from './feed-source.ts';
import { fileFloorStore, type RevisionFloorStore } from './floor.ts';
import type { SvidClientOptions } from './svid-dispatcher.ts';

/**
 * Where the PDP reports what happens to it. The argument order is pino's (`fields, message`), so
 * a Fastify or pino logger can be passed as is; without one, warnings go to `console.warn`.
 */
export interface PdpLogger {
  debug?(fields: object, message: string): void;
  info?(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error?(fields: object, message: string): void;
}

/** Options of {@link createPdp}. */
export interface PdpOptions {
  /**
   * The service this PDP decides for, the destination of its bundle: its key, `orders` or
   * `shop/orders` outside the default namespace (`default/orders` is read as `orders`).
   */
  service: string;
  /**
   * Control-plane base URLs, tried in order; the PDP fails over to the next on any failure.
   * Required unless `agentSocket` is given (then not allowed).
   */
  controlPlanes?: string | readonly string[];
  /**
   * Take bundles from the node agent instead (`ward agent`'s Workload API socket, e.g.
   * `/run/ward/agent.sock`; a `unix:` prefix is allowed): the agent holds one control-plane
   * stream for the whole node and hands this workload its own service's bundle. The PDP still
   * verifies every bundle with `publicKey` and keeps its revision floor and cache, so the agent
   * can neither forge nor roll back a bundle. Not with `controlPlanes`, `token`, `svid` or
   * `dispatcher` (the agent identifies the workload by its process credentials).
   */
  agentSocket?: string;
  /**
   * Take bundles from an object of this process that already holds them (the node agent's
   * local PDPs): see {@link PdpBundleFeed}. Every bundle is still verified with `publicKey`.
   * Not with `controlPlanes`, `agentSocket`, `token`, `svid` or `dispatcher`.
   */
  bundleFeed?: PdpBundleFeed;
  /**
   * The control plane's bundle public key(s): base64url raw Ed25519 (as `ward server` prints it)
   * or PEM. Several during a key rotation. Never fetched from the control plane: a key learnt
   * over the same channel as the bundles would not protect against that channel.
   */
  publicKey: string | readonly string[];
  /**
   * Bearer token (scope `pdp`, bound to this service), or a function read before each request
   * (for rotation). For development; in production use `svid`.
   */
  token?: string | (() => string | undefined);
  /**
   * Authenticate with the workload's X.509-SVID over mTLS instead of a token (the normal path):
   * the control plane (HTTPS, started with a client CA) maps its SPIFFE ID to the service. The
   * current SVID is presented on each new connection, so rotation needs nothing. Not with
   * `token` or `dispatcher` (which would bypass it); `controlPlanes` must be https.
   *
   * @example
   * ```ts
   * const identity = await workloadIdentity();
   * createPdp({ service: 'orders', controlPlanes: 'https://ward:8181', publicKey, svid: { source: identity } });
   * ```
   */
  svid?: SvidClientOptions;
  /**
   * Folder for the last good bundle (created with mode 0700; the file is 0600). Strongly
   * recommended: without it, a restart while the control plane is down starts with no policy and
   * denies everything.
   */
  cacheDir?: string;
  /**
   * Where the PDP remembers the highest revision it has accepted (the "revision floor"): a
   * folder (one 0600 file per service, written atomically), or a store of your own. A bundle
   * older than the floor is refused, from the cache (`PDP_REVISION_ROLLBACK`: the PDP stays not
   * ready rather than enforce it) or from a control plane. Default: `cacheDir` (a separate file
   * from the cache). Put it on another folder than the cache (one the process that ships or
   * restores caches cannot write) so that replacing the cache folder cannot lower it. `false`
   * turns it off.
   */
  revisionFloor?: string | RevisionFloorStore | false;
  /**
   * Fail closed on an old policy: when no control plane has been reachable for this long (ms)
   * and the bundle in use was issued longer ago than this, every decision denies, saying why,
   * until a control plane answers. Off by default (a PDP keeps its last good bundle forever).
   */
  maxStaleness?: number;
  /** An undici dispatcher (a shared Agent, or the mTLS agent of the workload identity). */
  dispatcher?: Dispatcher;
  /**
   * A separate dispatcher for the long-lived watch stream; defaults to `dispatcher`. Useful when
   * one process runs many PDPs (an agent, a benchmark): their streams can sit in one large pool
   * while the bundle fetches share a small one, where picking a free connection stays cheap.
   */
  watchDispatcher?: Dispatcher;
  /** Time to wait for a control plane's response headers, and for a bundle body. Default 10 s. */
  requestTimeoutMs?: number;
  /**
   * Longest silence on the watch stream before it is taken for dead. Must exceed the control
   * plane's heartbeat interval (5 s by default). Default 15 s. When the control plane announces
   * its interval (`ward-heartbeat-ms`), this is held between two and three of its heartbeats.
   */
  readTimeoutMs?: number;
  /**
   * With several `controlPlanes`: while watching one, ask another for its revision every
   * `intervalMs` (`GET /v1/watch/revision`, answered without a store query) and compare it with
   * the revision the watched replica's heartbeats carry. When the watched replica has not reached
   * that revision (less `maxLagRevisions`) `graceMs` later, it lags (it lost its feed without
   * knowing): the PDP moves to the fresher replica (`PDP_REPLICA_STALE`). `graceMs` is at least
   * 1.5 announced heartbeats, since a current replica shows its revision at its next heartbeat.
   * Defaults: every 10 s, grace 2 heartbeats (10 s at the default 5 s), lag 0. `false`: off.
   */
  crossCheck?: { intervalMs?: number; graceMs?: number; maxLagRevisions?: number } | false;
  /** Largest bundle accepted. Default 16 MiB. */
  maxBundleBytes?: number;
  /**
   * `pdp.ready` rejects with `PDP_NOT_READY` when no bundle has loaded this long after start
   * (the control planes are unreachable and there is no cache). The PDP keeps trying and denies
   * meanwhile. Default: none (`ready` waits for ever, as before).
   */
  readyTimeoutMs?: number;
  /**
   * Reconnection delay: exponential from `initialMs` (250 ms) to `maxMs` (1 s), with full jitter,
   * so a PDP reconnects within about a second of a control plane coming back. A control plane
   * that answers 429 or 503 with `Retry-After` is not asked again before that (capped at 60 s,
   * plus up to 20% jitter); the PDP tries the other control planes meanwhile.
   */
  backoff?: { initialMs?: number; maxMs?: number };
  /**
   * How often (ms) the PDP reports its status to the control plane it watches (`POST
   * /v1/status/pdp`: revision, connection, decision counts), for `ward status` and the console.
   * The first report follows the first bundle. Default 30 s; 0 turns it off. Not sent with
   * `agentSocket` (the node agent reports for its node).
   */
  statusIntervalMs?: number;
  logger?: PdpLogger;
  /** Register the PDP's metrics here instead of in a registry of its own (`pdp.metrics()`). */
  registry?: Registry;
}

/** Options after validation: every default filled in, keys parsed, frozen. */
export interface ResolvedPdpOptions {
  readonly service: string;
  readonly controlPlanes: readonly string[];
  /** Path of the agent socket when bundles come from the node agent (controlPlanes is empty). */
  readonly agentSocket: string | undefined;
  /** The in-process bundle feed, when bundles come from one (controlPlanes is empty). */
  readonly bundleFeed: PdpBundleFeed | undefined;
  readonly keys: readonly BundlePublicKey[];
  readonly token: () => string | undefined;
  readonly svid: SvidClientOptions | undefined;
  readonly cacheDir: string | undefined;
  readonly floor: RevisionFloorStore | undefined;
  /** 0 = off. */
  readonly maxStaleness: number;
  readonly dispatcher: Dispatcher | undefined;
  readonly watchDispatcher: Dispatcher | undefined;
  readonly requestTimeoutMs: number;
  readonly readTimeoutMs: number;
  readonly maxBundleBytes: number;
  /** 0 = none. */
  readonly readyTimeoutMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  /** null = off (one control plane, or `crossCheck: false`). */
  readonly crossCheck: {
    readonly intervalMs: number;
    readonly graceMs: number | undefined;
    readonly maxLagRevisions: number;
  } | null;
  /** 0 = off. */
  readonly statusIntervalMs: number;
  readonly logger: PdpLogger;
  readonly registry: Registry | undefined;
}

const consoleLogger: PdpLogger = {
  warn(fields, message) {
    console.warn(`ward pdp: ${message}`, fields);
  },
  error(fields, message) {
    console.error(`ward pdp: ${message}`, fields);
  },
};

function positive(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v <= 0) throw new TypeError(`${name} must be a positive number`);
  return v;
}

function floorStoreOf(options: PdpOptions): RevisionFloorStore | undefined {
  const floor = options.revisionFloor;
  if (floor === false) return undefined;
  if (typeof floor === 'string') return fileFloorStore(floor);
  if (floor !== undefined) {
    if (typeof floor.read !== 'function' || typeof floor.write !== 'function') {
      throw new TypeError('revisionFloor must be a folder, a {read, write} store, or false');
    }
    return floor;
  }
  return options.cacheDir === undefined ? undefined : fileFloorStore(options.cacheDir);
}

/** The agent socket path (`unix:` prefix dropped), checked against options it excludes. */
function agentSocketOf(options: PdpOptions): string | undefined {
  const socket = options.agentSocket;
  if (socket === undefined) return undefined;
  const path = typeof socket === 'string' ? socket.replace(/^unix:(\/\/)?/, '') : '';
  if (!path.startsWith('/')) throw new TypeError('agentSocket must be an absolute socket path');
  if (
    options.token !== undefined ||
    options.svid !== undefined ||
    options.dispatcher !== undefined
  ) {
    throw new TypeError(
      'agentSocket: the agent identifies the PDP; give no token, svid or dispatcher',
    );
  }
  return path;
}

/** The in-process feed, checked against options it excludes. */
function bundleFeedOf(options: PdpOptions): PdpBundleFeed | undefined {
  const feed = options.bundleFeed;
  if (feed === undefined) return undefined;
  if (typeof feed?.subscribe !== 'function' || typeof feed.name !== 'string') {
    throw new TypeError('bundleFeed must have a name and a subscribe(listener) method');
  }
  if (
    options.token !== undefined ||
    options.svid !== undefined ||
    options.dispatcher !== undefined
  ) {
    throw new TypeError('bundleFeed: the PDP makes no requests; give no token, svid or dispatcher');
  }
  return feed;
}

function crossCheckOf(options: PdpOptions, planes: number): ResolvedPdpOptions['crossCheck'] {
  const c = options.crossCheck;
  if (c === false || planes < 2) return null;
  if (c !== undefined && (typeof c !== 'object' || c === null)) {
    throw new TypeError('crossCheck must be an object or false');
  }
  const lag = c?.maxLagRevisions ?? 0;
  if (!Number.isSafeInteger(lag) || lag < 0) {
    throw new TypeError('crossCheck.maxLagRevisions must be an integer >= 0');
  }
  return Object.freeze({
    intervalMs: positive('crossCheck.intervalMs', c?.intervalMs, 10_000),
    graceMs: c?.graceMs === undefined ? undefined : positive('crossCheck.graceMs', c.graceMs, 0),
    maxLagRevisions: lag,
  });
}

/** Validates the options once (caller misuse is a `TypeError`) and freezes the result. */
export function resolvePdpOptions(options: PdpOptions): ResolvedPdpOptions {
  if (!options || typeof options !== 'object') throw new TypeError('createPdp needs options');
  const service =
    typeof options.service === 'string' ? canonicalServiceKey(options.service) : undefined;
  if (service === undefined) {
    throw new TypeError(
      'service must be a service key: name or namespace/name (lower-case DNS labels)',
    );
  }
  const planes =
    typeof options.controlPlanes === 'string'
      ? [options.controlPlanes]
      : [...(options.controlPlanes ?? [])];
  const agentSocket = agentSocketOf(options);
  const bundleFeed = bundleFeedOf(options);
  const sources = [planes.length > 0, agentSocket !== undefined, bundleFeed !== undefined];
  if (sources.filter(Boolean).length > 1) {
    throw new TypeError('give one of controlPlanes, agentSocket or bundleFeed');
  }
  if (!sources.includes(true)) {
    throw new TypeError(
      'controlPlanes must name at least one URL (or give agentSocket or bundleFeed)',
    );
  }
  const controlPlanes = planes.map((url) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new TypeError(`controlPlanes: ${JSON.stringify(url)} is not a URL`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new TypeError(`controlPlanes: ${url} must be http or https`);
    }
    return parsed.origin + parsed.pathname.replace(/\/+$/, '');
  });
  const keyTexts =
    typeof options.publicKey === 'string' ? [options.publicKey] : [...(options.publicKey ?? [])];
  if (keyTexts.length === 0) throw new TypeError('publicKey must give at least one bundle key');
  const keys = keyTexts.map((text, i) => {
    try {
      return importPublicKey(text);
    } catch (error) {
      throw new TypeError(`publicKey[${i}] is not an Ed25519 public key (base64url raw or PEM)`, {
        cause: error,
      });
    }
  });
  const token = options.token;
  if (options.svid !== undefined) {
    if (typeof options.svid?.source !== 'object' || options.svid.source === null) {
      throw new TypeError(
        'svid.source must be a workload identity (an object with an svid getter)',
      );
    }
    if (token !== undefined || options.dispatcher !== undefined) {
      throw new TypeError('svid authenticates the PDP: give neither token nor dispatcher with it');
    }
    const plain = controlPlanes.find((url) => !url.startsWith('https:'));
    if (plain) throw new TypeError(`controlPlanes: ${plain} must be https with svid`);
  }
  const backoffInitialMs = positive('backoff.initialMs', options.backoff?.initialMs, 250);
  const resolved: ResolvedPdpOptions = {
    service,
    controlPlanes,
    agentSocket,
    bundleFeed,
    keys,
    token: typeof token === 'function' ? token : () => token,
    svid: options.svid,
    cacheDir: options.cacheDir,
    floor: floorStoreOf(options),
    maxStaleness:
      options.maxStaleness === undefined ? 0 : positive('maxStaleness', options.maxStaleness, 0),
    dispatcher: options.dispatcher,
    watchDispatcher: options.watchDispatcher,
    requestTimeoutMs: positive('requestTimeoutMs', options.requestTimeoutMs, 10_000),
    readTimeoutMs: positive('readTimeoutMs', options.readTimeoutMs, 15_000),
    maxBundleBytes: positive('maxBundleBytes', options.maxBundleBytes, 16 * 1024 * 1024),
    readyTimeoutMs:
      options.readyTimeoutMs === undefined
        ? 0
        : positive('readyTimeoutMs', options.readyTimeoutMs, 0),
    backoffInitialMs,
    backoffMaxMs: Math.max(
      backoffInitialMs,
      positive('backoff.maxMs', options.backoff?.maxMs, 1000),
    ),
    crossCheck: crossCheckOf(options, controlPlanes.length),
    statusIntervalMs:
      options.statusIntervalMs === 0
        ? 0
        : positive('statusIntervalMs', options.statusIntervalMs, 30_000),
    logger: options.logger ?? consoleLogger,
    registry: options.registry,
  };
  return Object.freeze(resolved);
}
