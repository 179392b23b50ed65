/**
 * End to end: `ward start` (the demo `npm start` runs) as a real child process on a free port
 * in a temp data dir, then the real `ward report` and `ward promote` commands against it, and
 * what they show about the traffic the demo generated: the dry-run rule's would-be refusals, the
 * unapproved monitoring edge, the unused grant, and no enforced denial on an allowed edge.
 */
import { execFile, spawn } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { signIn } from '@ward/dev-idp';
import { startServer } from '@ward/server';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DemoError, runDemo } from '../src/index.ts';
import { parseDuration } from '../src/options.ts';
import { findPython } from '../src/python.ts';

const run = promisify(execFile);
const BIN = new URL('../../cli/src/bin.ts', import.meta.url).pathname;
const ROOT = new URL('../../../', import.meta.url).pathname;
/** A sink for the banner of demos that must not start. */
function devNull(): NodeJS.WritableStream {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface DemoInfo {
  controlPlane: string;
  controlPlaneMetrics?: string;
  adminToken: string;
  adminTokenFile: string;
  identity: { mode: string; reason?: string; attestation?: string };
  applied: boolean;
  services: { name: string; url?: string; metrics?: string }[];
  warnings: string[];
  cycle?: { path: string[]; startup: boolean; fix: string };
  gateway: { url: string; issuer: string; audience: string };
  secrets: { delivery: string; apiKey?: string; databaseRole?: string };
  python: { service: string; running: boolean; reason?: string; identity?: string };
}

/** The machine's PostgreSQL, when it answers: the demo then leases inventory a login there. */
const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
async function postgresReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Starts `ward start -o json`; resolves with the JSON line and the live process. */
async function startDemo(
  dataDir: string,
  duration: string,
  how: { node?: string; nodeArgs?: string[]; env?: NodeJS.ProcessEnv; args?: string[] } = {},
) {
  const child = spawn(
    how.node ?? process.execPath,
    [
      ...(how.nodeArgs ?? []),
      BIN,
      'start',
      '--port',
      '0',
      '--data-dir',
      dataDir,
      '--duration',
      duration,
      '--rps',
      '20',
      '-o',
      'json',
      ...(how.args ?? []),
    ],
    {
      cwd: ROOT,
      env: { ...(how.env ?? process.env), NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const info = await new Promise<DemoInfo>((resolve, reject) => {
    const onData = () => {
      const nl = stdout.indexOf('\n');
      if (nl >= 0) {
        child.stdout!.off('data', onData);
        resolve(JSON.parse(stdout.slice(0, nl)) as DemoInfo);
      }
    };
    child.stdout!.on('data', onData);
    void exited.then((code) =>
      reject(new Error(`ward start exited (${code}) before it was ready:\n${stderr}`)),
    );
  });
  return { child, info, exited, output: () => stderr, stdout: () => stdout };
}

/** Runs the real `ward` CLI against the demo's control plane. */
async function ward(info: DemoInfo, ...args: string[]) {
  try {
    const r = await run(
      process.execPath,
      [BIN, ...args, '--server', info.controlPlane, '--token', info.adminToken],
      {
        cwd: ROOT,
      },
    );
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

async function report<T>(info: DemoInfo, kind: string): Promise<{ items: T[] }> {
  const r = await ward(info, 'report', kind, '-o', 'json');
  if (r.code !== 0) throw new Error(`ward report ${kind} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as { items: T[] };
}

interface DryRunItem {
  source: string;
  destination: string;
  rule: string;
  count: number;
  samples: { method: string; path: string; count: number }[];
}
interface UnapprovedItem {
  source: string;
  destination: string;
  decisions: number;
  denied: number;
}
interface UnusedItem {
  source: string;
  destination: string;
}

/** Polls until `check` holds (the shippers flush every second), up to `ms`. */
async function eventually<T>(
  get: () => Promise<T>,
  check: (v: T) => boolean,
  ms: number,
): Promise<T> {
  const until = Date.now() + ms;
  let last = await get();
  while (!check(last) && Date.now() < until) {
    await sleep(1000);
    last = await get();
  }
  return last;
}

// Every name is a service key: the shop lives in namespace `shop`, prometheus in `monitoring`.
const ALLOWED_EDGES = [
  'shop/frontend→shop/orders',
  'shop/frontend→shop/inventory',
  'shop/orders→shop/inventory',
  'shop/orders→shop/payments',
  'shop/orders→shop/notifications',
  'monitoring/prometheus→shop/orders',
  'monitoring/prometheus→shop/payments',
  'monitoring/prometheus→shop/inventory',
];
/** The Python service's edge, approved by its (dry-run) intention: allowed decisions by the agent. */
const REVIEWS_EDGE = 'shop/frontend→shop/reviews';
/** python3 on this box: then the demo must run the Python service (issue 18). */
const HAS_PYTHON = 'exe' in findPython();

describe('parseDuration', () => {
  it('reads ms, s, m, h and bare seconds, and refuses anything else', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('20s')).toBe(20_000);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('3')).toBe(3000);
    for (const bad of ['', 's', '-1s', '0', '1d', '1 2s', 'ten'])
      expect(parseDuration(bad)).toBeUndefined();
  });
});

describe('runDemo refuses bad setups with a coded error, and leaves nothing running', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-demo-bad-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const expectCode = async (p: Promise<unknown>, code: string, message: RegExp) => {
    const error = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DemoError);
    expect(error).toMatchObject({ code });
    expect((error as Error).message).toMatch(message);
  };

  it('bad options', async () => {
    await expectCode(runDemo({ port: 70000, dataDir: dir }), 'DEMO_BAD_OPTION', /--port/);
    await expectCode(runDemo({ rps: 0, dataDir: dir }), 'DEMO_BAD_OPTION', /--rps/);
    await expectCode(runDemo({ durationMs: -1, dataDir: dir }), 'DEMO_BAD_OPTION', /--duration/);
  });

  it('an admin token file others can read', async () => {
    const d = join(dir, 'unsafe');
    mkdirSync(d);
    writeFileSync(join(d, 'admin.token'), 'ward_0123456789abcdef0123456789\n');
    chmodSync(join(d, 'admin.token'), 0o644);
    await expectCode(
      runDemo({ port: 0, dataDir: d, out: devNull() }),
      'DEMO_TOKEN_FILE_UNSAFE',
      /chmod 600/,
    );
  });

  it('a data dir whose kept policies name the services without their namespace', async () => {
    // As a data dir from before namespaces is after the control plane's migration: the shop's
    // services are the default namespace's `orders`, … — not the keys the demo runs (`shop/…`).
    const d = join(dir, 'before-namespaces');
    mkdirSync(d, { mode: 0o700 });
    const token = 'ward_beforenamespaces0123456789abcdef';
    writeFileSync(join(d, 'admin.token'), `${token}\n`, { mode: 0o600 });
    const server = await startServer({ dataDir: d, port: 0, adminToken: token, logger: false });
    try {
      const content = ['frontend', 'orders', 'payments', 'inventory', 'notifications']
        .map(
          (name) =>
            `apiVersion: ward.dev/v1\nkind: Service\nmetadata: { name: ${name} }\nspec: {}\n`,
        )
        .concat(
          'apiVersion: ward.dev/v1\nkind: Intention\nmetadata: { name: orders }\nspec: { destination: orders, rules: [{ sources: [frontend], action: allow }] }\n',
        )
        .join('---\n');
      const res = await fetch(`${server.url}/v1/apply`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ files: [{ name: 'old.yaml', content }] }),
      });
      expect(res.status).toBe(200);
    } finally {
      await server.close();
    }
    await expectCode(
      runDemo({ port: 0, dataDir: d, out: devNull() }),
      'DEMO_SETUP_FAILED',
      /without the demo's services shop\/edge, shop\/frontend, .*delete the data dir/,
    );
  });

  it('a control-plane port in use', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as { port: number }).port;
    try {
      await expectCode(
        runDemo({ port, dataDir: join(dir, 'busy'), out: devNull() }),
        'DEMO_ADDRESS_IN_USE',
        /--port 0/,
      );
    } finally {
      taken.close();
    }
  });
});

describe('ward start (the demo)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ward-demo-'));
  let demo: Awaited<ReturnType<typeof startDemo>>;

  let withPostgres = false;

  beforeAll(async () => {
    withPostgres = await postgresReachable();
    demo = await startDemo(dataDir, '50s', withPostgres ? { args: ['--postgres', PG_URL] } : {});
  });
  afterAll(async () => {
    if (demo?.child.exitCode === null) demo.child.kill('SIGKILL');
    // Gone before its data directory is removed: nothing of it may write there afterwards.
    await demo?.exited;
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts the control plane and the mesh, on mTLS identities, and prints the commands', () => {
    const { info } = demo;
    expect(info.controlPlane).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(info.adminToken).toMatch(/^ward_/);
    expect(statSync(info.adminTokenFile).mode & 0o777).toBe(0o600);
    expect(info.applied).toBe(true);
    // Issue 6 asks for the demo to run on mTLS identities; the fallback must not pass silently.
    // Callers are attested by the kernel's SO_PEERCRED, read in process (no python3 needed).
    expect(info.identity).toEqual({ mode: 'mtls', attestation: 'SO_PEERCRED via node:ffi' });
    const urls = Object.fromEntries(info.services.map((s) => [s.name, s.url]));
    // Outside traffic enters at the gateway (plain HTTP on loopback); every service behind it
    // takes mTLS only.
    expect(urls['shop/edge']).toMatch(/^http:\/\//);
    for (const s of [
      'shop/frontend',
      'shop/orders',
      'shop/payments',
      'shop/inventory',
      'shop/notifications',
    ])
      expect(urls[s]).toMatch(/^https:\/\//);
    expect(Object.keys(urls)).toContain('monitoring/prometheus');
    const text = demo.output();
    for (const cmd of [
      'report dry-run',
      'report unapproved',
      'report unused',
      'promote shop/inventory',
    ]) {
      expect(text).toContain(`npx ward ${cmd}`);
    }
    expect(text).toContain(`export WARD_SERVER=${info.controlPlane}`);
    expect(text).toMatch(new RegExp(`web console +${info.controlPlane}/ `));
    // Zero-config: the seal key is generated next to the data, and the banner says what that means.
    expect(info.warnings.join('\n')).toMatch(/seal key .* is inside the data directory/);
    expect(text).toMatch(/warning .*copy of that directory/);
  });

  it("gets payments' API key through Ward and survives a rotation without a failed request", async () => {
    expect(demo.info.secrets).toMatchObject({
      delivery: 'node agent',
      apiKey: 'shop/payments-api-key',
    });
    // The demo rotates the key 15 s in (activation 3 s): wait for a status line on version 2.
    const onV2 = () =>
      demo
        .output()
        .split('\n')
        .find((l) => /secrets: payments api key v[2-9]/.test(l));
    await expect.poll(onV2, { timeout: 40_000, interval: 1000 }).toBeDefined();
    const lines = demo.output().split('\n');
    const at = lines.findIndex((l) => /secrets: payments api key v[2-9]/.test(l));
    // The status line before it: every user request ok, no charge refused for its key.
    expect(lines[at]).toMatch(/\(\d+ rotations?, 0 refused\)/);
    expect(lines[at - 1]).toMatch(/users: \d+ requests \((\d+) ok, 0 refused, 0 failed\)/);
    const r = await fetch(`${demo.info.controlPlane}/v1/secrets/shop%2Fpayments-api-key`, {
      headers: { authorization: `Bearer ${demo.info.adminToken}` },
    });
    const summary = (await r.json()) as { currentVersion: number; readers: string[] };
    expect(summary.currentVersion).toBeGreaterThanOrEqual(2);
    expect(summary.readers).toEqual(['shop/orders', 'shop/payments']);
  });

  it('leases inventory its PostgreSQL login, which works while the demo runs (with a PostgreSQL)', async (ctx) => {
    if (!withPostgres) ctx.skip();
    const role = demo.info.secrets.databaseRole;
    expect(role).toMatch(/^ward_shop_inventory_[a-z0-9_]+$/);
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    try {
      const { rows } = await admin.query(
        'SELECT rolcanlogin, rolvaliduntil FROM pg_roles WHERE rolname = $1',
        [role],
      );
      expect(rows).toHaveLength(1);
      expect(rows[0].rolcanlogin).toBe(true);
      expect(new Date(rows[0].rolvaliduntil).getTime()).toBeGreaterThan(Date.now());
    } finally {
      await admin.end();
    }
    await expect
      .poll(() => /inventory db login \S+: [1-9]\d* checks ok, 0 failed/.test(demo.output()), {
        timeout: 15_000,
      })
      .toBe(true);
  });

  it('serves the web console at the URL the banner prints', async () => {
    const res = await fetch(`${demo.info.controlPlane}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await res.text()).toContain('<div id="app"></div>');
  });

  it('shows the dependency cycle its services declare, with the cheapest fix', () => {
    // examples/demo/services.yaml: orders and notifications each wait for the other at startup.
    const { cycle } = demo.info;
    expect(cycle).toBeDefined();
    expect(new Set(cycle!.path)).toEqual(new Set(['shop/orders', 'shop/notifications']));
    expect(cycle!.path[0]).toBe(cycle!.path.at(-1));
    expect(cycle!.startup).toBe(true);
    expect(cycle!.fix).toMatch(
      /^Cut (shop\/orders → shop\/notifications|shop\/notifications → shop\/orders) \(cost [\d.]+\): a startup edge/,
    );
    const text = demo.output();
    expect(text).toContain('A dependency cycle (declared in examples/demo/services.yaml):');
    expect(text).toContain(
      `  ${cycle!.path.join(' → ')}  startup cycle: none of them can start from cold`,
    );
    expect(text).toContain(`  fix: ${cycle!.fix}`);
    expect(text).toContain('npx ward graph analyze -f examples/demo');
  });

  it('the gateway takes real OIDC tokens and mints Ed25519 passports that orders verifies; a customer cancels her order', async () => {
    const gateway = demo.info.services.find((s) => s.name === 'shop/edge')!.url!;
    const send = (
      authorization: string | undefined,
      method: string,
      path: string,
      body?: unknown,
    ) =>
      fetch(`${gateway}/shop${path}`, {
        method,
        headers: {
          ...(authorization ? { authorization } : {}),
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
    const { issuer, audience } = demo.info.gateway;
    const token = await signIn(issuer, 'carol', { audience });
    // A real access token from the demo's OpenID provider (authorization code + PKCE).
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
      iss: string;
      sub: string;
      aud: string | string[];
    };
    expect(claims.sub).toBe('carol');
    expect(claims.iss).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const as = (user: string, method: string, path: string, body?: unknown) =>
      user === 'carol'
        ? send(`Bearer ${token}`, method, path, body)
        : send(undefined, method, path);
    // No token, a forged one, or a passport sent from outside: the gateway lets none through.
    const anonymous = await send(undefined, 'GET', '/orders');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await send('Bearer demo-user:carol', 'GET', '/orders')).status).toBe(401);
    const [h, p] = token.split('.');
    expect((await send(`Bearer ${h}.${p}.AAAA`, 'GET', '/orders')).status).toBe(401);
    // The edge checks checkout bodies against the route's JSON Schema.
    expect((await as('carol', 'POST', '/checkout', { sku: 'sku-rug', qty: 99 })).status).toBe(400);
    let id: string | undefined;
    for (const sku of ['sku-rug', 'sku-lamp', 'sku-desk', 'sku-chair', 'sku-shelf']) {
      const placed = await as('carol', 'POST', '/checkout', { sku, qty: 1 });
      if (placed.status === 201) {
        id = ((await placed.json()) as { id: string }).id;
        break;
      }
      expect(placed.status).toBe(409); // out of stock: try another product
    }
    expect(id).toBeDefined();
    // orders lists by the passport's subject: it verified the passport the gateway minted.
    const mine = (await (await as('carol', 'GET', '/orders')).json()) as {
      orders: { id: string; user: string }[];
    };
    expect(mine.orders.map((o) => o.id)).toContain(id);
    expect(mine.orders.every((o) => o.user === 'carol')).toBe(true);
    // The cancel rule reads passport.attrs.role == "customer" (support staff may not; that
    // refusal would be an enforced denial, which the next test counts, so it is not tried here).
    expect((await as('carol', 'DELETE', `/orders/${id}`)).status).toBeLessThan(300);
    const keys = (await (
      await fetch(`${demo.info.controlPlane}/v1/passport-keys?zone=default`, {
        headers: { authorization: `Bearer ${demo.info.adminToken}` },
      })
    ).json()) as { items: { alg: string; status: string }[] };
    expect(keys.items.filter((k) => k.status === 'active').map((k) => k.alg)).toEqual(['EdDSA']);
  });

  it('ward report dry-run shows the would-be refusals of the dry-run rules, and nothing else', async () => {
    const r = await eventually(
      () => report<DryRunItem>(demo.info, 'dry-run'),
      (v) =>
        v.items.some((i) => i.destination === 'shop/inventory' && i.count >= 5) &&
        (!HAS_PYTHON || v.items.some((i) => i.destination === 'shop/reviews')),
      30_000,
    );
    // The inventory rule's, and (Python service) the reviews draft's: nothing else.
    expect(r.items).toHaveLength(HAS_PYTHON ? 2 : 1);
    const item = r.items.find((i) => i.destination === 'shop/inventory');
    expect(item).toMatchObject({
      source: 'shop/frontend',
      destination: 'shop/inventory',
      rule: 'shop/inventory-via-orders#0',
    });
    expect(item!.count).toBeGreaterThanOrEqual(5);
    expect(item!.samples.length).toBeGreaterThan(0);
    for (const s of item!.samples) {
      expect(s.method).toBe('GET');
      expect(s.path).toMatch(/^\/stock\//);
    }
  });

  it('ward report unapproved shows the monitoring edge no rule allows, and no allowed edge', async () => {
    const r = await eventually(
      () => report<UnapprovedItem>(demo.info, 'unapproved'),
      (v) =>
        v.items.some(
          (i) => i.source === 'monitoring/prometheus' && i.destination === 'shop/notifications',
        ),
      15_000,
    );
    const edges = r.items.map((i) => `${i.source}→${i.destination}`);
    expect(edges).toContain('monitoring/prometheus→shop/notifications');
    const m = r.items.find((i) => i.source === 'monitoring/prometheus')!;
    // Every one of those scrapes was refused by monitoring's egress guard before it was sent.
    expect(m.denied).toBeGreaterThan(0);
    expect(m.denied).toBe(m.decisions);
    for (const allowed of ALLOWED_EDGES) expect(edges).not.toContain(allowed);
  });

  it('refuses nothing on an allowed edge: every enforced denial is a monitoring → notifications scrape', async () => {
    const res = await fetch(
      `${demo.info.controlPlane}/v1/decision-logs/denials?since=1h&limit=10000`,
      {
        headers: { authorization: `Bearer ${demo.info.adminToken}` },
      },
    );
    expect(res.status).toBe(200);
    const { items } = (await res.json()) as {
      items: {
        source: string;
        destination: string;
        rule: string;
        enforced: boolean;
        method: string;
        path: string;
      }[];
    };
    const enforced = items.filter((i) => i.enforced);
    expect(enforced.length).toBeGreaterThan(0);
    for (const d of enforced) {
      expect(d).toMatchObject({
        source: 'monitoring/prometheus',
        destination: 'shop/notifications',
        rule: 'default',
        method: 'GET',
        path: '/metrics',
      });
    }
    // The dry-run denials are all the new rule's, on frontend's direct stock reads, and the
    // reviews draft's on the scrapes it forgot.
    for (const d of items.filter((i) => !i.enforced)) {
      expect([
        {
          source: 'shop/frontend',
          destination: 'shop/inventory',
          rule: 'shop/inventory-via-orders#0',
        },
        { source: 'monitoring/prometheus', destination: 'shop/reviews', rule: 'default' },
      ]).toContainEqual({ source: d.source, destination: d.destination, rule: d.rule });
    }
  });

  it("lists each service PDP's and the control plane's metrics, scrapable without a token", async () => {
    const { info } = demo;
    const text = demo.output();
    expect(text).toContain('Metrics');
    for (const s of [
      'shop/frontend',
      'shop/orders',
      'shop/payments',
      'shop/inventory',
      'shop/notifications',
    ]) {
      const url = info.services.find((x) => x.name === s)?.metrics;
      expect(url, s).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      expect(text).toContain(url);
      const r = await fetch(url!);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const body = await r.text();
      expect(body).toMatch(/^ward_pdp_bundle_revision [1-9]\d*$/m);
      expect(body).toContain('ward_pdp_decisions_total');
    }
    expect(info.controlPlaneMetrics).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const cp = await fetch(info.controlPlaneMetrics!);
    expect(cp.status).toBe(200);
    expect(await cp.text()).toMatch(/^ward_watch_streams [1-9]\d*$/m);
  });

  it('ward report unused shows the grant nobody uses, and not the edges the traffic uses', async () => {
    const r = await report<UnusedItem>(demo.info, 'unused');
    const edges = r.items.map((i) => `${i.source}→${i.destination}`);
    expect(edges).toContain('shop/payments→shop/notifications');
    for (const used of ALLOWED_EDGES) expect(edges).not.toContain(used);
    // The Python service's allowed calls reached the control plane too (the agent shipped them).
    if (HAS_PYTHON) expect(edges).not.toContain(REVIEWS_EDGE);
  });

  it('ward promote refuses while the window shows dry-run denials', async () => {
    const r = await ward(demo.info, 'promote', 'shop/inventory');
    expect(r.code).not.toBe(0);
    expect(`${r.stdout}${r.stderr}`).toMatch(/dry-run/i);
    // Nothing changed: the rule is still only reported.
    const again = await report<DryRunItem>(demo.info, 'dry-run');
    expect(
      again.items.filter((i) => i.destination === 'shop/inventory').map((i) => i.rule),
    ).toEqual(['shop/inventory-via-orders#0']);
  });

  it('runs shop/reviews in Python, decided by the agent: allowed and would-deny answers, all in the soft-apply report', async (ctx) => {
    expect(demo.info.python.running).toBe(HAS_PYTHON);
    if (!HAS_PYTHON) ctx.skip();
    const url = demo.info.services.find((s) => s.name === 'shop/reviews')?.url;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(demo.output()).toContain('A Python service (examples/demo/python/reviews.py');
    expect(demo.output()).toContain('callers name themselves in x-ward-source (the dev header)');
    // Its own count of the agent's answers: the storefront's reads allowed, the scrapes the
    // draft forgot let through as would-denies, every request decided.
    const counts = () => {
      const m = [
        ...demo
          .output()
          .matchAll(
            /python shop\/reviews via the agent: (\d+) allowed, (\d+) would-deny, (\d+) refused, (\d+) without a decision/g,
          ),
      ].at(-1);
      return m ? m.slice(1).map(Number) : [0, 0, 0, 0];
    };
    await expect
      .poll(() => counts()[0]! > 0 && counts()[1]! > 0, { timeout: 20_000, interval: 1000 })
      .toBe(true);
    expect(counts()[2]).toBe(0);
    expect(counts()[3]).toBe(0);
    // The agent shipped them: the soft-apply report names the Python service as destination.
    const r = await eventually(
      () => report<DryRunItem>(demo.info, 'dry-run'),
      (v) => v.items.some((i) => i.destination === 'shop/reviews'),
      15_000,
    );
    const item = r.items.find((i) => i.destination === 'shop/reviews');
    expect(item).toMatchObject({ source: 'monitoring/prometheus', rule: 'default' });
    expect(item!.samples).toContainEqual(
      expect.objectContaining({ method: 'GET', path: '/metrics' }),
    );
    // Straight at it: the storefront's read is served; a caller name that is no service name
    // is refused by the agent (400, the field named), and the service relays that problem.
    const read = await fetch(`${url}/reviews/sku-lamp`, {
      headers: { 'x-ward-source': 'shop/frontend' },
    });
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({ sku: 'sku-lamp' });
    const bad = await fetch(`${url}/reviews/sku-lamp`, { headers: { 'x-ward-source': 'a b' } });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toBe('application/problem+json');
    expect(await bad.json()).toMatchObject({
      code: 'AGENT_DECIDE_BAD_REQUEST',
      errors: [{ field: '/source/service' }],
    });
  });

  it('after ward promote shop/reviews --force the agent refuses the scrapes, and the Python service answers its 403 problem body', async (ctx) => {
    if (!HAS_PYTHON) ctx.skip();
    const url = demo.info.services.find((s) => s.name === 'shop/reviews')!.url!;
    const gate = await ward(demo.info, 'promote', 'shop/reviews');
    expect(gate.code).not.toBe(0);
    expect(`${gate.stdout}${gate.stderr}`).toMatch(/dry-run/i);
    expect((await ward(demo.info, 'promote', 'shop/reviews', '--force')).code).toBe(0);
    const scrape = () =>
      fetch(`${url}/metrics`, { headers: { 'x-ward-source': 'monitoring/prometheus' } });
    // The agent's PDP follows the bundle stream: enforced within a moment.
    await expect
      .poll(async () => (await scrape()).status, { timeout: 15_000, interval: 250 })
      .toBe(403);
    const refused = await scrape();
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    expect(await refused.json()).toMatchObject({ status: 403, code: 'MIDDLEWARE_DENIED' });
    // The storefront's reads stay allowed, now by the enforced rule.
    const read = await fetch(`${url}/reviews/sku-desk`, {
      headers: { 'x-ward-source': 'shop/frontend' },
    });
    expect(read.status).toBe(200);
    // The refusal reached the control plane as an enforced denial of the Python service.
    const denials = await eventually(
      async () => {
        const res = await fetch(
          `${demo.info.controlPlane}/v1/decision-logs/denials?since=1h&destination=shop%2Freviews&limit=1000`,
          { headers: { authorization: `Bearer ${demo.info.adminToken}` } },
        );
        return ((await res.json()) as { items: { source: string; enforced: boolean }[] }).items;
      },
      (items) => items.some((i) => i.enforced),
      15_000,
    );
    expect(denials.filter((i) => i.enforced)[0]).toMatchObject({
      source: 'monitoring/prometheus',
    });
  });

  it('stops cleanly on Ctrl-C (SIGINT), and keeps its token and policies for the next run', async () => {
    demo.child.kill('SIGINT');
    expect(await demo.exited).toBe(0);
    expect(demo.output()).toContain('stopped.');
    // The end users never noticed: dry-run let every call through, and nothing failed.
    expect(demo.output()).toMatch(
      /users: (\d+) requests \(\1 ok, 0 refused, 0 failed\)[^\n]*\n[\s\S]*stopped\.\n$/,
    );
    expect(demo.output()).not.toMatch(/Error|at .*\.ts:\d+/);

    // A second run on the same data dir: same admin token, policies kept, stops by itself.
    const second = await startDemo(dataDir, '2s');
    expect(second.info.adminToken).toBe(demo.info.adminToken);
    expect(second.info.applied).toBe(false);
    expect(await second.exited).toBe(0);
    expect(second.output()).toContain('stopped.');
  });
});

describe('ward start on a box where the agent cannot identify callers', () => {
  // PATH holds only `node` (no python3), and Node's FFI is off: nothing reads SO_PEERCRED.
  const bin = mkdtempSync(join(tmpdir(), 'ward-nopy-'));
  const dataDir = mkdtempSync(join(tmpdir(), 'ward-demo-'));
  let demo: Awaited<ReturnType<typeof startDemo>>;

  beforeAll(async () => {
    symlinkSync(process.execPath, join(bin, 'node'));
    demo = await startDemo(dataDir, '40s', {
      node: join(bin, 'node'),
      // The source condition too: this env has no NODE_OPTIONS to carry it.
      nodeArgs: ['--no-experimental-ffi', '--conditions=ward-source'],
      env: { PATH: bin, HOME: dataDir },
    });
  });
  afterAll(async () => {
    if (demo?.child.exitCode === null) demo.child.kill('SIGKILL');
    // Gone before its data directory is removed: nothing of it may write there afterwards.
    await demo?.exited;
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(bin, { recursive: true, force: true });
  });

  it('starts on mTLS in the labelled fallback, says so in one line, and decisions flow', async () => {
    expect(demo.info.identity).toEqual({ mode: 'mtls', attestation: 'none (demo fallback)' });
    // The agent socket's directory admits only this user.
    expect(statSync(join(dataDir, 'agent')).mode & 0o777).toBe(0o700);
    const r = await eventually(
      () => report<DryRunItem>(demo.info, 'dry-run'),
      (v) => v.items.some((i) => i.count >= 3),
      30_000,
    );
    expect(r.items[0]).toMatchObject({ source: 'shop/frontend', destination: 'shop/inventory' });
    const text = demo.output();
    const notices = text.split('\n').filter((l) => l.includes('callers are not attested'));
    expect(notices).toEqual([
      'ward demo: agent: cannot read caller credentials (no node:ffi in this Node, no python3) — callers are not attested (demo fallback); use Node 26+ or install python3 for peer attestation',
    ]);
    // No raw JSON log lines reach the user.
    expect(text).not.toMatch(/^\{"level"/m);
    expect(text).not.toMatch(/AGENT_PEER_CREDENTIALS/);
  });

  it('runs without the Python service, and says why in one line', () => {
    expect(demo.info.python).toEqual({
      service: 'shop/reviews',
      running: false,
      reason: 'python3 is not installed (not on PATH)',
    });
    const lines = demo
      .output()
      .split('\n')
      .filter((l) => l.startsWith('ward demo: the Python service'));
    expect(lines).toEqual([
      'ward demo: the Python service shop/reviews is skipped: python3 is not installed (not on PATH)',
    ]);
    expect(demo.info.services.find((s) => s.name === 'shop/reviews')?.url).toBeUndefined();
    // Nobody calls it: no frontend read, no scrape failed for it.
    expect(demo.output()).not.toContain('python shop/reviews via the agent');
  });
});

describe('ward start --dev-identity (no mTLS)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ward-demo-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it("the users' calls succeed: this fallback alone lets passports travel over plain http", async () => {
    const demo = await startDemo(dataDir, '6s', { args: ['--dev-identity'] });
    try {
      expect(await demo.exited).toBe(0);
    } finally {
      if (demo.child.exitCode === null) demo.child.kill('SIGKILL');
    }
    const text = demo.output();
    expect(text).toContain('WITHOUT mTLS');
    // No agent in this mode, so no decision API for the Python service.
    expect(text).toContain(
      'the Python service shop/reviews is skipped: it asks the node agent for its decisions',
    );
    const totals = [...text.matchAll(/users: (\d+) requests \((\d+) ok, 0 refused, 0 failed\)/g)];
    expect(totals.length).toBeGreaterThan(0);
    const [, requests, ok] = totals.at(-1)!;
    expect(Number(requests)).toBeGreaterThan(0);
    expect(ok).toBe(requests);
  });
});
