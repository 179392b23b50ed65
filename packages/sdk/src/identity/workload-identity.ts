import { EventEmitter } from 'node:events';
import { Agent as HttpsAgent } from 'node:https';
import type { Server as NetServer } from 'node:net';
import type { TlsOptions, Server as TlsServer } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { trustDomainOf } from '@ward/spiffe';
import { WORKLOAD_PROTO_PATH } from '@ward/spiffe/workload-api';
import type { Agent as UndiciAgent } from 'undici';
import { undici } from '../undici.ts';
import { workloadSocketPath } from './endpoint.ts';
import { IdentityError } from './errors.ts';
import type { SpiffeIdMatcher } from './peer.ts';
import { svidFromMessage, type X509Svid, type X509SvidMessage } from './svid.ts';
import {
  enforcePeerIdentity,
  secureContextOptions,
  serverTlsOptions,
  spiffeServerIdentityCheck,
} from './tls.ts';

/** Options of {@link workloadIdentity}. */
export interface WorkloadIdentityOptions {
  /** Workload API socket; default `SPIFFE_ENDPOINT_SOCKET` (`unix:` prefix allowed). */
  socketPath?: string;
  /** Use the SVID with this SPIFFE ID instead of the default (first) one. */
  spiffeId?: string;
  /** Use the SVID with this hint instead of the default one. */
  hint?: string;
  /** How long to wait for the first SVID, ms. Default 15000. */
  timeoutMs?: number;
}

/** Server-side peer policy: which caller SPIFFE IDs may connect. */
export interface ServerIdentityOptions {
  /** Default: any SPIFFE ID of this workload's trust domain. */
  authorize?: SpiffeIdMatcher;
}

/** Client-side peer policy: which server SPIFFE IDs to accept. */
export interface ClientIdentityOptions {
  /** Default: any SPIFFE ID of this workload's trust domain. */
  expect?: SpiffeIdMatcher;
}

let definition: grpc.GrpcObject | undefined;
function workloadApi(): grpc.ServiceClientConstructor {
  definition ??= grpc.loadPackageDefinition(
    protoLoader.loadSync(WORKLOAD_PROTO_PATH, { keepCase: true, defaults: true }),
  );
  return definition.SpiffeWorkloadAPI as grpc.ServiceClientConstructor;
}

/**
 * This workload's rotating SPIFFE identity from the Workload API. Emits `rotate` (new
 * {@link X509Svid}) and `warning` (connection trouble; the current SVID stays in use until it
 * expires). TLS material it hands out is swapped on rotation without dropping live connections.
 */
export class WorkloadIdentity extends EventEmitter {
  #svid: X509Svid | undefined;
  readonly #client: grpc.Client &
    Record<string, (...args: unknown[]) => grpc.ClientReadableStream<unknown>>;
  readonly #options: WorkloadIdentityOptions;
  #call: grpc.ClientReadableStream<unknown> | undefined;
  #retry: NodeJS.Timeout | undefined;
  #backoff = 200;
  #closed = false;

  constructor(options: WorkloadIdentityOptions = {}) {
    super();
    this.setMaxListeners(0);
    this.#options = options;
    const path = workloadSocketPath(options.socketPath);
    const Client = workloadApi();
    this.#client = new Client(`unix://${path}`, grpc.credentials.createInsecure(), {
      'grpc.max_reconnect_backoff_ms': 2000,
    }) as never;
    this.#connect();
  }

  /** The current SVID. Throws `IDENTITY_TIMEOUT` before the first one arrived. */
  get svid(): X509Svid {
    if (!this.#svid) throw new IdentityError('IDENTITY_TIMEOUT', 'no SVID received yet');
    return this.#svid;
  }

  /** This workload's SPIFFE ID. */
  get spiffeId(): string {
    return this.svid.spiffeId;
  }

  /** The trust domain name, `example.org`. */
  get trustDomain(): string {
    return trustDomainOf(this.svid.spiffeId);
  }

  /** Resolves once an SVID is held. */
  ready(timeoutMs = this.#options.timeoutMs ?? 15_000): Promise<this> {
    if (this.#svid) return Promise.resolve(this);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.off('rotate', ok);
        reject(
          new IdentityError(
            'IDENTITY_TIMEOUT',
            `no SVID from the Workload API within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      const ok = () => {
        clearTimeout(t);
        resolve(this);
      };
      this.once('rotate', ok);
    });
  }

  #connect(): void {
    if (this.#closed) return;
    const md = new grpc.Metadata();
    md.set('workload.spiffe.io', 'true');
    const call = this.#client.FetchX509SVID!({}, md) as grpc.ClientReadableStream<{
      svids: X509SvidMessage[];
    }>;
    this.#call = call;
    call.on('data', (msg: { svids: X509SvidMessage[] }) => {
      this.#backoff = 200;
      try {
        this.#accept(msg);
      } catch (error) {
        this.emit('warning', error);
      }
    });
    const again = (error?: Error) => {
      if (this.#closed || this.#call !== call) return;
      this.#call = undefined;
      if (error) this.emit('warning', error);
      this.#retry = setTimeout(() => this.#connect(), this.#backoff);
      this.#retry.unref?.();
      this.#backoff = Math.min(this.#backoff * 2, 5000);
    };
    call.on('error', (e: Error) => again(e));
    call.on('end', () => again());
  }

  #accept(msg: { svids: X509SvidMessage[] }): void {
    const { spiffeId, hint } = this.#options;
    const pick =
      msg.svids.find((s) =>
        spiffeId ? s.spiffe_id === spiffeId : hint ? s.hint === hint : true,
      ) ?? undefined;
    if (!pick) {
      throw new IdentityError(
        'IDENTITY_NO_MATCHING_SVID',
        `the Workload API offered no SVID for ${spiffeId ?? hint}`,
      );
    }
    const svid = svidFromMessage(pick);
    const prev = this.#svid;
    if (prev && prev.serialNumber === svid.serialNumber && prev.bundlePem === svid.bundlePem)
      return;
    this.#svid = svid;
    this.emit('rotate', svid);
  }

  /** Node TLS server options for the current SVID: TLS 1.3, client SVID required. */
  serverOptions(): TlsOptions {
    return serverTlsOptions(this.svid);
  }

  /**
   * Keeps `server`'s certificate current (`setSecureContext` on each rotation; live connections
   * keep theirs) and closes any connection whose peer is not an SVID that `authorize` accepts.
   * Returns a function that stops both.
   */
  secureServer(server: TlsServer | NetServer, options: ServerIdentityOptions = {}): () => void {
    const tlsServer = server as TlsServer;
    const onRotate = (svid: X509Svid) => tlsServer.setSecureContext(serverTlsOptions(svid));
    this.on('rotate', onRotate);
    const stop = enforcePeerIdentity(tlsServer, {
      ...(options.authorize === undefined ? {} : { authorize: options.authorize }),
      trustDomain: this.trustDomain,
    });
    return () => {
      this.off('rotate', onRotate);
      stop();
    };
  }

  /**
   * An HTTPS agent presenting this workload's SVID and accepting only servers whose SPIFFE ID
   * matches `expect`. New connections use the newest SVID; pooled ones keep theirs.
   */
  agent(
    options: ClientIdentityOptions & { keepAlive?: boolean; maxSockets?: number } = {},
  ): HttpsAgent {
    const check = spiffeServerIdentityCheck(options.expect, this.trustDomain);
    const agent = new HttpsAgent({
      keepAlive: options.keepAlive ?? true,
      ...(options.maxSockets ? { maxSockets: options.maxSockets } : {}),
      ...secureContextOptions(this.svid),
      rejectUnauthorized: true,
      checkServerIdentity: check,
    });
    const onRotate = (svid: X509Svid) => {
      // https.Agent merges `agent.options` into every new connection's options.
      Object.assign(agent.options, secureContextOptions(svid));
      // TLS session tickets would resume with the old client certificate; start fresh.
      (agent as unknown as { _sessionCache?: { map: object; list: unknown[] } })._sessionCache = {
        map: {},
        list: [],
      };
    };
    this.on('rotate', onRotate);
    const destroy = agent.destroy.bind(agent);
    agent.destroy = () => {
      this.off('rotate', onRotate);
      destroy();
    };
    return agent;
  }

  /** An undici dispatcher (for `fetch`/`request`) with the same SVID and server checks. */
  dispatcher(options: ClientIdentityOptions & { connections?: number } = {}): UndiciAgent {
    const check = spiffeServerIdentityCheck(options.expect, this.trustDomain);
    const build = (svid: X509Svid) =>
      undici().buildConnector({
        ...secureContextOptions(svid),
        rejectUnauthorized: true,
        checkServerIdentity: check,
      } as never);
    let connector = build(this.svid);
    const onRotate = (svid: X509Svid) => {
      connector = build(svid);
    };
    this.on('rotate', onRotate);
    const agent = new (undici().Agent)({
      ...(options.connections ? { connections: options.connections } : {}),
      connect: ((opts: never, cb: never) => connector(opts, cb)) as never,
    });
    const close = agent.close.bind(agent);
    agent.close = ((...args: unknown[]) => {
      this.off('rotate', onRotate);
      return (close as (...a: unknown[]) => unknown)(...args);
    }) as never;
    return agent;
  }

  /** Stops watching the Workload API. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#call?.cancel();
    this.#client.close();
  }
}

/**
 * Connects to the Workload API and resolves with this workload's identity once its first SVID
 * arrived. Throws `IDENTITY_NO_ENDPOINT` without a socket, `IDENTITY_TIMEOUT` when none comes.
 *
 * @example
 * const identity = await workloadIdentity();
 * const server = https.createServer(identity.serverOptions(), handler);
 * identity.secureServer(server, { authorize: ['spiffe://example.org/ns/shop/sa/frontend'] });
 * const res = await fetch(url, { dispatcher: identity.dispatcher({ expect: 'spiffe://example.org/ns/shop/sa/orders' }) });
 */
export async function workloadIdentity(
  options: WorkloadIdentityOptions = {},
): Promise<WorkloadIdentity> {
  const identity = new WorkloadIdentity(options);
  try {
    return await identity.ready();
  } catch (e) {
    identity.close();
    throw e;
  }
}
