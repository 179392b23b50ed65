/**
 * Entry points: the documents that let traffic from outside the cluster reach workloads — a
 * LoadBalancer or NodePort Service, an Ingress, a Gateway API route whose parent is a Gateway, an
 * Istio VirtualService bound to a Gateway — read into the Service backends they lead to.
 */
import { isObject } from '../util.ts';
import {
  type Item,
  isGatewayApi,
  isIstio,
  type Obj,
  type Service,
  validPort,
} from './k8s-objects.ts';

export const ROUTE_KINDS = new Set(['HTTPRoute', 'GRPCRoute', 'TCPRoute', 'TLSRoute', 'UDPRoute']);

/** An entry-point document: what it opens, to which Service backends, through which gateways. */
export interface Entry {
  via: string;
  what: string;
  backends: { namespace: string; name: string; port?: number | string }[];
  /** Keys (`api\0ns/name`) of the Gateways it is bound to. */
  gateways: string[];
  problems: string[];
}

export function gatewayKey(obj: Obj, name: string): string {
  return `${isIstio(obj) ? 'networking.istio.io' : 'gateway.networking.k8s.io'}\u0000${name}`;
}

/**
 * The entry point a document opens; a string when it is of an entry kind but opens none (the
 * reason); undefined for every other kind.
 */
export function entryOf(i: Item, svc: Service | undefined): Entry | string | undefined {
  const id = `${i.namespace}/${i.name}`;
  if (i.kind === 'Service' && svc) {
    if (svc.type === 'ExternalName')
      return 'an ExternalName Service points outside the cluster; no pods to select';
    if (svc.type !== 'LoadBalancer' && svc.type !== 'NodePort') return undefined;
    return {
      via: `Service/${svc.type} ${id}`,
      what: `a ${svc.type} Service`,
      backends: [{ namespace: i.namespace, name: i.name }],
      gateways: [],
      problems: [],
    };
  }
  if (i.kind === 'Ingress') {
    return {
      via: `Ingress ${id}`,
      what: 'an Ingress',
      backends: ingressBackends(i.spec).map((b) => ({ ...b, namespace: i.namespace })),
      gateways: [],
      problems: [],
    };
  }
  if (ROUTE_KINDS.has(i.kind) && isGatewayApi(i.obj)) {
    const parents = Array.isArray(i.spec.parentRefs) ? i.spec.parentRefs.filter(isObject) : [];
    const gateways = parents
      .filter((p) => (p.kind ?? 'Gateway') === 'Gateway' && typeof p.name === 'string')
      .map((p) => `${typeof p.namespace === 'string' ? p.namespace : i.namespace}/${p.name}`);
    if (gateways.length === 0)
      return 'its parents are Services (mesh routing inside the cluster), not a Gateway: no entry point';
    return {
      via: `${i.kind} ${id} (Gateway ${gateways.join(', ')})`,
      what: `a ${i.kind} through Gateway ${gateways.join(', ')}`,
      backends: routeBackends(i.spec).map((b) => ({ ...b, namespace: b.namespace ?? i.namespace })),
      gateways: gateways.map((g) => gatewayKey(i.obj, g)),
      problems: [],
    };
  }
  if (i.kind === 'VirtualService' && isIstio(i.obj)) {
    const gateways = (Array.isArray(i.spec.gateways) ? i.spec.gateways : [])
      .filter((g): g is string => typeof g === 'string' && g !== 'mesh')
      .map((g) => (g.includes('/') ? g : `${i.namespace}/${g}`));
    if (gateways.length === 0)
      return 'routes mesh traffic only (no `gateways`): no entry point; its hosts are Services already read';
    const entry: Entry = {
      via: `VirtualService ${id} (Gateway ${gateways.join(', ')})`,
      what: `a VirtualService bound to Gateway ${gateways.join(', ')}`,
      backends: [],
      gateways: gateways.map((g) => gatewayKey(i.obj, g)),
      problems: [],
    };
    for (const d of virtualServiceDestinations(i.spec)) {
      const host = serviceOfHost(d.host, i.namespace);
      if (host) entry.backends.push({ ...host, ...(d.port ? { port: d.port } : {}) });
      else entry.problems.push(`destination host ${d.host} is not a Kubernetes Service name`);
    }
    return entry;
  }
  return undefined;
}

export interface Backend {
  name: string;
  namespace?: string;
  port?: number | string;
}

/** Ingress backends: networking.k8s.io/v1 (`service.name`, `service.port`) and the older form. */
export function ingressBackends(spec: Obj): Backend[] {
  const out: Backend[] = [];
  const add = (b: unknown): void => {
    if (!isObject(b)) return;
    if (isObject(b.service) && typeof b.service.name === 'string') {
      const port = isObject(b.service.port) ? b.service.port : {};
      out.push({
        name: b.service.name,
        port: validPort(port.number)
          ? port.number
          : typeof port.name === 'string'
            ? port.name
            : undefined,
      });
    } else if (typeof b.serviceName === 'string') {
      out.push({
        name: b.serviceName,
        port:
          validPort(b.servicePort) || typeof b.servicePort === 'string' ? b.servicePort : undefined,
      });
    }
  };
  add(spec.defaultBackend ?? spec.backend);
  for (const r of Array.isArray(spec.rules) ? spec.rules : []) {
    if (!isObject(r) || !isObject(r.http) || !Array.isArray(r.http.paths)) continue;
    for (const p of r.http.paths) if (isObject(p)) add(p.backend);
  }
  return out;
}

/** Gateway API route backends of kind Service (the default). */
export function routeBackends(spec: Obj): Backend[] {
  const out: Backend[] = [];
  for (const r of Array.isArray(spec.rules) ? spec.rules : []) {
    if (!isObject(r) || !Array.isArray(r.backendRefs)) continue;
    for (const b of r.backendRefs) {
      if (!isObject(b) || typeof b.name !== 'string') continue;
      if ((b.kind ?? 'Service') !== 'Service') continue;
      const backend: Backend = { name: b.name };
      if (typeof b.namespace === 'string') backend.namespace = b.namespace;
      if (validPort(b.port)) backend.port = b.port;
      out.push(backend);
    }
  }
  return out;
}

/** Istio VirtualService route destinations (http, tcp and tls routes). */
export function virtualServiceDestinations(spec: Obj): { host: string; port?: number }[] {
  const out: { host: string; port?: number }[] = [];
  for (const section of ['http', 'tcp', 'tls'] as const) {
    for (const route of Array.isArray(spec[section]) ? spec[section] : []) {
      if (!isObject(route) || !Array.isArray(route.route)) continue;
      for (const r of route.route) {
        if (!isObject(r) || !isObject(r.destination) || typeof r.destination.host !== 'string')
          continue;
        const d: { host: string; port?: number } = { host: r.destination.host };
        const port = isObject(r.destination.port) ? r.destination.port.number : undefined;
        if (validPort(port)) d.port = port;
        out.push(d);
      }
    }
  }
  return out;
}

/** `name`, `name.ns`, `name.ns.svc[.cluster.local]` relative to `ns`; undefined otherwise. */
export function serviceOfHost(
  host: string,
  ns: string,
): { name: string; namespace: string } | undefined {
  const labels = host.toLowerCase().split('.');
  if (labels.length === 1) return { name: labels[0]!, namespace: ns };
  if (labels.length === 2 || labels[2] === 'svc')
    return { name: labels[0]!, namespace: labels[1]! };
  return undefined;
}
