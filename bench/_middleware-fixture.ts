/**
 * Fixtures of `bench/middleware.ts`: the generated Ward policy, the equivalent Cerbos policy, and
 * a Cerbos PDP server on loopback (the binary the npm package `cerbos` ships).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const CERBOS = join(ROOT, 'node_modules/@cerbos/cerbos-linux-x64/cerbos-linux-x64');

// ---------------------------------------------------------------------------------------------
// The policy: 200 services, 2,000 rules (a third with CEL conditions, a fifth with L7 matchers);
// the service under test, `orders`, admits `frontend` by an L7 rule with a CEL condition.

export type Doc = Record<string, unknown>;

export function policyDocuments(): Doc[] {
  const docs: Doc[] = [];
  const names = ['orders', 'frontend', 'monitoring', 'payments'];
  for (let i = 0; names.length < 200; i++) names.push(`svc-${String(i).padStart(3, '0')}`);
  for (const name of names) {
    docs.push({
      apiVersion: 'ward.dev/v1',
      kind: 'Service',
      metadata: { name, namespace: 'shop' },
      spec: {},
    });
  }
  let n = 0;
  for (const [d, destination] of names.entries()) {
    const rules: Doc[] = [];
    for (let r = 0; r < 10; r++, n++) {
      const source = names[(d * 7 + r * 13 + 1) % names.length]!;
      const rule: Doc = { sources: [source], action: r % 5 === 4 ? 'deny' : 'allow' };
      if (n % 5 === 0)
        rule.permissions = [
          { http: { methods: ['GET', 'POST'], paths: [{ prefix: `/${destination}` }] } },
        ];
      if (n % 3 === 0) rule.when = `request.method != "DELETE"`;
      rules.push(rule);
    }
    if (destination === 'orders') {
      rules.unshift(
        { sources: ['monitoring'], action: 'deny' },
        {
          sources: ['frontend'],
          action: 'allow',
          permissions: [{ http: { methods: ['GET', 'POST'], paths: [{ prefix: '/orders' }] } }],
          when: 'request.method != "DELETE"',
        },
      );
    }
    docs.push({
      apiVersion: 'ward.dev/v1',
      kind: 'Intention',
      metadata: { name: `${destination}-access` },
      spec: { destination, mode: 'enforce', rules },
    });
  }
  return docs;
}

/** The same decision for Cerbos: role = source service, action = method, condition on the path. */
const CERBOS_POLICY = `apiVersion: api.cerbos.dev/v1
resourcePolicy:
  version: default
  resource: orders
  rules:
    - actions: ["*"]
      effect: EFFECT_DENY
      roles: ["monitoring"]
    - actions: ["GET", "POST"]
      effect: EFFECT_ALLOW
      roles: ["frontend"]
      condition:
        match:
          all:
            of:
              - expr: request.resource.attr.path.startsWith("/orders")
              - expr: request.resource.attr.method != "DELETE"
`;

/**
 * Cerbos's check API request for one call: the principal's role is the source service, the
 * action the method, the path an attribute (the policy above decides on them).
 */
export function cerbosCheckRequest(
  requestId: string,
  source: string,
  method: string,
  path: string,
): { path: string; body: string } {
  return {
    path: '/api/check/resources',
    body: JSON.stringify({
      requestId,
      principal: { id: source, roles: [source] },
      resources: [
        {
          actions: [method],
          resource: { kind: 'orders', id: 'request', attr: { path, method } },
        },
      ],
    }),
  };
}

/** Starts Cerbos pinned to core 0 with one OS thread (GOMAXPROCS=1), as a sidecar of the service. */
export async function startCerbos(): Promise<{ url: string; child: ChildProcess; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'ward-bench-cerbos-'));
  // Policies in their own directory: Cerbos loads every YAML file there as a policy.
  mkdirSync(join(dir, 'policies'));
  writeFileSync(join(dir, 'policies', 'orders.yaml'), CERBOS_POLICY);
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  writeFileSync(
    join(dir, 'config.yaml'),
    `server:\n  httpListenAddr: "127.0.0.1:${port}"\n  grpcListenAddr: "127.0.0.1:${port + 1}"\nstorage:\n  driver: disk\n  disk:\n    directory: ${JSON.stringify(join(dir, 'policies'))}\n    watchForChanges: false\ntelemetry:\n  disabled: true\naudit:\n  enabled: false\n`,
  );
  const child = spawn(
    'taskset',
    ['-c', '0', CERBOS, 'server', `--config=${join(dir, 'config.yaml')}`, '--log-level=error'],
    {
      stdio: 'ignore',
      env: { ...process.env, GOMAXPROCS: '1' },
    },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      const res = await fetch(`${url}/_cerbos/health`);
      if (res.ok) return { url, child, dir };
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill();
  rmSync(dir, { recursive: true, force: true });
  throw new Error('cerbos did not start');
}
