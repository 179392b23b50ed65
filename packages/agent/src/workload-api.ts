import { chmod, rm, stat } from 'node:fs/promises';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { AGENT_BUNDLES_SERVICE, AGENT_SECRETS_SERVICE } from '@ward/api-types';
import { entriesForWorkload, unixSelectors } from '@ward/ca';
import { canonicalServiceKey } from '@ward/spiffe';
import { WORKLOAD_PROTO_PATH } from '@ward/spiffe/workload-api';
import type { Logger } from 'pino';
import type { BundleFeed } from './bundle-feed.ts';
import { AgentError } from './errors.ts';
import type { LeaseKeeper } from './lease-keeper.ts';
import type { PeerCredentials } from './peer-credentials.ts';
import { routeByPreface } from './preface.ts';
import { watchSecretHandler } from './secret-service.ts';
import type { SecretStore } from './secret-store.ts';
import { toStruct } from './struct.ts';
import type { HeldSvid, SvidManager } from './svid-manager.ts';
import {
  type WorkloadCall as Call,
  type CallerLookup,
  checkHeader,
  endWith,
  followChanges,
  grpcStatus as status,
} from './workload-call.ts';

/** A running Workload API endpoint. */
export interface WorkloadApiServer {
  readonly socketPath: string;
  close(): Promise<void>;
}

/**
 * Serves the SPIFFE Workload API on a Unix socket. Each connection's peer is identified from
 * the kernel's peer credentials before gRPC sees a byte of it; calls are answered with the SVIDs
 * of the registration entries whose selectors match that peer.
 */
export async function startWorkloadApi(options: {
  socketPath: string;
  manager: SvidManager;
  logger: Logger;
  resolvePeer: (socket: Socket) => Promise<PeerCredentials>;
  /** Socket file mode. Default 0o777: any local process may ask; selectors decide what it gets. */
  socketMode?: number;
  /** Serves `ward.agent.v1.Bundles` from this feed too (PDPs take their bundles here). */
  bundles?: BundleFeed;
  /**
   * Serves `ward.agent.v1.Secrets` from this store too (workloads take their service's secrets
   * here); `postgres` secrets through `leases` (without it they are NOT_FOUND).
   */
  secrets?: { store: SecretStore; leases?: LeaseKeeper };
  /**
   * More services on the same socket, each built with this socket's caller lookup (peer
   * credentials → registration entries), e.g. `extAuthzOnSocket(authz)`.
   */
  services?: readonly ((lookup: CallerLookup) => {
    definition: grpc.ServiceDefinition;
    implementation: grpc.UntypedServiceImplementation;
  })[];
  /**
   * Takes the connections that are not HTTP/2 (the local decision API's HTTP/1.1), with their
   * peer credentials; without it every connection goes to gRPC.
   */
  http?: (socket: Socket, peer: PeerCredentials, first: Buffer) => void;
}): Promise<WorkloadApiServer> {
  const { manager, logger: log } = options;
  const definition = protoLoader.loadSync(WORKLOAD_PROTO_PATH, {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const service = (
    grpc.loadPackageDefinition(definition).SpiffeWorkloadAPI as grpc.ServiceClientConstructor
  ).service;
  const grpcServer = new grpc.Server();
  // Peer credentials by connection. gRPC exposes only `call.getPeer()`, which reads the socket's
  // `remoteAddress`; Unix sockets have none, so each accepted socket gets a unique label there.
  const peers = new Map<string, PeerCredentials>();
  let seq = 0;

  const peerOf = (call: Call): PeerCredentials => {
    const peer = peers.get(call.getPeer());
    if (!peer) throw status(grpc.status.PERMISSION_DENIED, 'caller could not be identified');
    return peer;
  };
  const entriesOf = (peer: PeerCredentials) =>
    entriesForWorkload(manager.entries, unixSelectors(peer));
  const bundleBytes = () => Buffer.concat(manager.bundleDer as Buffer[]);
  const tdId = () => `spiffe://${manager.trustDomain}`;

  const x509Response = (peer: PeerCredentials) => {
    const svids: HeldSvid[] = [];
    const hints = new Set<string>();
    for (const e of entriesOf(peer)) {
      const s = manager.svid(e.id);
      if (!s) continue;
      svids.push(s);
      if (s.hint) hints.add(s.hint);
    }
    return {
      svids: svids.map((s) => ({
        spiffe_id: s.spiffeId,
        x509_svid: Buffer.concat(s.chainDer),
        x509_svid_key: s.keyPkcs8,
        bundle: bundleBytes(),
        hint: s.hint ?? '',
      })),
      crl: [],
      federated_bundles: {},
    };
  };

  // Streams a fresh full message whenever `render` output changes; ends with `error` when the
  // caller has no identity any more.
  const stream = (
    call: grpc.ServerWritableStream<unknown, unknown>,
    render: () => unknown,
    entitled: () => boolean,
  ) => {
    let last = '';
    const push = () => {
      if (call.cancelled || call.destroyed) return;
      if (!entitled()) {
        call.emit(
          'error',
          status(grpc.status.PERMISSION_DENIED, 'no identity is registered for this workload'),
        );
        cleanup();
        return;
      }
      const msg = render();
      const key = JSON.stringify(msg, (_k, v) =>
        v?.type === 'Buffer' ? Buffer.from(v.data).toString('base64') : v,
      );
      if (key === last) return;
      last = key;
      if ((msg as { svids?: unknown[] }).svids?.length === 0) return; // wait until issued
      call.write(msg);
    };
    const cleanup = followChanges(call, [[manager, 'update', push]]);
    push();
  };

  // Every streaming call: check the security header, identify the caller from the socket, then
  // stream; a refusal at either step ends the call with its gRPC status.
  const serveStream = (
    call: grpc.ServerWritableStream<unknown, unknown>,
    render: (peer: PeerCredentials) => unknown,
    entitled: (peer: PeerCredentials) => boolean,
  ) => {
    try {
      checkHeader(call);
      const peer = peerOf(call);
      log.debug({ pid: peer.pid, uid: peer.uid, path: call.getPath() }, 'workload stream');
      stream(
        call,
        () => render(peer),
        () => entitled(peer),
      );
    } catch (e) {
      call.emit('error', e as Error);
    }
  };

  grpcServer.addService(service, {
    FetchX509SVID(call: grpc.ServerWritableStream<unknown, unknown>) {
      serveStream(
        call,
        (peer) => x509Response(peer),
        (peer) => entriesOf(peer).length > 0,
      );
    },
    FetchX509Bundles(call: grpc.ServerWritableStream<unknown, unknown>) {
      serveStream(
        call,
        () => ({ crl: [], bundles: { [tdId()]: bundleBytes() } }),
        () => manager.bundleDer.length > 0,
      );
    },
    FetchJWTBundles(call: grpc.ServerWritableStream<unknown, unknown>) {
      serveStream(
        call,
        () => ({ bundles: { [tdId()]: Buffer.from(JSON.stringify(manager.jwtBundle)) } }),
        () => true,
      );
    },
    FetchJWTSVID(
      call: grpc.ServerUnaryCall<{ audience: string[]; spiffe_id: string }, unknown>,
      done: grpc.sendUnaryData<unknown>,
    ) {
      void (async () => {
        try {
          checkHeader(call);
          const peer = peerOf(call);
          const audience = call.request.audience ?? [];
          if (audience.length === 0 || audience.some((a) => !a)) {
            throw status(grpc.status.INVALID_ARGUMENT, 'audience is required');
          }
          let entries = entriesOf(peer);
          if (call.request.spiffe_id)
            entries = entries.filter((e) => e.spiffeId === call.request.spiffe_id);
          if (entries.length === 0)
            throw status(
              grpc.status.PERMISSION_DENIED,
              'no identity is registered for this workload',
            );
          const svids = [];
          for (const e of entries) {
            const { spiffeId, token } = await manager
              .fetchJwt(e.id, audience)
              .catch((err: unknown) => {
                throw status(
                  grpc.status.UNAVAILABLE,
                  err instanceof Error ? err.message : 'control plane unavailable',
                );
              });
            svids.push({ spiffe_id: spiffeId, svid: token, hint: e.hint ?? '' });
          }
          done(null, { svids });
        } catch (e) {
          done(e as grpc.ServiceError);
        }
      })();
    },
    ValidateJWTSVID(
      call: grpc.ServerUnaryCall<{ audience: string; svid: string }, unknown>,
      done: grpc.sendUnaryData<unknown>,
    ) {
      void (async () => {
        try {
          checkHeader(call);
          peerOf(call);
          if (!call.request.audience)
            throw status(grpc.status.INVALID_ARGUMENT, 'audience is required');
          if (!call.request.svid) throw status(grpc.status.INVALID_ARGUMENT, 'svid is required');
          const { spiffeId, claims } = await manager
            .validateJwt(call.request.svid, call.request.audience)
            .catch((err: unknown) => {
              throw status(
                grpc.status.INVALID_ARGUMENT,
                err instanceof Error ? err.message : 'invalid JWT-SVID',
              );
            });
          done(null, { spiffe_id: spiffeId, claims: toStruct(claims as Record<string, unknown>) });
        } catch (e) {
          done(e as grpc.ServiceError);
        }
      })();
    },
  });

  const feed = options.bundles;
  if (feed) {
    grpcServer.addService(AGENT_BUNDLES_SERVICE as unknown as grpc.ServiceDefinition, {
      WatchBundle(call: grpc.ServerWritableStream<unknown, unknown>) {
        void (async () => {
          try {
            checkHeader(call);
            const peer = peerOf(call);
            const requested = (call.request as { service?: unknown } | null)?.service;
            // The service key: `name` or `namespace/name` (`default/x` is read as `x`).
            const service =
              typeof requested === 'string' ? canonicalServiceKey(requested) : undefined;
            if (service === undefined) {
              throw status(
                grpc.status.INVALID_ARGUMENT,
                'service: not a service name or namespace/name',
              );
            }
            // Refused before the agent fetches anything on this caller's behalf.
            if (entriesOf(peer).length === 0) {
              throw status(
                grpc.status.PERMISSION_DENIED,
                'no identity is registered for this workload',
              );
            }
            await feed.ensure(service).catch((err: unknown) => {
              const refused = (err as AgentError).status === 403;
              throw status(
                refused ? grpc.status.PERMISSION_DENIED : grpc.status.UNAVAILABLE,
                refused
                  ? `${service} is not a service of this node`
                  : `no bundle for ${service} yet: ${(err as Error).message}`,
              );
            });
            streamBundle(call, service, peer, feed);
          } catch (e) {
            call.emit('error', e as Error);
          }
        })();
      },
    });
  }

  // A workload receives a bundle only when one of its own identities is the bundle's service:
  // bundles carry passport keys, secret to their service. Re-checked on every change, so a
  // workload whose entry is removed stops receiving.
  const streamBundle = (
    call: grpc.ServerWritableStream<unknown, unknown>,
    service: string,
    peer: PeerCredentials,
    feed: BundleFeed,
  ) => {
    let sent = '';
    const push = () => {
      if (call.cancelled || call.destroyed) return;
      const held = feed.get(service);
      if (!held || !entriesOf(peer).some((e) => e.spiffeId === held.spiffeId)) {
        stop();
        endWith(
          call,
          status(grpc.status.PERMISSION_DENIED, `this workload is not service ${service}`),
        );
        return;
      }
      if (held.bundle.hash === sent) return;
      sent = held.bundle.hash;
      call.write({ bundle: held.bundle });
    };
    const onBundle = (s: string) => {
      if (s === service) push();
    };
    const stop = followChanges(call, [
      [feed, 'bundle', onBundle],
      [manager, 'update', push],
    ]);
    push();
  };

  if (options.secrets) {
    const lookup: CallerLookup = { peerOf, entriesOf };
    grpcServer.addService(AGENT_SECRETS_SERVICE as unknown as grpc.ServiceDefinition, {
      WatchSecret: watchSecretHandler({ ...options.secrets, manager, log, lookup }),
    });
  }

  for (const build of options.services ?? []) {
    const extra = build({ peerOf, entriesOf });
    grpcServer.addService(extra.definition, extra.implementation);
  }

  const injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  await removeStaleSocket(options.socketPath);
  // Every connection, whoever serves it: close() ends them all, as net.close() waits for each
  // (a kept-alive decision API client, or one that has not sent its first bytes yet).
  const sockets = new Set<Socket>();
  const net: NetServer = createServer({ pauseOnConnect: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const label = `ward-workload-peer-${++seq}`;
    options.resolvePeer(socket).then(
      (peer) => {
        if (socket.destroyed) return;
        peers.set(label, peer);
        socket.once('close', () => peers.delete(label));
        Object.defineProperty(socket, 'remoteAddress', { value: label, configurable: true });
        log.debug(
          { pid: peer.pid, uid: peer.uid, gid: peer.gid, path: peer.path },
          'workload connected',
        );
        const http = options.http;
        if (http === undefined) {
          injector.injectConnection(socket);
          socket.resume();
          return;
        }
        routeByPreface(
          socket,
          () => injector.injectConnection(socket),
          (first) => http(socket, peer, first),
        );
      },
      (error: unknown) => {
        log.warn(
          { err: error instanceof Error ? error.message : String(error) },
          'refusing a Workload API connection',
        );
        socket.destroy();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    net.once('error', (cause) =>
      reject(
        new AgentError('AGENT_SOCKET', `cannot listen on ${options.socketPath}: ${cause.message}`, {
          cause,
        }),
      ),
    );
    net.listen(options.socketPath, () => resolve());
  });
  await chmod(options.socketPath, options.socketMode ?? 0o777);
  log.info({ socket: options.socketPath }, 'Workload API listening');

  return {
    socketPath: options.socketPath,
    async close() {
      injector.destroy();
      grpcServer.forceShutdown();
      const closed = new Promise<void>((r) => net.close(() => r()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

async function removeStaleSocket(path: string): Promise<void> {
  try {
    const s = await stat(path);
    if (!s.isSocket()) throw new AgentError('AGENT_SOCKET', `${path} exists and is not a socket`);
    await rm(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
