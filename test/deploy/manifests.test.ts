/**
 * Issue 12 item 2: the Kubernetes manifests under deploy/ render (offline, with the subset
 * renderer in _kustomize.ts, checked against `kubectl kustomize` where that binary exists) and
 * every rendered object validates against its Kubernetes schema, unknown fields refused. Then
 * the invariants a reviewer would check by hand: probes on the server's real health endpoints,
 * the PDB and the NetworkPolicies select the pods they protect, no privilege beyond the agent's
 * stated needs, pinned images, no literal secrets, the TokenReview wiring consistent from the
 * agent's projected token to the control plane's flags and RBAC, and flags the CLI accepts.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../packages/cli/src/main.ts';
import { cleanupDirs, http, startTestServer } from '../../packages/server/test/helpers.ts';
import { schemaErrors } from './_k8s-schema.ts';
import { type K8sObject, parseYamlDocs, render } from './_kustomize.ts';

afterAll(() => cleanupDirs());

const root = join(import.meta.dirname, '..', '..');
const deploy = join(root, 'deploy');
const TARGETS = [
  'base',
  'overlays/dev',
  'overlays/production',
  'overlays/production-mtls',
] as const;
const rendered = Object.fromEntries(TARGETS.map((t) => [t, render(join(deploy, t))])) as Record<
  (typeof TARGETS)[number],
  K8sObject[]
>;

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are walked field by field
type Any = any;
const byKind = (objects: K8sObject[], kind: string): Any[] =>
  objects.filter((o) => o.kind === kind);
const one = (objects: K8sObject[], kind: string, name: string): Any => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found;
};
const workloads = (objects: K8sObject[]): Any[] =>
  objects.filter((o) => ['Deployment', 'DaemonSet', 'StatefulSet'].includes(o.kind));
const containersOf = (w: Any): Any[] => [
  ...(w.spec.template.spec.initContainers ?? []),
  ...w.spec.template.spec.containers,
];
const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
/** `--flag=value` of a container's args. */
const flag = (c: Any, name: string): string | undefined =>
  ((c.args ?? []) as string[]).find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);

function kubectlAvailable(): boolean {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('deploy/: rendering', () => {
  it.runIf(kubectlAvailable())(
    'the offline renderer gives what `kubectl kustomize` gives, object for object',
    () => {
      for (const target of TARGETS) {
        const theirs = parseYamlDocs(
          execFileSync('kubectl', ['kustomize', join(deploy, target)]).toString(),
          target,
        ) as K8sObject[];
        const key = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
        const mine = new Map(rendered[target].map((o) => [key(o), o]));
        expect(new Set(theirs.map(key)), target).toEqual(new Set(mine.keys()));
        for (const o of theirs) expect(mine.get(key(o)), `${target} ${key(o)}`).toEqual(o);
      }
    },
  );

  it('refuses a kustomization field it does not implement, rather than ignore it', () => {
    expect(() => render(join(import.meta.dirname, 'fixtures', 'unsupported'))).toThrow(
      /"commonLabels" is not supported/,
    );
  });

  for (const target of TARGETS) {
    it(`${target}: every object validates against its Kubernetes schema, unknown fields refused`, () => {
      const objects = rendered[target];
      expect(objects.length).toBeGreaterThan(10);
      for (const o of objects) expect(schemaErrors(o), `${o.kind} ${o.metadata.name}`).toEqual([]);
    });
  }

  it('the schema check catches a misspelt field and a wrong type', () => {
    const d = structuredClone(one(rendered.base, 'Deployment', 'ward-control-plane'));
    d.spec.template.spec.containers[0].readinesProbe =
      d.spec.template.spec.containers[0].readinessProbe;
    d.spec.replicas = 'two';
    const errors = schemaErrors(d).join('\n');
    expect(errors).toMatch(/replicas must be integer/);
    const typo = structuredClone(one(rendered.base, 'Deployment', 'ward-control-plane'));
    typo.spec.template.spec.containers[0].readinesProbe = {};
    expect(schemaErrors(typo)).toEqual([
      '/spec/template/spec/containers/0/readinesProbe: not a field of the Deployment schema',
    ]);
  });
});

describe('deploy/: invariants of every overlay', () => {
  for (const target of TARGETS) {
    describe(target, () => {
      const objects = rendered[target];
      const cp = () => one(objects, 'Deployment', 'ward-control-plane');
      const agent = () => one(objects, 'DaemonSet', 'ward-agent');

      it('probes every container; the control plane on /healthz and /readyz of its API port', () => {
        for (const w of workloads(objects)) {
          for (const c of w.spec.template.spec.containers) {
            expect(c.livenessProbe, `${w.metadata.name}/${c.name}`).toBeDefined();
            expect(c.readinessProbe, `${w.metadata.name}/${c.name}`).toBeDefined();
          }
        }
        const server = cp().spec.template.spec.containers[0];
        expect(server.livenessProbe.httpGet.path).toBe('/healthz');
        expect(server.readinessProbe.httpGet.path).toBe('/readyz');
        const port = server.ports.find((p: Any) => p.name === server.readinessProbe.httpGet.port);
        expect(port.containerPort).toBe(Number(flag(server, '--listen')!.split(':')[1]));
        const tls = flag(server, '--tls-cert') !== undefined;
        for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
          expect(server[probe].httpGet.scheme ?? 'HTTP').toBe(tls ? 'HTTPS' : 'HTTP');
        }
      });

      it('runs several control-plane replicas (one in dev), and a PDB that selects them and allows a drain', () => {
        const replicas = cp().spec.replicas;
        expect(replicas).toBe(target === 'overlays/dev' ? 1 : target === 'base' ? 2 : 3);
        const pdbs = byKind(objects, 'PodDisruptionBudget').filter((p) =>
          matches(p.spec.selector.matchLabels, cp().spec.template.metadata.labels),
        );
        expect(pdbs).toHaveLength(1);
        // maxUnavailable ≥ 1: one replica may always go, so a node drain never blocks.
        expect(pdbs[0].spec.maxUnavailable).toBeGreaterThanOrEqual(1);
        // …and it selects nothing else.
        for (const w of workloads(objects).filter((x) => x !== cp())) {
          expect(matches(pdbs[0].spec.selector.matchLabels, w.spec.template.metadata.labels)).toBe(
            false,
          );
        }
      });

      it('every workload selector matches its own pod labels, every Service selects pods and named ports', () => {
        for (const w of workloads(objects)) {
          expect(matches(w.spec.selector.matchLabels, w.spec.template.metadata.labels)).toBe(true);
        }
        for (const s of byKind(objects, 'Service')) {
          const pods = workloads(objects).filter((w) =>
            matches(s.spec.selector, w.spec.template.metadata.labels),
          );
          expect(pods, s.metadata.name).toHaveLength(1);
          const names = containersOf(pods[0]).flatMap((c) =>
            (c.ports ?? []).map((p: Any) => p.name),
          );
          for (const p of s.spec.ports) expect(names).toContain(p.targetPort);
        }
      });

      it("the control plane's NetworkPolicy: ingress only on its port, egress only DNS, PostgreSQL, the API", () => {
        const policies = byKind(objects, 'NetworkPolicy').filter((p) =>
          matches(p.spec.podSelector.matchLabels, cp().spec.template.metadata.labels),
        );
        expect(policies).toHaveLength(1);
        const np = policies[0];
        expect(np.spec.policyTypes).toEqual(['Ingress', 'Egress']);
        const port = cp().spec.template.spec.containers[0].ports[0].containerPort;
        for (const rule of np.spec.ingress) {
          expect(rule.ports).toEqual([{ port, protocol: 'TCP' }]);
          expect(rule.from.length).toBeGreaterThan(0);
        }
        // The agents are among the allowed callers.
        const from = np.spec.ingress.flatMap((r: Any) => r.from);
        expect(
          from.some(
            (f: Any) =>
              f.podSelector &&
              !f.namespaceSelector &&
              matches(f.podSelector.matchLabels, agent().spec.template.metadata.labels),
          ),
        ).toBe(true);
        const egressPorts = np.spec.egress
          .flatMap((r: Any) => r.ports.map((p: Any) => p.port))
          .sort((a: number, b: number) => a - b);
        expect(egressPorts).toEqual([53, 53, 443, 5432, 6443]);
        const dns = np.spec.egress.find((r: Any) => r.ports.some((p: Any) => p.port === 53));
        expect(dns.to[0].podSelector.matchLabels).toEqual({ 'k8s-app': 'kube-dns' });
        if (target.startsWith('overlays/production')) {
          // Production pins every egress rule to a destination.
          for (const rule of np.spec.egress)
            expect(rule.to?.length, JSON.stringify(rule)).toBeGreaterThan(0);
        }
      });

      it("the agent's NetworkPolicy: no ingress, egress to the control plane and DNS only", () => {
        const np = byKind(objects, 'NetworkPolicy').find((p) =>
          matches(p.spec.podSelector.matchLabels, agent().spec.template.metadata.labels),
        );
        expect(np.spec.policyTypes).toEqual(['Ingress', 'Egress']);
        expect(np.spec.ingress ?? []).toEqual([]);
        const toCp = np.spec.egress.find((r: Any) =>
          r.to.some(
            (t: Any) =>
              t.podSelector &&
              matches(t.podSelector.matchLabels, cp().spec.template.metadata.labels),
          ),
        );
        expect(toCp.ports).toEqual([{ port: 8181, protocol: 'TCP' }]);
        expect(np.spec.egress).toHaveLength(2);
      });

      it('no privilege beyond what the agent needs, and says why', () => {
        for (const w of workloads(objects)) {
          const pod = w.spec.template.spec;
          const isAgent = w === agent();
          expect(pod.securityContext.seccompProfile.type, w.metadata.name).toBe('RuntimeDefault');
          expect(pod.hostNetwork ?? false).toBe(false);
          expect(pod.hostIPC ?? false).toBe(false);
          // hostPID: the agent maps SO_PEERCRED pids to /proc (agent-daemonset.yaml says why).
          expect(pod.hostPID ?? false).toBe(isAgent);
          const hostPaths = (pod.volumes ?? []).filter((v: Any) => v.hostPath);
          expect(hostPaths.map((v: Any) => v.hostPath.path)).toEqual(isAgent ? ['/run/ward'] : []);
          for (const c of containersOf(w)) {
            const sc = c.securityContext;
            const where = `${w.metadata.name}/${c.name}`;
            expect(sc.privileged ?? false, where).toBe(false);
            expect(sc.allowPrivilegeEscalation, where).toBe(false);
            expect(sc.readOnlyRootFilesystem, where).toBe(true);
            expect(sc.capabilities.drop, where).toEqual(['ALL']);
            // CAP_SYS_PTRACE: reading /proc/<pid>/exe of workloads running as other users.
            expect(sc.capabilities.add ?? [], where).toEqual(isAgent ? ['SYS_PTRACE'] : []);
            const nonRoot = sc.runAsNonRoot ?? pod.securityContext.runAsNonRoot;
            expect(nonRoot, where).toBe(!isAgent);
            if (!isAgent) expect(sc.runAsUser ?? pod.securityContext.runAsUser).toBeGreaterThan(0);
          }
        }
        const text = readFileSync(join(deploy, 'base', 'agent-daemonset.yaml'), 'utf8');
        expect(text).toMatch(/hostPID: true/);
        expect(text).toMatch(/SO_PEERCRED[\s\S]*\/proc\/<pid>[\s\S]*hostPID: true/);
        expect(text).toMatch(/CAP_SYS_PTRACE/);
      });

      it('images carry a pinned tag (never latest), every container has requests and a memory limit', () => {
        for (const w of workloads(objects)) {
          for (const c of containersOf(w)) {
            expect(c.image, c.name).toMatch(/^[^:@]+(:[^:/@]+|@sha256:[0-9a-f]{64})$/);
            expect(c.image).not.toMatch(/:latest$/);
            expect(c.resources.requests.cpu, c.name).toBeDefined();
            expect(c.resources.requests.memory, c.name).toBeDefined();
            expect(c.resources.limits.memory, c.name).toBeDefined();
          }
        }
      });

      it('holds no secret: Secrets are referenced, and docs/operations.md creates each one with its keys', () => {
        expect(byKind(objects, 'Secret')).toEqual([]);
        const ops = readFileSync(join(root, 'docs', 'operations.md'), 'utf8');
        // The shell command that creates `name` (continued lines joined), or undefined.
        const creates = (what: 'secret' | 'configmap', name: string) =>
          new RegExp(
            `kubectl -n ward create ${what} (?:\\S+ )?${name} (?:[^\\n]*\\\\\\n)*[^\\n]*`,
          ).exec(ops)?.[0];
        const keys = new Map<string, Set<string>>();
        const need = (name: string, key?: string) => {
          if (!keys.has(name)) keys.set(name, new Set());
          if (key) keys.get(name)!.add(key);
        };
        for (const w of workloads(objects)) {
          for (const v of w.spec.template.spec.volumes ?? []) {
            if (v.secret) need(v.secret.secretName);
            if (
              v.configMap &&
              !objects.some((o) => o.kind === 'ConfigMap' && o.metadata.name === v.configMap.name)
            ) {
              expect(creates('configmap', v.configMap.name), v.configMap.name).toBeDefined();
            }
          }
          for (const c of containersOf(w)) {
            for (const e of c.env ?? []) {
              const ref = e.valueFrom?.secretKeyRef;
              if (ref) need(ref.name, ref.key);
            }
          }
        }
        expect(keys.size).toBeGreaterThan(0);
        for (const [name, wanted] of keys) {
          const command = creates('secret', name);
          expect(command, name).toBeDefined();
          for (const key of wanted)
            expect(command, `${name}/${key}`).toMatch(new RegExp(`--from-\\w+=${key}=`));
        }
      });

      it('TokenReview: the agent token audience, the accepted service account and the RBAC agree', () => {
        const server = cp().spec.template.spec.containers[0];
        const pod = agent().spec.template.spec;
        // The control plane accepts the agent's service account, in the agent's namespace…
        expect(flag(server, '--k8s-attestation')).toBe(
          `${agent().metadata.namespace}:${pod.serviceAccountName}`,
        );
        // …whose token, projected for the audience the control plane expects, is what the agent reads.
        const tokenVolume = pod.volumes.find((v: Any) => v.projected);
        const projected = tokenVolume.projected.sources[0].serviceAccountToken;
        expect(projected.audience).toBe(flag(server, '--k8s-audience'));
        expect(projected.expirationSeconds).toBeLessThanOrEqual(3600);
        const mount = pod.containers[0].volumeMounts.find((m: Any) => m.name === tokenVolume.name);
        expect(flag(pod.containers[0], '--k8s-token-file')).toBe(
          `${mount.mountPath}/${projected.path}`,
        );
        // The agent needs no API access: no automounted token, no binding.
        expect(pod.automountServiceAccountToken).toBe(false);
        const bindings = [
          ...byKind(objects, 'ClusterRoleBinding'),
          ...byKind(objects, 'RoleBinding'),
        ];
        const subjectsOf = (sa: string, ns: string) =>
          bindings.filter((b) =>
            b.subjects.some(
              (s: Any) => s.kind === 'ServiceAccount' && s.name === sa && s.namespace === ns,
            ),
          );
        expect(subjectsOf(pod.serviceAccountName, agent().metadata.namespace)).toEqual([]);
        // The control plane's service account may create tokenreviews, and nothing else.
        const cpPod = cp().spec.template.spec;
        expect(cpPod.automountServiceAccountToken).toBe(true);
        const mine = subjectsOf(cpPod.serviceAccountName, cp().metadata.namespace);
        expect(mine).toHaveLength(1);
        const role = one(objects, mine[0].roleRef.kind, mine[0].roleRef.name);
        expect(role.rules).toEqual([
          { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
        ]);
      });

      it("the agent reaches the control plane's Service, and the socket directory is the one it serves", () => {
        const c = agent().spec.template.spec.containers[0];
        const url = new URL(c.env.find((e: Any) => e.name === 'WARD_SERVER').value);
        const svc = one(objects, 'Service', 'ward-control-plane');
        expect(url.hostname).toBe(`${svc.metadata.name}.${svc.metadata.namespace}.svc`);
        expect(Number(url.port)).toBe(svc.spec.ports[0].port);
        const tls = flag(cp().spec.template.spec.containers[0], '--tls-cert') !== undefined;
        expect(url.protocol).toBe(tls ? 'https:' : 'http:');
        const socket = flag(c, '--socket')!;
        const dir = c.volumeMounts.find((m: Any) => m.name === 'socket-dir').mountPath;
        expect(socket.startsWith(`${dir}/`)).toBe(true);
      });

      it('every file a flag names is on a volume mounted into that container', () => {
        const FILE_FLAGS = [
          '--signing-key',
          '--tls-cert',
          '--tls-key',
          '--client-ca',
          '--k8s-token-file',
          '--k8s-ca-file',
          '--k8s-reviewer-token-file',
        ];
        let seen = 0;
        for (const w of workloads(objects)) {
          for (const c of containersOf(w)) {
            for (const f of FILE_FLAGS) {
              const file = flag(c, f);
              if (file === undefined) continue;
              seen++;
              const mount = (c.volumeMounts ?? []).find((m: Any) =>
                file.startsWith(`${m.mountPath}/`),
              );
              expect(mount, `${c.name} ${f}=${file}`).toBeDefined();
              expect(mount.readOnly, `${f} is mounted read-only`).toBe(true);
              expect(w.spec.template.spec.volumes.map((v: Any) => v.name)).toContain(mount.name);
            }
          }
        }
        expect(seen).toBeGreaterThanOrEqual(2);
      });

      it('passes only flags the real `ward server` and `ward agent` accept', () => {
        const program = buildProgram();
        const longs = (name: string) =>
          new Set(program.commands.find((c) => c.name() === name)!.options.map((o) => o.long));
        const checks: [Any, string][] = [
          [cp().spec.template.spec.containers[0], 'server'],
          [agent().spec.template.spec.containers[0], 'agent'],
        ];
        for (const [c, command] of checks) {
          expect(c.args[0]).toBe(command);
          const accepted = longs(command);
          for (const arg of c.args.slice(1)) expect(accepted, arg).toContain(arg.split('=')[0]);
          // $(VAR) in args expands only from the container's env.
          for (const ref of (c.args as string[]).join(' ').matchAll(/\$\((\w+)\)/g)) {
            expect(c.env.map((e: Any) => e.name)).toContain(ref[1]);
          }
        }
      });
    });
  }
});

describe('deploy/workload: what a client namespace applies', () => {
  it("validates, and lets every pod reach exactly the control plane's pods and port", () => {
    const docs = parseYamlDocs(
      readFileSync(join(deploy, 'workload', 'allow-ward.yaml'), 'utf8'),
      'allow-ward.yaml',
    ) as Any[];
    expect(docs).toHaveLength(1);
    const np = docs[0];
    expect(schemaErrors(np)).toEqual([]);
    expect(np.metadata.namespace).toBeUndefined(); // applied with -n into each namespace
    expect(np.spec.podSelector).toEqual({});
    expect(np.spec.policyTypes).toEqual(['Egress']);
    const cp = one(rendered.base, 'Deployment', 'ward-control-plane');
    const [rule] = np.spec.egress;
    expect(np.spec.egress).toHaveLength(1);
    expect(rule.to).toHaveLength(1);
    expect(rule.to[0].namespaceSelector.matchLabels).toEqual({
      'kubernetes.io/metadata.name': cp.metadata.namespace,
    });
    expect(matches(rule.to[0].podSelector.matchLabels, cp.spec.template.metadata.labels)).toBe(
      true,
    );
    expect(rule.ports).toEqual([
      { port: cp.spec.template.spec.containers[0].ports[0].containerPort, protocol: 'TCP' },
    ]);
    // The control plane admits namespaces by the label this file's comment and the docs name.
    const cpPolicy = one(rendered.base, 'NetworkPolicy', 'ward-control-plane');
    const label = cpPolicy.spec.ingress
      .flatMap((r: Any) => r.from)
      .find((f: Any) => f.namespaceSelector && !f.podSelector).namespaceSelector.matchLabels;
    const [[key, value]] = Object.entries(label) as [string, string][];
    const ops = readFileSync(join(root, 'docs', 'operations.md'), 'utf8');
    expect(ops).toContain(`kubectl label namespace shop ${key}=${value}`);
  });
});

describe('deploy/: the probed endpoints exist on the real server', () => {
  it('GET /healthz and /readyz answer 200 without credentials', async () => {
    const server = await startTestServer();
    try {
      const paths = rendered.base
        .filter((o) => o.kind === 'Deployment')
        .flatMap((d: Any) => d.spec.template.spec.containers)
        .flatMap((c: Any) => [c.livenessProbe, c.readinessProbe, c.startupProbe])
        .filter((p: Any) => p?.httpGet)
        .map((p: Any) => p.httpGet.path as string);
      expect(new Set(paths)).toEqual(new Set(['/healthz', '/readyz']));
      for (const path of new Set(paths)) {
        expect((await http(server.url, 'GET', path, { token: null })).status, path).toBe(200);
      }
    } finally {
      await server.close();
    }
  });
});
