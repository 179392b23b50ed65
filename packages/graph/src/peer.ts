/**
 * Names the uninstrumented peer a client or producer span talks to, from the attributes
 * OpenTelemetry semantic conventions define (and their older names), so databases, queues and
 * external hosts become virtual nodes instead of dropping out of the graph.
 */
import { canonicalServiceKey, namespaceOfKey } from '@ward/spiffe';
import type { NodeType } from './model.ts';

export interface PeerRef {
  name: string;
  type: NodeType;
  /** The namespace, when `name` is a service key (a Kubernetes service DNS name, resolved). */
  namespace?: string;
}

/** Span attribute keys the readers collect for `peerOf`. Anything else is ignored unread. */
export const PEER_KEYS: ReadonlySet<string> = new Set([
  'peer.service',
  'service.peer.name',
  'db.system',
  'db.system.name',
  'db.namespace',
  'db.name',
  'messaging.system',
  'messaging.destination.name',
  'messaging.destination',
  'server.address',
  'net.peer.name',
  'http.host',
  'error',
  'otel.status_code',
  'span.kind',
]);

/**
 * The peer named by `attrs`, in order of how explicit the naming is: an explicit peer service
 * name, then a database, a messaging destination, and last the server address.
 */
export function peerOf(attrs: Map<string, string>): PeerRef | undefined {
  const explicit = attrs.get('service.peer.name') ?? attrs.get('peer.service');
  if (explicit) return { name: explicit, type: 'service' };
  const db = attrs.get('db.system.name') ?? attrs.get('db.system');
  if (db) {
    // The server is the node (it is what manifests declare, e.g. a `postgres` Service); without
    // an address, the logical database names it.
    const host = attrs.get('server.address') ?? attrs.get('net.peer.name');
    if (host) return hostRef(host, 'database');
    const ns = attrs.get('db.namespace') ?? attrs.get('db.name');
    return { name: ns ? `${db}/${ns}` : db, type: 'database' };
  }
  const messaging = attrs.get('messaging.system');
  if (messaging) {
    const dest = attrs.get('messaging.destination.name') ?? attrs.get('messaging.destination');
    return { name: dest ? `${messaging}/${dest}` : messaging, type: 'messaging' };
  }
  const host = attrs.get('server.address') ?? attrs.get('net.peer.name') ?? attrs.get('http.host');
  if (host) return hostRef(host, 'external');
  return undefined;
}

function hostRef(host: string, type: NodeType): PeerRef {
  const name = hostName(host);
  // A service DNS name became a key: the one place a peer's `/` is a namespace.
  return name.includes('/') ? { name, type, namespace: namespaceOfKey(name) } : { name, type };
}

/**
 * A host as a node name: the port dropped, and a Kubernetes service DNS name
 * (`orders.shop.svc.cluster.local`) reduced to the service's key (`shop/orders`; `orders` in the
 * default namespace), which is how Ward and the Kubernetes reader name it.
 */
export function hostName(host: string): string {
  let h = host.toLowerCase();
  const colon = h.lastIndexOf(':');
  if (colon > 0 && !h.includes(']') && /^\d+$/.test(h.slice(colon + 1))) h = h.slice(0, colon);
  const svc = h.indexOf('.svc');
  if (svc > 0 && (h.length === svc + 4 || h[svc + 4] === '.')) {
    const labels = h.slice(0, svc).split('.');
    if (labels.length === 2) return canonicalServiceKey(labels[0]!, labels[1]!) ?? labels[0]!;
  }
  return h;
}

/**
 * The node of a peer a service `caller` (a key) calls: a bare service or database host name
 * (`postgres`, `peer.service: orders`) is resolved as cluster DNS and Ward's documents resolve
 * it, in the caller's namespace (`shop/postgres`); anything else (hosts with dots, messaging
 * destinations, names already qualified) is taken as it is.
 */
export function peerKey(peer: PeerRef, caller: string): PeerRef {
  if (peer.type !== 'service' && peer.type !== 'database') return peer;
  if (peer.name.includes('/') || peer.name.includes('.')) return peer;
  const ns = namespaceOfKey(caller);
  const key = canonicalServiceKey(peer.name, ns);
  return key === undefined ? peer : { ...peer, name: key, namespace: ns };
}
