/**
 * `npm run bench -- gateway [--duration S] [--connections C] [--requests N] [--rounds R]`
 *
 * What `@ward/gateway` adds to a request, against the same upstream called directly and through
 * nginx (Debian's /usr/sbin/nginx, worker_processes 1, keepalive upstream) as a plain reverse
 * proxy, all on loopback in one run. The gateway runs its full path: a bearer JWT from a dev
 * OpenID provider verified against its JWKS (the key cached after the first fetch; a repeated
 * token hits the verified-token cache, as a client reusing its access token does), passport
 * mint, edge decision, a memory rate limit, then the production
 * upstream (`createClientUpstream`, the SDK's resilient client) over mTLS keep-alive: the gateway
 * presents a Ward SVID and checks the upstream's SPIFFE ID, as in production. The same upstream
 * process also listens on plain HTTP, for the direct calls and for nginx (a plain reverse proxy:
 * nginx with client certificates adds TLS to its hop only, and its figure is the floor of "what
 * a proxy costs"). `gateway_plain` is the same gateway over plain HTTP to the upstream, so the
 * mTLS hop's share of `added_*` is visible (`gateway_plain_added_p50_ms`).
 *
 * The machine has 2 cores: the upstream and the proxy under test are pinned to core 0, this
 * process (the load) to core 1.
 *
 * Figures: `added_p50_ms` / `added_p99_ms` (gateway minus direct) and `nginx_added_p50_ms` from
 * sequential requests on one keep-alive connection (per-request latency, no queueing: the
 * moderate, fixed concurrency where latency means something), medians over `--rounds` rounds
 * run in alternation; `rps`, `direct_rps`, `nginx_rps` from autocannon at `--connections`
 * (default 16); `gateway_cpu_us_per_request`, `nginx_cpu_us_per_request` and
 * `upstream_cpu_us_per_request`, each process's CPU time per request under load, from /proc (the
 * figures least disturbed by other load on a shared machine). `PROF=1` profiles the gateway process over its
 * measured window and adds the summary (`profile`).
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDevIdp } from '@ward/dev-idp';
import autocannon from 'autocannon';
import { Client } from 'undici';
import { nowNs, percentile, progress, round } from './_stats.ts';

const SELF = fileURLToPath(import.meta.url);
const PATH = '/api/orders/42?x=1';
/** The users' access token: a real JWT from a dev OpenID provider, set in `run`. */
let HEADERS: Record<string, string> = {};
const AUDIENCE = 'https://bench.ward.test';

// ---------------------------------------------------------------------------------------------
// Children.

/** The SVIDs of the run, written by the parent (PEM in JSON, as `SvidSource.svid` takes them). */
type Svid = import('@ward/sdk').X509Svid;
const readSvid = (dir: string, name: string): Svid =>
  JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as Svid;

async function serveUpstream(dir: string): Promise<void> {
  const body = Buffer.from('{"ok":true}');
  const handler = (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  };
  const server = createServer(handler);
  const svid = readSvid(dir, 'upstream');
  // mTLS as a Ward workload serves it: its SVID, callers' SVIDs required from the trust bundle.
  const tls = createHttpsServer(
    {
      cert: svid.certChainPem,
      key: svid.keyPem,
      ca: svid.bundlePem,
      requestCert: true,
      rejectUnauthorized: true,
    },
    handler,
  );
  for (const s of [server, tls]) {
    s.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  }
  process.send!({
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tls: `https://localhost:${(tls.address() as AddressInfo).port}`,
  });
}

async function serveGateway(upstream: string, dir: string, issuer: string): Promise<void> {
  const { exportPublicKey, generateBundleSigningKey } = await import('@ward/bundle');
  const { createPdp } = await import('@ward/sdk');
  const { createClientUpstream, createGateway, memoryRateLimiter } = await import('@ward/gateway');
  const { pino } = await import('pino');
  // The gateway test fixture: a control-plane stand-in serving a signed bundle.
  const fx = await import('../packages/gateway/test/_fixture.ts');
  const { startProfile, stopProfile } = await import('./_profile.ts');
  const { privateKey, publicKey } = generateBundleSigningKey();
  const docs = [
    // Bearer JWTs from the provider, verified against its JWKS (fetched once, then cached);
    // a repeated token is served by the verified-token cache, as in production.
    fx.gatewayDoc({
      oidc: [{ issuer, audiences: [AUDIENCE], algorithms: ['RS256'] }],
      passport: { attrs: { role: 'role' } },
    }),
    fx.routeDoc('api', {
      match: { pathPrefix: '/api/' },
      upstream: { service: 'orders', endpoints: [upstream], stripPrefix: true },
      rateLimits: [{ by: 'user', limit: 1_000_000_000, windowSec: 60 }],
    }),
  ];
  const control = await fx.startBundleServer(fx.signedBundle(1, docs, privateKey));
  const silent = pino({ level: 'silent' });
  const pdp = createPdp({
    service: fx.GATEWAY_KEY,
    controlPlanes: [control.url],
    publicKey: exportPublicKey(publicKey),
    logger: silent,
  });
  await pdp.ready;
  // The real parts: the authenticator the gateway builds from the Gateway document (OIDC), and
  // the memory rate limiter.
  const rateLimiter = memoryRateLimiter();
  // Access log on, as in production, written to /dev/null through pino's sonic-boom, in
  // synchronous 4 KiB batches: a write per line costs a syscall each, and asynchronous writes a
  // thread-pool round trip each (measured: ~400 µs CPU per request against ~250 µs here).
  // GATEWAY_NO_LOG=1 turns it off, to see what the log costs.
  const logger = process.env.GATEWAY_NO_LOG
    ? silent
    : pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: true, minLength: 4096 }));
  const gateway = await createGateway({
    pdp,
    rateLimiter,
    upstream: createClientUpstream({
      self: fx.GATEWAY_KEY,
      // Plain HTTP carries the minted passports too: a bench on loopback, never production.
      ...(upstream.startsWith('https:')
        ? { identity: { svid: readSvid(dir, 'gateway') } }
        : { insecure: true }),
    }),
    logger,
    listen: { host: '127.0.0.1', port: 0 },
  });
  process.on('message', async (m: string) => {
    if (m === 'prof-start') {
      await startProfile();
      process.send!('prof-started');
    } else if (m === 'prof-stop') {
      const summary = await stopProfile(join(tmpdir(), `ward-gateway-${process.pid}.cpuprofile`), [
        'authenticate',
        'mintPassport',
        'decideCanonical',
        'applyRateLimits',
        'forward',
        'tryCanonicalRequest',
        'upstreamRequestHeaders',
        'logAccess',
      ]);
      process.send!({ profile: summary });
    }
  });
  process.send!({ url: gateway.url });
}

// ---------------------------------------------------------------------------------------------
// Parent.

interface Child {
  url: string;
  /** The upstream's mTLS listener. */
  tls?: string;
  child: ChildProcess;
}

function pin(core: number, pid: number): void {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' });
  } catch {
    // No taskset: unpinned.
  }
}

async function startChild(mode: string, ...extra: string[]): Promise<Child> {
  const child = fork(SELF, ['--serve', mode, ...extra], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    execArgv: ['--no-warnings', '--conditions=ward-source'],
  });
  const { url, tls } = await new Promise<{ url: string; tls?: string }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${mode} exited with ${code}`)));
    child.once('message', (m) => resolve(m as { url: string; tls?: string }));
  });
  pin(0, child.pid!);
  return { url, ...(tls === undefined ? {} : { tls }), child };
}

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

async function startNginx(
  upstream: string,
  dir: string,
): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const up = new URL(upstream);
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream up { server ${up.host}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location /api/ {
      proxy_pass http://up/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $remote_addr;
    }
  }
}
`,
  );
  const child = spawn('/usr/sbin/nginx', ['-c', conf, '-p', dir], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      const res = await fetch(`${url}/api/ping`);
      await res.arrayBuffer();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  pin(0, child.pid!);
  return { url, child };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** Sequential requests on one keep-alive connection: per-request latency in ms. */
async function latency(url: string, path: string, requests: number) {
  const client = new Client(url);
  const samples = new Float64Array(requests);
  try {
    for (let i = -500; i < requests; i++) {
      const t0 = nowNs();
      const res = await client.request({ path, method: 'GET', headers: HEADERS });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`${url}${path} answered ${res.statusCode}`);
      if (i >= 0) samples[i] = (nowNs() - t0) / 1e6;
    }
  } finally {
    await client.close();
  }
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

async function load(url: string, path: string, connections: number, duration: number) {
  const r = await autocannon({ url: `${url}${path}`, connections, duration, headers: HEADERS });
  // A wrong answer voids the figure; a rare client-side error (a reset under load) is reported.
  if (r.non2xx > 0) throw new Error(`${url}: ${r.non2xx} non-2xx answers`);
  return { rps: r.requests.average, total: r.requests.total, errors: r.errors };
}

/** User + system CPU of a process and its child processes (nginx's worker), µs, from /proc. */
function processTreeCpuUs(pid: number): number {
  const tick = 1e6 / 100; // USER_HZ
  let total = 0;
  const visit = (p: number): void => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) * tick;
      const children = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim();
      for (const c of children === '' ? [] : children.split(' ')) visit(Number(c));
    } catch {
      // The process is gone: nothing more to count.
    }
  };
  visit(pid);
  return total;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const duration = flag(args, '--duration', 5);
  const connections = flag(args, '--connections', 16);
  const requests = flag(args, '--requests', 2000);
  const rounds = flag(args, '--rounds', 5);
  pin(1, process.pid);
  const dir = mkdtempSync(join(tmpdir(), 'ward-bench-gateway-'));
  const children: ChildProcess[] = [];
  let closeIdp = async () => {};
  try {
    // Real SVIDs from Ward's CA: the upstream's (its conventional ID, what the gateway expects)
    // and the gateway's own.
    const { testCa } = await import('../packages/gateway/test/_ca.ts');
    const ca = await testCa();
    for (const [name, id, dns] of [
      ['upstream', 'spiffe://test.local/ns/shop/sa/orders', ['localhost']],
      ['gateway', 'spiffe://test.local/ns/shop/sa/edge', undefined],
    ] as const) {
      writeFileSync(join(dir, `${name}.json`), JSON.stringify(await ca.issue(id, dns && [...dns])));
    }
    const idp = await startDevIdp({
      users: { 'bench-user': { role: 'customer' } },
      audience: AUDIENCE,
    });
    closeIdp = () => idp.close();
    HEADERS = { authorization: `Bearer ${await idp.userToken('bench-user')}` };
    const upstream = await startChild('upstream', dir);
    children.push(upstream.child);
    const gateway = await startChild('gateway', upstream.tls!, dir, idp.issuer);
    children.push(gateway.child);
    const gatewayPlain = await startChild('gateway', upstream.url, dir, idp.issuer);
    children.push(gatewayPlain.child);
    const nginx = await startNginx(upstream.url, dir);
    children.push(nginx.child);
    const direct = { url: upstream.url, path: '/orders/42?x=1' };
    const through = [
      ['direct', direct.url, direct.path],
      ['gateway', gateway.url, PATH],
      ['gateway_plain', gatewayPlain.url, PATH],
      ['nginx', nginx.url, PATH],
    ] as const;
    // Rounds in alternation, so load from elsewhere on the machine hits every side alike; the
    // median of the per-round percentiles is reported.
    const samples: Record<string, { p50: number[]; p99: number[] }> = {};
    for (let round = 0; round < rounds; round++) {
      for (const [name, url, path] of through) {
        progress(`latency ${name}, round ${round + 1}/${rounds}: ${requests} sequential requests`);
        const l = await latency(url, path, requests);
        samples[name] ??= { p50: [], p99: [] };
        samples[name].p50.push(l.p50);
        samples[name].p99.push(l.p99);
      }
    }
    const lat: Record<string, { p50: number; p99: number }> = {};
    for (const [name, s] of Object.entries(samples)) {
      lat[name] = { p50: median(s.p50), p99: median(s.p99) };
    }
    const rps: Record<string, number> = {};
    const pids: Record<string, number> = {
      direct: upstream.child.pid!,
      gateway: gateway.child.pid!,
      gateway_plain: gatewayPlain.child.pid!,
      nginx: nginx.child.pid!,
    };
    const cpuUs: Record<string, number> = {};
    const errors: Record<string, number> = {};
    let profile: unknown;
    for (const [name, url, path] of through) {
      progress(`load ${name}: ${connections} connections, ${duration} s`);
      if (name === 'gateway' && process.env.PROF) {
        gateway.child.send('prof-start');
        await new Promise((r) => gateway.child.once('message', r));
      }
      const cpu0 = processTreeCpuUs(pids[name]!);
      const loaded = await load(url, path, connections, duration);
      rps[name] = loaded.rps;
      errors[name] = loaded.errors;
      // The proxy's own CPU: its process minus nothing (the upstream is a separate process).
      cpuUs[name] = (processTreeCpuUs(pids[name]!) - cpu0) / Math.max(1, loaded.total);
      if (name === 'gateway' && process.env.PROF) {
        gateway.child.send('prof-stop');
        profile = (
          (await new Promise((r) => gateway.child.once('message', r))) as { profile: unknown }
        ).profile;
      }
    }
    return {
      cores: 2,
      connections,
      rps: round(rps.gateway!, 0),
      direct_rps: round(rps.direct!, 0),
      nginx_rps: round(rps.nginx!, 0),
      p50_ms: round(lat.gateway!.p50, 3),
      direct_p50_ms: round(lat.direct!.p50, 3),
      nginx_p50_ms: round(lat.nginx!.p50, 3),
      added_p50_ms: round(lat.gateway!.p50 - lat.direct!.p50, 3),
      added_p99_ms: round(lat.gateway!.p99 - lat.direct!.p99, 3),
      upstream_hop:
        'mTLS keep-alive (createClientUpstream, Ward SVIDs); nginx and direct: plain HTTP',
      gateway_plain_rps: round(rps.gateway_plain!, 0),
      gateway_plain_added_p50_ms: round(lat.gateway_plain!.p50 - lat.direct!.p50, 3),
      gateway_plain_added_p99_ms: round(lat.gateway_plain!.p99 - lat.direct!.p99, 3),
      nginx_added_p50_ms: round(lat.nginx!.p50 - lat.direct!.p50, 3),
      nginx_added_p99_ms: round(lat.nginx!.p99 - lat.direct!.p99, 3),
      target_added_p50_ms: 0.5,
      gateway_cpu_us_per_request: round(cpuUs.gateway!, 1),
      gateway_plain_cpu_us_per_request: round(cpuUs.gateway_plain!, 1),
      nginx_cpu_us_per_request: round(cpuUs.nginx!, 1),
      upstream_cpu_us_per_request: round(cpuUs.direct!, 1),
      load_errors: errors,
      load_average: (await import('node:os')).loadavg()[0],
      ...(profile === undefined ? {} : { profile }),
    };
  } finally {
    for (const c of children.reverse()) await stop(c);
    await closeIdp();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--serve') {
  if (process.argv[3] === 'upstream') await serveUpstream(process.argv[4]!);
  else await serveGateway(process.argv[4]!, process.argv[5]!, process.argv[6]!);
}
