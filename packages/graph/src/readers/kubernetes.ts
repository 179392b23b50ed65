/**
 * Kubernetes manifests (multi-document YAML, `List` objects too), read as one set across files so
 * a Deployment in one file and its Service in another still meet:
 *
 * - Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs and Pods become services,
 *   typed database/cache/broker from their images or ports (./kinds.ts);
 * - Services map DNS names to the workloads they select and their ports to pod ports
 *   (`targetPort`, named ports included, resolved to the `containerPort`);
 * - ConfigMaps contribute their data to the workloads that mount or reference them;
 * - entry points (LoadBalancer and NodePort Services, Ingress, Gateway API routes with their
 *   Gateway, Istio Gateway + VirtualService) mark the workloads reachable from outside;
 * - ServiceEntry hosts become external nodes.
 *
 * Edges come from container env values, args, command and referenced ConfigMap data that name
 * another Service (`http://orders:8080`, `orders.shop.svc.cluster.local`, `orders.shop:5432`).
 * References made by init containers are startup edges; all others are runtime edges. Every other
 * document, and every reference that names no Service in the inputs, is reported as a diagnostic.
 *
 * Node ids are the workload names, as traces name services; only a name used in more than one
 * namespace is qualified, as `namespace/name`, so graphs of one namespace keep their ids.
 */
import { defaultSpiffeId } from '@ward/spiffe';
import type { EntryPoint, GraphBuilder, GraphDiagnostic, PodPort, SourceRef } from '../model.ts';
import { sortPorts } from '../model.ts';
import { isObject, stringMap } from '../util.ts';
import { findHostRefs } from './hostnames.ts';
import { classifyWorkload } from './kinds.ts';
import { wardLabels } from './labels.ts';
import { parseYamlDocuments, type YamlDoc } from './yaml-docs.ts';

export interface KubernetesReadOptions {
  /** Trust domain of generated SPIFFE IDs. Default `cluster.local` (Istio's default). */
  trustDomain?: string;
  /** Namespace of objects whose metadata names none. Default `default`. */
  defaultNamespace?: string;
}

type Obj = Record<string, unknown>;
type Path = (string | number)[];
type Protocol = PodPort['protocol'];

/** One object of a manifest, with where it is. */
interface Item {
  obj: Obj;
  kind: string;
  name: string;
  namespace: string;
  spec: Obj;
  path: Path;
  doc: YamlDoc;
  file: string;
}

interface ContainerPort {
  name?: string;
  port: number;
  protocol: Protocol;
}

interface Workload {
  item: Item;
  id: string;
  selector: Record<string, string>;
  podLabels: Record<string, string>;
  pod: Obj;
  podPath: Path;
  ports: ContainerPort[];
}

interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol: Protocol;
}

interface Service {
  item: Item;
  type: string;
  ports: ServicePort[];
  /** Workloads it selects; empty when none is in the inputs (then `id` is a node of its own). */
  workloads: Workload[];
  id: string;
}

interface Text {
  value: string;
  file: string;
  line: number;
  startup: boolean;
}

const WORKLOAD_KINDS = new Set([
  'Deployment',
  'StatefulSet',
  'DaemonSet',
  'ReplicaSet',
  'Job',
  'CronJob',
  'Pod',
]);
const ROUTE_KINDS = new Set(['HTTPRoute', 'GRPCRoute', 'TCPRoute', 'TLSRoute', 'UDPRoute']);
const SCHEME_PORTS: Record<string, number> = { http: 80, https: 443, ws: 80, wss: 443 };

/** Why a kind Ward does not read is skipped (the default reason covers the rest). */
const SKIP_REASONS: Record<string, string> = {
  NetworkPolicy:
    'an existing network policy restricts traffic but declares no dependency; compare it with `ward graph export networkpolicy`',
  AuthorizationPolicy:
    'an existing Istio policy restricts traffic but declares no dependency; compare it with `ward graph export istio`',
  DestinationRule: 'traffic settings for a host, no dependency',
  PeerAuthentication: 'mTLS settings, no dependency',
  Secret: 'Secret values are not read (they may hold credentials)',
  Namespace: 'a namespace declares no dependency',
  ServiceAccount: 'identity only; workloads name their service account',
};
const DEFAULT_SKIP = 'declares no dependency Ward reads';
/** Kinds without a namespace: diagnostics name them without one. */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'Node',
  'PersistentVolume',
  'StorageClass',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'IngressClass',
  'GatewayClass',
  'PriorityClass',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
]);

function itemName(i: { kind: string; namespace: string; name: string }): string {
  return CLUSTER_SCOPED.has(i.kind) ? i.name : `${i.namespace}/${i.name}`;
}

export function readKubernetes(
  text: string,
  file: string,
  builder: GraphBuilder,
  options: KubernetesReadOptions = {},
): void {
  const set = new KubernetesSet(builder, options);
  set.add(text, file);
  set.resolve();
}

/**
 * Manifests from any number of files: `add` parses each file (syntax errors surface at once,
 * with file and line), `resolve` builds nodes and edges once all are in.
 */
export class KubernetesSet {
  private readonly items: Item[] = [];
  private readonly builder: GraphBuilder;
  private readonly trustDomain: string;
  private readonly defaultNamespace: string;

  constructor(builder: GraphBuilder, options: KubernetesReadOptions = {}) {
    this.builder = builder;
    this.trustDomain = options.trustDomain ?? 'cluster.local';
    this.defaultNamespace = options.defaultNamespace ?? 'default';
  }

  add(text: string, file: string): void {
    for (const doc of parseYamlDocuments(text, file, 'Kubernetes manifests')) {
      const entries: [unknown, Path][] = [];
      if (isObject(doc.data) && doc.data.kind === 'List' && Array.isArray(doc.data.items)) {
        for (const [i, item] of (doc.data.items as unknown[]).entries())
          entries.push([item, ['items', i]]);
      } else entries.push([doc.data, []]);
      for (const [obj, path] of entries) {
        if (obj === null || obj === undefined) continue; // an empty document between `---`
        const name = isObject(obj) && isObject(obj.metadata) ? obj.metadata.name : undefined;
        if (!isObject(obj) || typeof obj.kind !== 'string' || typeof name !== 'string' || !name) {
          this.builder.note({
            file,
            line: doc.lineOf(path),
            kind: isObject(obj) && typeof obj.kind === 'string' ? obj.kind : '(none)',
            name: '(none)',
            action: 'skipped',
            reason: 'not a Kubernetes object: needs a string `kind` and `metadata.name`',
          });
          continue;
        }
        const meta = obj.metadata as Obj;
        this.items.push({
          obj,
          kind: obj.kind,
          name,
          namespace:
            typeof meta.namespace === 'string' && meta.namespace !== ''
              ? meta.namespace
              : this.defaultNamespace,
          spec: isObject(obj.spec) ? obj.spec : {},
          path,
          doc,
          file,
        });
      }
    }
  }

  resolve(): void {
    const workloads = this.items.flatMap((i) => {
      const w = WORKLOAD_KINDS.has(i.kind) ? workloadOf(i) : undefined;
      if (WORKLOAD_KINDS.has(i.kind) && !w) this.skip(i, `a ${i.kind} without a pod template`);
      return w ? [w] : [];
    });
    const qualify = ambiguousNames([
      ...workloads.map((w) => w.item),
      ...this.items.filter((i) => i.kind === 'Service'),
    ]);
    const idOf = (ns: string, name: string): string => (qualify.has(name) ? `${ns}/${name}` : name);
    for (const w of workloads) {
      w.id = idOf(w.item.namespace, w.item.name);
      this.addWorkloadNode(w);
    }
    const services = new Map<string, Service>();
    for (const item of this.items.filter((i) => i.kind === 'Service')) {
      const svc = this.serviceOf(item, workloads, idOf);
      services.set(`${item.namespace}/${item.name}`, svc);
    }
    const configMaps = new Map<string, Item>();
    for (const item of this.items.filter((i) => i.kind === 'ConfigMap'))
      configMaps.set(`${item.namespace}/${item.name}`, item);
    const external = this.serviceEntries();
    this.entryPoints(services);
    const namespaces = new Set(this.items.map((i) => i.namespace));
    const edgesPerFile = new Map<string, number>();
    for (const w of workloads) {
      for (const t of texts(w, configMaps)) {
        const n = this.edgesFrom(w, t, services, external, namespaces);
        edgesPerFile.set(w.item.file, (edgesPerFile.get(w.item.file) ?? 0) + n);
      }
    }
    for (const file of new Set(workloads.map((w) => w.item.file))) {
      if ((edgesPerFile.get(file) ?? 0) > 0) continue;
      this.builder.note({
        file,
        kind: 'file',
        name: file,
        action: 'hint',
        reason:
          'its workloads name no other Service in env, args, command or ConfigMaps: their dependencies probably live in code or configuration files (try `ward graph scan DIR`, or add traces)',
      });
    }
  }

  private skip(i: Item, reason: string): void {
    this.note(i, 'skipped', reason);
  }

  private used(i: Item, reason: string): void {
    this.note(i, 'used', reason);
  }

  private note(i: Item, action: GraphDiagnostic['action'], reason: string): void {
    this.builder.note({
      file: i.file,
      line: i.doc.lineOf(i.path),
      kind: i.kind,
      name: itemName(i),
      action,
      reason,
    });
  }

  private addWorkloadNode(w: Workload): void {
    const { item, pod } = w;
    const meta = item.obj.metadata as Obj;
    const podMeta = isObject(pod.metadata) ? pod.metadata : {};
    const podSpec = isObject(pod.spec) ? pod.spec : {};
    const sa =
      typeof podSpec.serviceAccountName === 'string' && podSpec.serviceAccountName
        ? podSpec.serviceAccountName
        : typeof podSpec.serviceAccount === 'string' && podSpec.serviceAccount
          ? podSpec.serviceAccount
          : 'default';
    const images = (Array.isArray(podSpec.containers) ? podSpec.containers : [])
      .map((c: unknown) => (isObject(c) && typeof c.image === 'string' ? c.image : ''))
      .filter((s: string) => s !== '');
    const typed = classifyWorkload(
      images,
      w.ports.map((p) => p.port),
    );
    this.builder.service(
      w.id,
      {
        virtual: false,
        namespace: item.namespace,
        serviceAccount: sa,
        spiffeId: defaultSpiffeId(this.trustDomain, item.namespace, sa),
        labels: {
          ...wardLabels(w.podLabels, stringMap(podMeta.annotations)),
          ...wardLabels(stringMap(meta.labels), stringMap(meta.annotations)),
        },
        podSelector: w.selector,
        ...(typed ?? {}),
      },
      item.file,
    );
  }

  private serviceOf(
    item: Item,
    workloads: Workload[],
    idOf: (ns: string, name: string) => string,
  ): Service {
    const selector = stringMap(item.spec.selector);
    const selected =
      Object.keys(selector).length === 0
        ? []
        : workloads.filter(
            (w) =>
              w.item.namespace === item.namespace &&
              Object.entries(selector).every(([k, v]) => w.podLabels[k] === v),
          );
    const ports: ServicePort[] = [];
    if (Array.isArray(item.spec.ports)) {
      for (const p of item.spec.ports) {
        if (!isObject(p) || !validPort(p.port)) continue;
        const sp: ServicePort = { port: p.port, protocol: protocolOf(p.protocol) };
        if (typeof p.name === 'string') sp.name = p.name;
        if (validPort(p.targetPort) || (typeof p.targetPort === 'string' && p.targetPort !== ''))
          sp.targetPort = p.targetPort;
        ports.push(sp);
      }
    }
    const id = idOf(item.namespace, item.name);
    if (selected.length === 0) {
      // A Service whose pods are not in these files (or an ExternalName): the DNS name is the node.
      this.builder.service(
        id,
        { virtual: !this.builder.has(id), namespace: item.namespace },
        item.file,
      );
    }
    return {
      item,
      type: typeof item.spec.type === 'string' ? item.spec.type : 'ClusterIP',
      ports,
      workloads: selected,
      id,
    };
  }

  /** ServiceEntry hosts → external nodes; returns host (or `*.suffix`) → node id. */
  private serviceEntries(): Map<string, string> {
    const hosts = new Map<string, string>();
    for (const i of this.items.filter((x) => x.kind === 'ServiceEntry')) {
      const list = Array.isArray(i.spec.hosts)
        ? i.spec.hosts.filter((h): h is string => typeof h === 'string' && h !== '')
        : [];
      for (const host of list) {
        const h = host.toLowerCase();
        hosts.set(h, h);
        this.builder.service(
          h,
          { virtual: true, type: 'external', namespace: i.namespace },
          i.file,
        );
      }
      if (list.length > 0) this.used(i, `hosts ${list.join(', ')} become external nodes`);
      else this.skip(i, 'a ServiceEntry without hosts');
    }
    return hosts;
  }

  /** Marks the workloads that traffic from outside reaches, and notes each document used. */
  private entryPoints(services: Map<string, Service>): void {
    const gatewaysUsed = new Set<string>();
    const handled = new Set<Item>();
    for (const i of this.items) {
      const entry = entryOf(i, services.get(`${i.namespace}/${i.name}`));
      if (entry === undefined) continue;
      handled.add(i);
      if (typeof entry === 'string') {
        this.skip(i, entry);
        continue;
      }
      for (const g of entry.gateways) gatewaysUsed.add(g);
      const targets: string[] = [];
      const problems = [...entry.problems];
      for (const b of entry.backends) {
        const problem = this.markEntry(i, entry.via, services.get(`${b.namespace}/${b.name}`), b);
        if (problem) problems.push(problem);
        else targets.push(`${b.namespace}/${b.name}`);
      }
      for (const reason of problems) this.note(i, 'unresolved', reason);
      if (targets.length > 0)
        this.used(
          i,
          `${entry.what}: traffic from outside into ${[...new Set(targets)].join(', ')}`,
        );
      else if (problems.length === 0) this.skip(i, `${entry.what} with no backend`);
    }
    // Gateways, and every other kind nothing reads.
    for (const i of this.items) {
      if (handled.has(i) || READ_KINDS.has(i.kind)) continue;
      if (i.kind === 'Gateway') {
        if (gatewaysUsed.has(gatewayKey(i.obj, `${i.namespace}/${i.name}`)))
          this.used(i, 'the routes bound to it are entry points');
        else this.skip(i, 'no route or VirtualService in the inputs is bound to it');
      } else this.skip(i, SKIP_REASONS[i.kind] ?? DEFAULT_SKIP);
    }
  }

  /** Adds an entry point to every workload behind `svc`; returns why it could not, if so. */
  private markEntry(
    i: Item,
    via: string,
    svc: Service | undefined,
    b: { namespace: string; name: string; port?: number | string },
  ): string | undefined {
    if (!svc) return `backend Service ${b.namespace}/${b.name} is not in the inputs`;
    if (svc.workloads.length === 0)
      return `backend Service ${b.namespace}/${b.name} selects no workload in the inputs`;
    const line = i.doc.lineOf(i.path);
    for (const w of svc.workloads) {
      const entry: EntryPoint = { via, file: i.file, line };
      const ports = this.podPorts(svc, b.port, w, i.file, line);
      if (ports) entry.ports = ports;
      this.builder.service(w.id, { entryPoints: [entry] });
    }
    return undefined;
  }

  /**
   * The pod ports a call to `svc` on `port` (a Service port number or name; undefined: all)
   * reaches on workload `w`. Undefined when they cannot be known; each such case is noted.
   */
  private podPorts(
    svc: Service,
    port: number | string | undefined,
    w: Workload | undefined,
    file: string,
    line: number,
  ): PodPort[] | undefined {
    const name = `${svc.item.namespace}/${svc.item.name}`;
    const unresolved = (reason: string): undefined => {
      this.builder.note({ file, line, kind: 'port', name, action: 'unresolved', reason });
      return undefined;
    };
    if (svc.ports.length === 0) return unresolved('the Service lists no ports: ports left open');
    let chosen = svc.ports;
    if (port !== undefined) {
      chosen = svc.ports.filter((p) =>
        typeof port === 'number' ? p.port === port : p.name === port,
      );
      if (chosen.length === 0) {
        // Called on a pod port directly (headless Services are often used so).
        const direct = w?.ports.find((c) => c.port === port || c.name === port);
        if (direct) return [{ port: direct.port, protocol: direct.protocol }];
        return unresolved(`port ${port} is not a port of the Service: ports left open`);
      }
    }
    const out = new Map<string, PodPort>();
    for (const p of chosen) {
      const target = p.targetPort ?? p.port;
      let podPort: number | undefined;
      if (typeof target === 'number') podPort = target;
      else {
        const named = w?.ports.find((c) => c.name === target);
        if (!named)
          return unresolved(
            `targetPort "${target}" names no containerPort of ${w ? w.id : 'a workload in the inputs'}: ports left open`,
          );
        podPort = named.port;
      }
      out.set(`${p.protocol}/${podPort}`, { port: podPort, protocol: p.protocol });
    }
    return sortPorts([...out.values()]);
  }

  /** Declares the edges one configuration string of `w` names; returns how many. */
  private edgesFrom(
    w: Workload,
    t: Text,
    services: Map<string, Service>,
    external: Map<string, string>,
    namespaces: Set<string>,
  ): number {
    const source: SourceRef = { type: 'kubernetes', file: t.file, line: t.line };
    const kind = t.startup ? 'startup' : 'runtime';
    let n = 0;
    for (const ref of findHostRefs(t.value)) {
      const ns = ref.namespace ?? w.item.namespace;
      const svc = services.get(`${ns}/${ref.name}`);
      if (!svc) {
        const qualified = ref.namespace !== undefined;
        const explicit = ref.serviceDns === true || (qualified && namespaces.has(ref.namespace!));
        const bare = !qualified && /^[a-z]/.test(ref.name) && ref.name !== 'localhost';
        if (explicit || bare) {
          this.builder.note({
            file: t.file,
            line: t.line,
            kind: 'reference',
            name: qualified ? `${ref.name}.${ref.namespace}` : ref.name,
            action: 'unresolved',
            reason: `${w.id} names ${qualified ? `${ref.name}.${ref.namespace}` : ref.name}${ref.port ? `:${ref.port}` : ''}, but no Service ${ns}/${ref.name} is in the inputs`,
          });
        }
        continue;
      }
      const port = ref.port ?? (ref.scheme ? SCHEME_PORTS[ref.scheme] : undefined);
      const targets = svc.workloads.length > 0 ? svc.workloads : [undefined];
      for (const target of targets) {
        const id = target ? target.id : svc.id;
        if (id === w.id) continue;
        const extra: { port?: number; podPorts?: PodPort[] } = {};
        if (ref.port !== undefined) extra.port = ref.port;
        // A scheme's default port the Service does not list: the URL may still work through
        // another port mapping we cannot see, so fall back to all the Service's ports.
        const wanted =
          ref.port === undefined && port !== undefined && !svc.ports.some((p) => p.port === port)
            ? undefined
            : port;
        const podPorts = this.podPorts(svc, wanted, target, t.file, t.line);
        if (podPorts) extra.podPorts = podPorts;
        this.builder.declare(w.id, id, kind, source, extra);
        n++;
      }
    }
    for (const [host, id] of external) {
      if (!mentionsHost(t.value, host)) continue;
      this.builder.declare(w.id, id, kind, source);
      n++;
    }
    return n;
  }
}

/** Kinds read as nodes, data or external hosts: never reported as skipped. */
const READ_KINDS = new Set([...WORKLOAD_KINDS, 'Service', 'ConfigMap', 'ServiceEntry']);

/** An entry-point document: what it opens, to which Service backends, through which gateways. */
interface Entry {
  via: string;
  what: string;
  backends: { namespace: string; name: string; port?: number | string }[];
  /** Keys (`api\0ns/name`) of the Gateways it is bound to. */
  gateways: string[];
  problems: string[];
}

function gatewayKey(obj: Obj, name: string): string {
  return `${isIstio(obj) ? 'networking.istio.io' : 'gateway.networking.k8s.io'}\u0000${name}`;
}

/**
 * The entry point a document opens; a string when it is of an entry kind but opens none (the
 * reason); undefined for every other kind.
 */
function entryOf(i: Item, svc: Service | undefined): Entry | string | undefined {
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

function workloadOf(item: Item): Workload | undefined {
  const { obj, spec, path } = item;
  let pod: unknown;
  let podPath: Path;
  if (item.kind === 'Pod') {
    pod = obj;
    podPath = path;
  } else if (item.kind === 'CronJob') {
    const job =
      isObject(spec.jobTemplate) && isObject(spec.jobTemplate.spec) ? spec.jobTemplate.spec : {};
    pod = job.template;
    podPath = [...path, 'spec', 'jobTemplate', 'spec', 'template'];
  } else {
    pod = spec.template;
    podPath = [...path, 'spec', 'template'];
  }
  if (!isObject(pod)) return undefined;
  const podMeta = isObject(pod.metadata) ? pod.metadata : {};
  const podLabels = stringMap(item.kind === 'Pod' ? (obj.metadata as Obj).labels : podMeta.labels);
  const matchLabels = isObject(spec.selector) ? stringMap(spec.selector.matchLabels) : {};
  const podSpec = isObject(pod.spec) ? pod.spec : {};
  const ports: ContainerPort[] = [];
  for (const c of Array.isArray(podSpec.containers) ? podSpec.containers : []) {
    if (!isObject(c) || !Array.isArray(c.ports)) continue;
    for (const p of c.ports) {
      if (!isObject(p) || !validPort(p.containerPort)) continue;
      const cp: ContainerPort = { port: p.containerPort, protocol: protocolOf(p.protocol) };
      if (typeof p.name === 'string') cp.name = p.name;
      ports.push(cp);
    }
  }
  return {
    item,
    id: item.name,
    selector: Object.keys(matchLabels).length > 0 ? matchLabels : podLabels,
    podLabels,
    pod,
    podPath: [...podPath, 'spec'],
    ports,
  };
}

/** Names used in more than one namespace: their node ids carry the namespace. */
function ambiguousNames(items: Item[]): Set<string> {
  const seen = new Map<string, string>();
  const out = new Set<string>();
  for (const i of items) {
    const ns = seen.get(i.name);
    if (ns === undefined) seen.set(i.name, i.namespace);
    else if (ns !== i.namespace) out.add(i.name);
  }
  return out;
}

function validPort(p: unknown): p is number {
  return typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 65_535;
}

function protocolOf(p: unknown): Protocol {
  return p === 'UDP' || p === 'SCTP' ? p : 'TCP';
}

function isIstio(obj: Obj): boolean {
  return typeof obj.apiVersion === 'string' && obj.apiVersion.startsWith('networking.istio.io/');
}

function isGatewayApi(obj: Obj): boolean {
  return (
    typeof obj.apiVersion === 'string' && obj.apiVersion.startsWith('gateway.networking.k8s.io/')
  );
}

interface Backend {
  name: string;
  namespace?: string;
  port?: number | string;
}

/** Ingress backends: networking.k8s.io/v1 (`service.name`, `service.port`) and the older form. */
function ingressBackends(spec: Obj): Backend[] {
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
function routeBackends(spec: Obj): Backend[] {
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
function virtualServiceDestinations(spec: Obj): { host: string; port?: number }[] {
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
function serviceOfHost(host: string, ns: string): { name: string; namespace: string } | undefined {
  const labels = host.toLowerCase().split('.');
  if (labels.length === 1) return { name: labels[0]!, namespace: ns };
  if (labels.length === 2 || labels[2] === 'svc')
    return { name: labels[0]!, namespace: labels[1]! };
  return undefined;
}

/** Whether `text` names `host` (a ServiceEntry host, maybe `*.suffix`) as a whole hostname. */
function mentionsHost(text: string, host: string): boolean {
  const lower = text.toLowerCase();
  const wildcard = host.startsWith('*.');
  const needle = wildcard ? host.slice(1) : host;
  let from = 0;
  for (;;) {
    const at = lower.indexOf(needle, from);
    if (at < 0) return false;
    const before = lower[at - 1];
    const after = lower[at + needle.length];
    const endOk = after === undefined || !/[a-z0-9.-]/.test(after);
    const startOk = wildcard
      ? before !== undefined && /[a-z0-9]/.test(before)
      : before === undefined || !/[a-z0-9.-]/.test(before);
    if (startOk && endOk) return true;
    from = at + 1;
  }
}

/** Every configuration string of a workload's pod, with its line and whether it is init-time. */
function texts(w: Workload, configMaps: Map<string, Item>): Text[] {
  const out: Text[] = [];
  const { doc, file } = w.item;
  const fromConfigMap = (name: unknown, key: unknown, startup: boolean): void => {
    if (typeof name !== 'string') return;
    const cm = configMaps.get(`${w.item.namespace}/${name}`);
    if (!cm) return;
    for (const [k, value] of Object.entries(stringMap(cm.obj.data))) {
      if (key === undefined || key === k)
        out.push({ value, file: cm.file, line: cm.doc.lineOf([...cm.path, 'data', k]), startup });
    }
  };
  const pod = isObject(w.pod.spec) ? w.pod.spec : {};
  for (const [field, startup] of [
    ['initContainers', true],
    ['containers', false],
  ] as const) {
    const containers = pod[field];
    if (!Array.isArray(containers)) continue;
    containers.forEach((c: unknown, ci: number) => {
      if (!isObject(c)) return;
      const base = [...w.podPath, field, ci];
      for (const list of ['args', 'command'] as const) {
        const values = c[list];
        if (Array.isArray(values)) {
          values.forEach((v: unknown, i: number) => {
            if (typeof v === 'string')
              out.push({ value: v, file, line: doc.lineOf([...base, list, i]), startup });
          });
        }
      }
      if (Array.isArray(c.env)) {
        c.env.forEach((e: unknown, i: number) => {
          if (!isObject(e)) return;
          if (typeof e.value === 'string')
            out.push({
              value: e.value,
              file,
              line: doc.lineOf([...base, 'env', i, 'value']),
              startup,
            });
          const ref =
            isObject(e.valueFrom) && isObject(e.valueFrom.configMapKeyRef)
              ? e.valueFrom.configMapKeyRef
              : undefined;
          if (ref) fromConfigMap(ref.name, ref.key, startup);
        });
      }
      if (Array.isArray(c.envFrom)) {
        for (const e of c.envFrom) {
          if (isObject(e) && isObject(e.configMapRef))
            fromConfigMap(e.configMapRef.name, undefined, startup);
        }
      }
    });
  }
  if (Array.isArray(pod.volumes)) {
    for (const v of pod.volumes) {
      if (isObject(v) && isObject(v.configMap)) fromConfigMap(v.configMap.name, undefined, false);
    }
  }
  return out;
}
