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
 * Node ids are service keys, as Ward's documents, decisions and tokens name services: `name` in
 * the default namespace and `namespace/name` in any other (a Service `orders` in namespace `shop`
 * is `shop/orders`). Objects whose metadata names no namespace are in `defaultNamespace`, as
 * `kubectl apply -n` places them.
 */
import { defaultSpiffeId, isNamespace, serviceKey } from '@ward/spiffe';
import type { EntryPoint, GraphBuilder, GraphDiagnostic, PodPort, SourceRef } from '../model.ts';
import { sortPorts } from '../model.ts';
import { isObject, stringMap } from '../util.ts';
import { findHostRefs } from './hostnames.ts';
import { entryOf, gatewayKey } from './k8s-entry-points.ts';
import {
  type Item,
  itemName,
  type Obj,
  type Path,
  protocolOf,
  type Service,
  type ServicePort,
  validPort,
  WORKLOAD_KINDS,
  type Workload,
  workloadOf,
} from './k8s-objects.ts';
import { classifyWorkload } from './kinds.ts';
import { wardLabels } from './labels.ts';
import { parseYamlDocuments } from './yaml-docs.ts';

export interface KubernetesReadOptions {
  /** Trust domain of generated SPIFFE IDs. Default `cluster.local` (Istio's default). */
  trustDomain?: string;
  /** Namespace of objects whose metadata names none. Default `default`. */
  defaultNamespace?: string;
}

interface Text {
  value: string;
  file: string;
  line: number;
  startup: boolean;
}

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
        const namespace =
          typeof meta.namespace === 'string' && meta.namespace !== ''
            ? meta.namespace
            : this.defaultNamespace;
        if (!isNamespace(namespace) || name.includes('/')) {
          // Kubernetes refuses both; in a node's key either could name another namespace's service.
          this.builder.note({
            file,
            line: doc.lineOf(path),
            kind: obj.kind,
            name: `${namespace}/${name}`,
            action: 'skipped',
            reason: isNamespace(namespace)
              ? 'metadata.name holds a `/`'
              : 'metadata.namespace is not a namespace (a DNS label)',
          });
          continue;
        }
        this.items.push({
          obj,
          kind: obj.kind,
          name,
          namespace,
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
    const idOf = serviceKey;
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
