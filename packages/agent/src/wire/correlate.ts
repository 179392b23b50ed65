/**
 * From one sample of the node's TCP tables to dependency edges between workloads. Pure: the
 * caller supplies who owns each socket (inode → pid) and who each process is (pid → workload),
 * both read from /proc by the shell (`proc-scan.ts`).
 *
 * Direction: of the two ends of a connection, the one whose local port some socket LISTENs on is
 * the server; the other end connected, so it is the caller. A connection is an edge
 * `caller workload → service listening on the remote port`. The destination is named by, in
 * order: the workload that owns the listening socket on this node (a loopback or node-local
 * remote address); the static address map (`ip:port`, then `ip`), which the operator gives or
 * the control plane provides for Service and pod IPs. What cannot be named is counted, never
 * guessed.
 */
import type { WireUnresolvedV1 } from '@ward/api-types';
import {
  isLoopback,
  isWildcard,
  type ProcNetSocket,
  TCP_ESTABLISHED,
  TCP_LISTEN,
} from './proc-net.ts';

/** One observed dependency in one sample. */
export interface SampledEdge {
  /** SPIFFE ID of the calling workload (attested on this node). */
  source: string;
  /** SPIFFE ID of a workload on this node, or the service name the address map gives. */
  destination: string;
  /** Destination port. */
  port: number;
  /** Connections on this edge in the sample. */
  connections: number;
}

/** Connections of the sample that became no edge, by reason. */
export type UnresolvedCounts = WireUnresolvedV1;

export interface CorrelateInput {
  sockets: readonly ProcNetSocket[];
  /** Socket inode → pid of a process holding it. */
  ownerOf: (inode: number) => number | undefined;
  /** Pid → workload SPIFFE ID, or undefined when the process has none. */
  workloadOf: (pid: number) => string | undefined;
  /** `ip:port` or `ip` (as the parser writes addresses) → service name. */
  addressMap?: ReadonlyMap<string, string>;
  /** Addresses of this node besides loopback (a connection to them stays on the node). */
  localAddresses?: ReadonlySet<string>;
  /** Distinct edges kept at most. */
  maxEdges: number;
}

export interface Correlated {
  edges: SampledEdge[];
  unresolved: UnresolvedCounts;
}

interface Listener {
  address: string;
  inode: number;
}

/** Turns one sample into edges and counts of what stayed unresolved. */
export function correlate(input: CorrelateInput): Correlated {
  const listeners = new Map<number, Listener[]>();
  for (const s of input.sockets) {
    if (s.state !== TCP_LISTEN) continue;
    let list = listeners.get(s.localPort);
    if (!list) {
      list = [];
      listeners.set(s.localPort, list);
    }
    list.push({ address: s.localAddress, inode: s.inode });
  }
  const unresolved: UnresolvedCounts = {
    inbound: 0,
    noProcess: 0,
    unattested: 0,
    unknownRemote: 0,
    self: 0,
    overCap: 0,
  };
  const edges = new Map<string, SampledEdge>();
  const local = (a: string) => isLoopback(a) || (input.localAddresses?.has(a) ?? false);
  const listenerOn = (address: string, port: number) =>
    listeners.get(port)?.find((l) => l.address === address || isWildcard(l.address));

  for (const s of input.sockets) {
    if (s.state !== TCP_ESTABLISHED) continue;
    if (listenerOn(s.localAddress, s.localPort)) {
      unresolved.inbound++;
      continue;
    }
    const pid = input.ownerOf(s.inode);
    if (pid === undefined) {
      unresolved.noProcess++;
      continue;
    }
    const source = input.workloadOf(pid);
    if (source === undefined) {
      unresolved.unattested++;
      continue;
    }
    const destination = destinationOf(s, input, local, listenerOn);
    if (destination === undefined) {
      unresolved.unknownRemote++;
      continue;
    }
    if (destination === source) {
      unresolved.self++;
      continue;
    }
    const key = `${source}\u0000${destination}\u0000${s.remotePort}`;
    const edge = edges.get(key);
    if (edge) edge.connections++;
    else if (edges.size >= input.maxEdges) unresolved.overCap++;
    else edges.set(key, { source, destination, port: s.remotePort, connections: 1 });
  }
  return { edges: [...edges.values()], unresolved };
}

function destinationOf(
  s: ProcNetSocket,
  input: CorrelateInput,
  local: (a: string) => boolean,
  listenerOn: (address: string, port: number) => Listener | undefined,
): string | undefined {
  if (local(s.remoteAddress)) {
    const l = listenerOn(s.remoteAddress, s.remotePort);
    const pid = l === undefined ? undefined : input.ownerOf(l.inode);
    const w = pid === undefined ? undefined : input.workloadOf(pid);
    if (w !== undefined) return w;
  }
  const map = input.addressMap;
  if (!map) return undefined;
  return map.get(endpointKey(s.remoteAddress, s.remotePort)) ?? map.get(s.remoteAddress);
}

/** The address map's key of an endpoint: `1.2.3.4:80`, `[::1]:80`. */
export function endpointKey(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
