import type { Socket } from 'node:net';
import { AGENT_DECISION_LOG_PATH } from '@ward/api-types';
import { createCsr, exportPrivateKey, generateKeyPair, toPem } from '@ward/ca';
import { createDecisionLogShipper, type DecisionLogShipper } from '@ward/sdk';
import pino, { type Logger } from 'pino';
import { BundleFeed, type BundleFeedTiming } from './bundle-feed.ts';
import { ControlPlaneClient } from './control-plane.ts';
import { createExtAuthz, type ExtAuthz } from './decide/ext-authz.ts';
import {
  type ExtAuthzTcpServer,
  extAuthzOnSocket,
  RotatingServerCredentials,
  startExtAuthzTcp,
} from './decide/ext-authz-server.ts';
import { LocalPdps } from './decide/local-pdps.ts';
import { type DecideApi, parseHostPort, startDecideApi } from './decide/server.ts';
import { AgentError } from './errors.ts';
import { LeaseKeeper, type LeaseKeeperTiming } from './lease-keeper.ts';
import { type PeerCredentialSource, peerCredentialSource } from './peer-credential-source.ts';
import { type PeerCredentials, peerCredentials } from './peer-credentials.ts';
import { SecretRenderer } from './secret-render.ts';
import { SecretStore } from './secret-store.ts';
import type { SecretTemplate } from './secret-templates.ts';
import { startStatusReports } from './status-report.ts';
import { SvidManager, type SvidManagerTiming } from './svid-manager.ts';
import { type WireOptions, WireSampler } from './wire/sampler.ts';
import { startWorkloadApi } from './workload-api.ts';

/** Options of {@link startAgent}. */
export interface AgentOptions {
  /** Control-plane base URL. */
  controlPlane: string;
  /** One-time join token (`ward ca join-token create`). */
  joinToken?: string;
  /** Kubernetes projected service-account token, when the control plane validates them. */
  k8sToken?: string;
  /** Workload API socket path. Default `/tmp/ward-agent.sock`. */
  socketPath?: string;
  socketMode?: number;
  logger?: Logger;
  timing?: SvidManagerTiming;
  /**
   * Hold one bundle stream for the node and serve each local PDP its service's bundle
   * (`ward.agent.v1.Bundles` on the same socket). Default true; false serves SVIDs only.
   */
  bundles?: boolean;
  bundleTiming?: BundleFeedTiming;
  /**
   * How workloads are identified; default: the kernel's peer credentials (Linux; `node:ffi` on
   * Node 26+, else a `python3` helper). Without either the agent refuses to start
   * (`AGENT_NO_PEER_ATTESTATION`): it never serves SVIDs to callers it cannot identify.
   */
  resolvePeer?: (socket: Socket) => Promise<PeerCredentials>;
  /**
   * How often (ms) the agent reports its node's status (`POST /v1/status/agent`): workload
   * SVIDs and bundle revisions, for `ward status`. Default 30 s; 0 turns it off.
   */
  statusIntervalMs?: number;
  /** Samples the node's TCP connections and ships them as observed edges; off when absent. */
  wire?: WireOptions;
  /**
   * Hold the secrets the bundle stream pushes for the node's services (in memory only) and serve
   * them on the socket (`ward.agent.v1.Secrets/WatchSecret`), leasing dynamic ones. Default
   * true; needs `bundles` (they share the stream).
   */
  secrets?: boolean;
  leaseTiming?: LeaseKeeperTiming;
  /**
   * Secrets rendered to files (tmpfs, 0600, atomically; `parseSecretTemplates` reads them from
   * a YAML/JSON file). The agent refuses to start (`AGENT_SECRET_RENDER`) when a destination's
   * directory is not on tmpfs and the template does not say `allowDisk`.
   */
  secretTemplates?: readonly SecretTemplate[];
  /**
   * The local decision API (docs/decide-api.md): one PDP per service of the node, fed from the
   * bundle stream, answering `POST /v1/decide` on the socket (and on `listen`, loopback only),
   * its decisions shipped to the control plane's decision logs. Off when absent; needs `bundles`.
   */
  decide?: DecideOptions;
}

/** Options of the local decision API. */
export interface DecideOptions {
  /** The control plane's bundle public key(s): the local PDPs verify every bundle with it. */
  publicKey: string | readonly string[];
  /** Also serve on this loopback `host:port`; callers present a JWT-SVID (audience `ward-decide`). */
  listen?: string;
  /**
   * Also serve Envoy's ext_authz `Check` on TCP at this `host:port` (for proxies that cannot reach
   * the Unix socket, e.g. Istio's `CUSTOM` provider): mTLS with the agent's own SVID; a client
   * must present an X.509-SVID of the trust domain and may ask only about its own service.
   */
  extAuthzListen?: string;
  /** Decision-log shipping: batches at most this often (ms). Default 1000. */
  logFlushIntervalMs?: number;
}

/** A running node agent. */
export interface RunningAgent {
  readonly spiffeId: string;
  readonly socketPath: string;
  readonly manager: SvidManager;
  /** The wire sampler, when `wire` was given. */
  readonly wire: WireSampler | undefined;
  /** The node's bundle stream (absent with `bundles: false`). */
  readonly bundles: BundleFeed | undefined;
  /** The secrets held for the node's services (absent with `secrets: false` or `bundles: false`). */
  readonly secrets: SecretStore | undefined;
  /** The leases on dynamic secrets the agent holds. */
  readonly leases: LeaseKeeper | undefined;
  /** The file renderer, when `secretTemplates` were given. */
  readonly renderer: SecretRenderer | undefined;
  /** The local PDPs of the decision API (absent without `decide`). */
  readonly pdps: LocalPdps | undefined;
  /** Where the decision API listens on loopback, when `decide.listen` was given. */
  readonly decideAddress: { host: string; port: number } | undefined;
  /** The port of ext_authz over TCP, when `decide.extAuthzListen` was given. */
  readonly extAuthzPort: number | undefined;
  /** The shipper of the decision API's decision logs (absent without `decide`). */
  readonly decisionLog: DecisionLogShipper | undefined;
  close(): Promise<void>;
}

/**
 * Starts a node agent: attests to the control plane, keeps its own key and SVID in memory only,
 * obtains and renews SVIDs for the registration entries of its node, and serves them to local
 * workloads over the SPIFFE Workload API. Throws `AGENT_ATTESTATION_FAILED` when the control plane
 * refuses the token.
 */
export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  if (!options.joinToken === !options.k8sToken) {
    throw new AgentError('AGENT_BAD_OPTIONS', 'give exactly one of joinToken or k8sToken');
  }
  const statusMs = options.statusIntervalMs ?? 30_000;
  if (!Number.isFinite(statusMs) || statusMs < 0) {
    throw new AgentError('AGENT_BAD_OPTIONS', 'statusIntervalMs must be a number >= 0');
  }
  // Fail closed before attesting: an agent that cannot identify callers must not hold SVIDs.
  const source: PeerCredentialSource | undefined = options.resolvePeer
    ? undefined
    : peerCredentialSource();
  try {
    return await runAgent(options, source);
  } catch (e) {
    source?.close();
    throw e;
  }
}

async function runAgent(
  options: AgentOptions,
  source: PeerCredentialSource | undefined,
): Promise<RunningAgent> {
  const log = options.logger ?? pino({ name: 'ward-agent' }, pino.destination(2));
  const client = new ControlPlaneClient(options.controlPlane);
  const keys = await generateKeyPair();
  let reply: Awaited<ReturnType<ControlPlaneClient['attest']>>;
  try {
    reply = await client.attest({
      ...(options.joinToken ? { joinToken: options.joinToken } : { k8sToken: options.k8sToken! }),
      csr: await createCsr(keys),
    });
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    throw new AgentError('AGENT_ATTESTATION_FAILED', `attestation failed: ${why}`, { cause });
  }
  log.info(
    { spiffeId: reply.spiffeId, peerCredentials: source?.method ?? 'custom resolvePeer' },
    'agent attested',
  );
  const manager = new SvidManager({
    client,
    identity: {
      spiffeId: reply.spiffeId,
      node: reply.node,
      privateKey: keys.privateKey,
      chain: reply.chain,
      expiresAt: reply.expiresAt,
    },
    bundlePem: reply.bundle,
    logger: log,
    ...(options.timing ? { timing: options.timing } : {}),
  });
  manager.setMaxListeners(0);
  await manager.start();
  const socketPath = options.socketPath ?? '/tmp/ward-agent.sock';
  const secrets =
    options.bundles === false || options.secrets === false ? undefined : new SecretStore();
  const feed =
    options.bundles === false
      ? undefined
      : new BundleFeed({
          client,
          identity: () => manager.identity,
          logger: log,
          ...(options.bundleTiming ? { timing: options.bundleTiming } : {}),
          ...(secrets ? { secrets } : {}),
        });
  const leases = secrets
    ? new LeaseKeeper({
        client,
        identity: () => manager.identity,
        logger: log,
        ...(options.leaseTiming ? { timing: options.leaseTiming } : {}),
      })
    : undefined;
  // A service whose SPIFFE ID left the node's entries loses its secrets here too, whatever the
  // control plane still sends (it says `removed` as well). Only IDs that were there and left:
  // a secret may arrive a moment before the entry that lets a workload read it.
  let spiffeIds = new Set(manager.entries.map((e) => e.spiffeId));
  // IDs whose secrets were dropped here. Should one come back before the control plane saw it
  // leave (its entry deleted and created again between two of its sweeps), the control plane
  // sends nothing again: the stream is reopened for a fresh snapshot.
  const dropped = new Set<string>();
  const forgetDeparted = () => {
    const now = new Set(manager.entries.map((e) => e.spiffeId));
    const gone = new Set([...spiffeIds].filter((id) => !now.has(id)));
    const back = [...now].filter((id) => !spiffeIds.has(id) && dropped.delete(id));
    spiffeIds = now;
    if (back.length > 0) {
      log.info({ spiffeIds: back }, 'a service came back to the node; reloading its secrets');
      feed?.resync();
    }
    if (!secrets || gone.size === 0) return;
    for (const service of secrets.services()) {
      const id = secrets.anyOf(service)?.spiffeId;
      if (id !== undefined && gone.has(id)) {
        log.info({ service }, 'service left the node; its secrets dropped');
        secrets.forgetService(service);
        dropped.add(id);
      }
    }
  };
  if (secrets) manager.on('update', forgetDeparted);
  if (options.secretTemplates?.length && !secrets) {
    throw new AgentError('AGENT_BAD_OPTIONS', 'secretTemplates need the bundle stream and secrets');
  }
  const renderer =
    secrets && options.secretTemplates?.length
      ? new SecretRenderer({
          templates: options.secretTemplates,
          store: secrets,
          ...(leases ? { leases } : {}),
          logger: log,
        })
      : undefined;
  try {
    await renderer?.start();
  } catch (e) {
    await manager.stop();
    throw e;
  }
  if (options.decide && !feed) {
    throw new AgentError('AGENT_BAD_OPTIONS', 'decide needs the bundle stream (bundles)');
  }
  const decisionLog = options.decide
    ? createDecisionLogShipper({
        controlPlanes: options.controlPlane,
        path: AGENT_DECISION_LOG_PATH,
        authenticate: (method, path) => client.proofHeaders(manager.identity, method, path),
        ...(options.decide.logFlushIntervalMs
          ? { flushIntervalMs: options.decide.logFlushIntervalMs }
          : {}),
        onError: (error) => log.warn({ err: error.message }, 'decision logs not shipped'),
      })
    : undefined;
  const pdps =
    options.decide && feed
      ? new LocalPdps({
          feed,
          manager,
          publicKey: options.decide.publicKey,
          logger: log,
          ...(decisionLog ? { log: decisionLog } : {}),
        })
      : undefined;
  // Envoy's ext_authz `Check` on the same socket, answered by the same local PDPs (docs/envoy.md):
  // an Envoy may ask only about the services of its own registration entries.
  const extAuthz = pdps
    ? createExtAuthz({
        enforcerFor: (service) => pdps.enforcerFor(service),
        // The destination's SPIFFE ID names one of this node's services (the bundle's identity).
        serviceForSpiffeId: (id) => pdps.services().find((s) => pdps.spiffeIdOf(s) === id),
        byConvention: false,
        onError: (error) => log.error({ err: error }, 'ext_authz check failed (denied)'),
      })
    : undefined;
  const stopDecide = async () => {
    await pdps?.close();
    await decisionLog?.close();
  };
  let decide: DecideApi | undefined;
  let extAuthzTcp: ExtAuthzTcpServer | undefined;
  try {
    decide =
      pdps && feed
        ? await startDecideApi({
            pdps,
            ensure: (service) => feed.ensure(service),
            manager,
            logger: log,
            ...(options.decide?.listen === undefined ? {} : { listen: options.decide.listen }),
          })
        : undefined;
    extAuthzTcp =
      extAuthz && options.decide?.extAuthzListen !== undefined
        ? await startExtAuthzOnTcp(extAuthz, options.decide.extAuthzListen, manager)
        : undefined;
  } catch (e) {
    await decide?.close();
    await stopDecide();
    await renderer?.close();
    await leases?.close();
    await manager.stop();
    throw e;
  }
  feed?.start();
  let api: Awaited<ReturnType<typeof startWorkloadApi>>;
  try {
    api = await startWorkloadApi({
      socketPath,
      manager,
      logger: log,
      resolvePeer: options.resolvePeer ?? ((s) => peerCredentials(s, { reader: source! })),
      ...(options.socketMode === undefined ? {} : { socketMode: options.socketMode }),
      ...(feed ? { bundles: feed } : {}),
      ...(secrets ? { secrets: { store: secrets, ...(leases ? { leases } : {}) } } : {}),
      ...(decide ? { http: decide.accept } : {}),
      ...(extAuthz ? { services: [extAuthzOnSocket(extAuthz)] } : {}),
    });
  } catch (e) {
    await decide?.close();
    await stopDecide();
    await renderer?.close();
    await leases?.close();
    await feed?.stop();
    await manager.stop();
    throw e;
  }
  const wire = options.wire
    ? new WireSampler({
        ...options.wire,
        entries: () => manager.entries,
        ship: (batch) => client.reportConnections(manager.identity, batch),
        logger: log,
      })
    : undefined;
  wire?.start();
  const statusMs = options.statusIntervalMs ?? 30_000;
  const stopStatus =
    statusMs > 0
      ? startStatusReports({ client, manager, feed, intervalMs: statusMs, log })
      : () => {};
  return {
    spiffeId: reply.spiffeId,
    socketPath,
    manager,
    wire,
    bundles: feed,
    secrets,
    leases,
    renderer,
    pdps,
    decideAddress: decide?.address,
    extAuthzPort: extAuthzTcp?.port,
    decisionLog,
    async close() {
      stopStatus();
      await wire?.stop();
      await feed?.stop();
      await api.close();
      await decide?.close();
      await extAuthzTcp?.close();
      // The PDPs first, then the shipper's last attempt with everything they recorded.
      await stopDecide();
      manager.off('update', forgetDeparted);
      await renderer?.close();
      // Gives every lease back: the logins of a stopped agent's workloads end now.
      await leases?.close();
      source?.close();
      await manager.stop();
    },
  };
}

/** The agent's own SVID as the TLS server identity of ext_authz over TCP (PEM). */
async function agentTls(manager: SvidManager) {
  const { identity } = manager;
  return {
    key: toPem(await exportPrivateKey(identity.privateKey), 'PRIVATE KEY'),
    cert: identity.chain.join('\n'),
    ca: manager.bundleDer.map((der) => toPem(der, 'CERTIFICATE')).join(''),
  };
}

/** ext_authz on TCP with mTLS; the renewed agent SVID and trust bundle are swapped in live. */
async function startExtAuthzOnTcp(
  authz: ExtAuthz,
  listen: string,
  manager: SvidManager,
): Promise<ExtAuthzTcpServer> {
  const address = parseHostPort(listen);
  if (address === undefined) {
    throw new AgentError(
      'AGENT_BAD_OPTIONS',
      `ext_authz listen address "${listen}" is not host:port`,
    );
  }
  const credentials = new RotatingServerCredentials(await agentTls(manager));
  const refresh = () => {
    agentTls(manager).then(
      (tls) => credentials.update(tls),
      () => {}, // the next renewal or bundle change tries again; the old certificate serves on
    );
  };
  manager.on('identity', refresh);
  manager.on('update', refresh);
  const server = await startExtAuthzTcp({ authz, credentials, ...address });
  return {
    port: server.port,
    async close() {
      manager.off('identity', refresh);
      manager.off('update', refresh);
      await server.close();
    },
  };
}
