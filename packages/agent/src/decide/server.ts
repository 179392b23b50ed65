/**
 * Where the local decision API listens: on the agent's Unix socket (the Workload API hands it
 * every connection that does not open with the HTTP/2 preface, with the peer credentials it
 * read), and, when asked, on a loopback TCP port.
 *
 * Identifying the caller: on the socket, the kernel's peer credentials matched against the
 * node's registration entries, as for SVIDs. On TCP there are none, so each request carries the
 * workload's JWT-SVID for audience `ward-decide` (`Authorization: Bearer …`, from the Workload
 * API's FetchJWTSVID), verified by the agent against the trust domain's JWT keys: a local
 * process without a registered identity gets 401, never a decision.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { DECIDE_AUDIENCE } from '@ward/api-types';
import { entriesForWorkload, unixSelectors } from '@ward/ca';
import type { Logger } from 'pino';
import { AgentError } from '../errors.ts';
import type { PeerCredentials } from '../peer-credentials.ts';
import type { SvidManager } from '../svid-manager.ts';
import { type DecideCaller, DecideProblem, decideHandler } from './http.ts';
import type { LocalPdps } from './local-pdps.ts';

export interface DecideApiOptions {
  pdps: LocalPdps;
  /** Fetches a bundle the stream has not brought yet (BundleFeed.ensure). */
  ensure(service: string): Promise<unknown>;
  manager: Pick<SvidManager, 'entries' | 'on' | 'off' | 'validateJwt'>;
  /** `host:port` on loopback (`127.0.0.1:8182`, `[::1]:8182`, `localhost:8182`); off if absent. */
  listen?: string;
  logger: Logger;
}

export interface DecideApi {
  /** Serves a connection of the agent's socket, whose peer is `peer` and first bytes `first`. */
  accept(socket: Socket, peer: PeerCredentials, first: Buffer): void;
  /** The loopback address, when listening there. */
  readonly address: { host: string; port: number } | undefined;
  close(): Promise<void>;
}

/** How long an idle keep-alive connection stays open, ms (clients reuse theirs). */
const KEEP_ALIVE_MS = 60_000;
/** Verified JWT-SVIDs remembered (until their expiry): a bound, not an LRU. */
const MAX_TOKENS = 1024;

const kCaller = Symbol('ward.decide.caller');
type WithCaller = IncomingMessage & { [kCaller]?: DecideCaller | DecideProblem };
interface SocketCaller {
  peer: PeerCredentials;
  generation: number;
  caller: DecideCaller;
}

/** Parses `--decide-listen`: a loopback host and a port; anything else is refused. */
export function parseDecideListen(text: string): { host: string; port: number } {
  const address = parseHostPort(text);
  const host = address?.host ?? '';
  const loopback = host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
  if (address === undefined || !loopback) {
    throw new AgentError(
      'AGENT_BAD_OPTIONS',
      `decide listen address "${text}" must be a loopback host and port (127.0.0.1:PORT, [::1]:PORT, localhost:PORT): the decision API never listens beyond this node`,
    );
  }
  return { host: host === 'localhost' ? '127.0.0.1' : host, port: address.port };
}

/** `host:port` or `[v6]:port` (port 0..65535), else undefined. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  return port <= 65535 ? { host: m[1] ?? m[2]!, port } : undefined;
}

export async function startDecideApi(options: DecideApiOptions): Promise<DecideApi> {
  const { manager, logger: log } = options;
  const loopback = options.listen === undefined ? undefined : parseDecideListen(options.listen);
  // Entries change rarely; a connection's identities are recomputed only after they do.
  let generation = 0;
  const onEntries = () => {
    generation++;
  };
  manager.on('update', onEntries);
  const sockets = new WeakMap<Socket, SocketCaller>();

  const callerOf = (req: IncomingMessage): DecideCaller | DecideProblem => {
    const given = (req as WithCaller)[kCaller];
    if (given !== undefined) return given;
    const held = sockets.get(req.socket);
    if (held === undefined) {
      return new DecideProblem(401, 'AGENT_DECIDE_UNAUTHENTICATED', 'caller not identified');
    }
    if (held.generation !== generation) {
      held.generation = generation;
      held.caller = callerOfPeer(manager.entries, held.peer);
    }
    return held.caller;
  };
  const handler = decideHandler({ pdps: options.pdps, ensure: options.ensure, callerOf });
  // node:http loads here, not at import: on Node 26 loading it fills undici's global dispatcher
  // slots, and importing @ward/agent must change no globals (test/package-purity.test.ts).
  const { createServer } = await import('node:http');
  const unixServer = createServer({ keepAliveTimeout: KEEP_ALIVE_MS }, handler);

  let tcp: Server | undefined;
  let address: DecideApi['address'];
  if (loopback) {
    const tokens = new Map<string, { caller: DecideCaller; expiresAt: number }>();
    tcp = createServer({ keepAliveTimeout: KEEP_ALIVE_MS }, (req, res) => {
      const token = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
      if (token === undefined) {
        (req as WithCaller)[kCaller] = new DecideProblem(
          401,
          'AGENT_DECIDE_UNAUTHENTICATED',
          `send the workload's JWT-SVID for audience ${DECIDE_AUDIENCE}: Authorization: Bearer <JWT-SVID>`,
        );
        return handler(req, res);
      }
      const hit = tokens.get(token);
      if (hit && hit.expiresAt > Date.now()) {
        (req as WithCaller)[kCaller] = hit.caller;
        return handler(req, res);
      }
      manager.validateJwt(token, DECIDE_AUDIENCE).then(
        ({ spiffeId, claims }) => {
          const caller = { spiffeIds: new Set([spiffeId]) };
          if (tokens.size >= MAX_TOKENS) tokens.clear();
          tokens.set(token, { caller, expiresAt: (claims.exp ?? 0) * 1000 });
          (req as WithCaller)[kCaller] = caller;
          handler(req, res);
        },
        (error: unknown) => {
          (req as WithCaller)[kCaller] = new DecideProblem(
            401,
            'AGENT_DECIDE_UNAUTHENTICATED',
            `the JWT-SVID was refused: ${(error as Error).message}`,
          );
          handler(req, res);
        },
      );
    });
    tcp.keepAliveTimeout = KEEP_ALIVE_MS;
    const server = tcp;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (cause) =>
        reject(
          new AgentError(
            'AGENT_SOCKET',
            `cannot listen on ${options.listen} for decisions: ${cause.message}`,
            { cause },
          ),
        ),
      );
      server.listen(loopback.port, loopback.host, () => resolve());
    });
    const a = server.address() as AddressInfo;
    address = { host: a.address, port: a.port };
    log.info({ address: `${a.address}:${a.port}` }, 'decision API listening on loopback');
  }

  return {
    address,
    accept(socket, peer, first) {
      sockets.set(socket, {
        peer,
        generation,
        caller: callerOfPeer(manager.entries, peer),
      });
      // The first bytes were read to tell HTTP/1.1 from gRPC (preface.ts): node:http reads
      // the socket's handle itself once it has it, so they are given to it as a data event.
      unixServer.emit('connection', socket);
      socket.emit('data', first);
    },
    async close() {
      manager.off('update', onEntries);
      unixServer.closeAllConnections();
      tcp?.closeAllConnections();
      if (tcp) await new Promise<void>((r) => tcp.close(() => r()));
    },
  };
}

function callerOfPeer(
  entries: Parameters<typeof entriesForWorkload>[0],
  peer: PeerCredentials,
): DecideCaller {
  return {
    spiffeIds: new Set(entriesForWorkload(entries, unixSelectors(peer)).map((e) => e.spiffeId)),
  };
}
