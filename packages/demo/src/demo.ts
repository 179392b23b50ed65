/**
 * `runDemo`: the control plane, the mesh, the traffic loop and the status lines, started in
 * order and stopped in reverse.
 */
import { join } from 'node:path';
import {
  createDecisionLogShipper,
  createPdp,
  type DecisionLogShipper,
  type DecisionRecorder,
  type Pdp,
  type PdpLogger,
  svidDispatcher,
} from '@ward/sdk';
import { listenMetrics } from '@ward/server';
import { type BannerInfo, banner, statusLine, styler } from './banner.ts';
import {
  CONTROL_PLANE_ID,
  type DemoControlPlane,
  serveWithSvid,
  startControlPlane,
} from './control-plane.ts';
import { dependencyCycle } from './cycles.ts';
import { SHOP_AUDIENCE, startEdge } from './edge.ts';
import { DemoError } from './errors.ts';
import {
  frontendHandler,
  inventoryHandler,
  notificationsHandler,
  ordersHandler,
  paymentsHandler,
} from './handlers.ts';
import { type MeshIdentities, meshIdentities, type ServiceIdentity } from './identity.ts';
import { keyOf, MESH, SCRAPE_TARGETS, spiffeIdOf } from './mesh.ts';
import { type DemoOptions, resolveDemoOptions } from './options.ts';
import {
  countPythonDecisions,
  findPython,
  pythonSkipReason,
  startPythonService,
} from './python.ts';
import { type DemoSecrets, startDemoSecrets } from './secrets.ts';
import {
  type Caller,
  createCaller,
  type Directory,
  type Handler,
  type RunningService,
  startService,
} from './service.ts';
import { Tally } from './tally.ts';
import { startTraffic, type Traffic } from './traffic.ts';

/** A running demo. */
export interface RunningDemo {
  /** What the banner shows, also for `-o json`. */
  readonly info: BannerInfo;
  /** Resolves when the demo has stopped (after `stop()` or `--duration`). */
  readonly done: Promise<void>;
  /** Stops traffic, ships the last decision logs, closes everything; idempotent. */
  stop(): Promise<void>;
}

const HANDLERS: Record<
  string,
  (pdp: Pdp, secrets: DemoSecrets | undefined, mesh: { reviews: boolean }) => Handler
> = {
  frontend: frontendHandler,
  orders: ordersHandler,
  payments: paymentsHandler,
  inventory: inventoryHandler,
  notifications: notificationsHandler,
};

/**
 * Starts the demo and prints its banner to `options.out`.
 *
 * @example
 * ```ts
 * const demo = await runDemo({ port: 0, dataDir: '/tmp/ward-demo', durationMs: 20_000 });
 * await demo.done;
 * ```
 */
export async function runDemo(options: DemoOptions = {}): Promise<RunningDemo> {
  const opts = resolveDemoOptions(options);
  const out = opts.out;
  const s = styler(out);
  const warn = (message: string) => process.stderr.write(`ward demo: ${message}\n`);
  const cleanups: (() => Promise<void>)[] = [];
  let stopping = false;
  const cleanup = async () => {
    for (const c of cleanups.reverse())
      await c().catch((e) => warn(`while stopping: ${(e as Error).message}`));
  };

  try {
    out.write(s.dim('starting the control plane…\n'));
    const cp: DemoControlPlane = await startControlPlane(opts);
    cleanups.push(() => cp.close());

    const pdpLogger: PdpLogger = {
      warn(fields, message) {
        if (!stopping) warn(`pdp: ${message} ${JSON.stringify(fields)}`);
      },
    };
    out.write(s.dim('setting up service identities…\n'));
    // The Python service's entry names its interpreter: the agent tells it from the Node services
    // by the executable the kernel reports for the process asking.
    const python = findPython();
    const pythonKey = keyOf(MESH.find((m) => m.python)!);
    const uid = process.getuid?.() ?? 0;
    const identities: MeshIdentities = await meshIdentities(
      cp,
      [
        ...MESH.filter((m) => !m.python).map((m) => ({ name: keyOf(m), spiffeId: spiffeIdOf(m) })),
        ...('exe' in python
          ? [
              {
                name: pythonKey,
                spiffeId: spiffeIdOf(MESH.find((m) => m.python)!),
                selectors: [`unix:uid:${uid}`, `unix:path:${python.exe}`],
              },
            ]
          : []),
        { name: 'control-plane', spiffeId: CONTROL_PLANE_ID },
      ],
      { dataDir: opts.dataDir, forceDev: opts.devIdentity, publicKey: cp.server.publicKey },
    );
    cleanups.push(() => identities.close());
    if (identities.notice) warn(identities.notice);
    if (identities.mode !== 'mtls') {
      warn(
        `WARNING: running WITHOUT mTLS (${identities.reason}); callers are identified by a forgeable header`,
      );
    }
    // Everything below is by service key (`shop/orders`): PDPs, tokens, bundles, decision logs.
    const identityOf = new Map<string, ServiceIdentity>();
    for (const svc of MESH) {
      if (svc.python) continue; // its own process; the demo holds no identity for it
      const identity = await identities.for(keyOf(svc), spiffeIdOf(svc));
      cleanups.push(async () => identity.close());
      identityOf.set(keyOf(svc), identity);
    }
    // Under mTLS the PDPs and shippers authenticate with their SVIDs on the control plane's
    // HTTPS listener (each is the service its SPIFFE ID names); otherwise with a bound token.
    let svidUrl: string | undefined;
    if (identities.mode === 'mtls') {
      const own = await identities.for('control-plane', CONTROL_PLANE_ID);
      cleanups.push(async () => own.close());
      if (own.workload) svidUrl = await serveWithSvid(cp, own.workload, opts.host);
    }
    const credentialsOf = async (name: string) => {
      const workload = identityOf.get(name)?.workload;
      return svidUrl && workload
        ? { controlPlanes: svidUrl, svid: { source: workload } }
        : { controlPlanes: cp.url, token: await cp.pdpToken(name) };
    };

    const declared = await cp.admin<{ items: { name: string }[] }>('GET', '/v1/services');
    const pythonSkipped = pythonSkipReason(
      python,
      identities,
      declared.items.some((svc) => svc.name === pythonKey),
    );
    const runsPython = pythonSkipped === undefined;
    if (pythonSkipped) warn(`the Python service ${pythonKey} is skipped: ${pythonSkipped}`);

    const pdps = new Map<string, Pdp>();
    for (const svc of MESH) {
      if (svc.clientOnly || (svc.python && !runsPython)) continue;
      // The Python service decides in the agent; here is its bundle for its callers' egress
      // guards (as a real caller loads its destinations'), which reports no status of its own.
      const pdp = createPdp({
        service: keyOf(svc),
        ...(await credentialsOf(keyOf(svc))),
        ...(svc.python ? { statusIntervalMs: 0 } : {}),
        publicKey: cp.server.publicKey,
        cacheDir: join(opts.dataDir, 'bundle-cache'),
        backoff: { initialMs: 100, maxMs: 2000 },
        logger: pdpLogger,
        // Reported more often than in production, so `ward status` and the console's fleet
        // view show the demo's PDPs at the current revision within seconds of a change.
        ...(svc.python ? {} : { statusIntervalMs: 5000 }),
      });
      pdps.set(keyOf(svc), pdp);
      cleanups.push(() => pdp.close());
    }
    // Each PDP's metrics on a port of its own, without a token or mTLS: what a team's
    // Prometheus scrapes (the services' own /metrics routes go through their policy).
    const metricsUrls = new Map<string, string>();
    for (const [name, pdp] of pdps) {
      if (name === pythonKey) continue; // its decisions are the agent's; its metrics its own
      const registry = pdp.metrics();
      const listener = await listenMetrics(() => registry.metrics(), opts.host, 0);
      cleanups.push(() => listener.close());
      metricsUrls.set(name, listener.url);
    }
    // A cached bundle makes a PDP ready at once; wait for the control plane's current revision.
    await Promise.all([...pdps.values()].map((p) => p.ready));
    const revision = (await cp.admin<{ revision: number }>('GET', '/v1/revision')).revision;
    const deadline = Date.now() + 10_000;
    while ([...pdps.values()].some((p) => p.revision() < revision) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }

    // Secrets through the node agent: payments' API key for orders and payments, and with
    // --postgres inventory's database login. Without the agent (the dev-header fallback) there is
    // no way to deliver them to an identified workload: the key check is off, and the banner says so.
    let secrets: DemoSecrets | undefined;
    if (identities.agentSocket) {
      secrets = await startDemoSecrets({
        cp,
        socketPath: identities.agentSocket,
        ...(opts.postgresUrl ? { postgresUrl: opts.postgresUrl } : {}),
        warn: (m) => {
          if (!stopping) warn(m);
        },
      });
      const held = secrets;
      if (held) cleanups.push(() => held.close());
      else
        warn(
          'the policies in use declare no Secret shop/payments-api-key (examples/demo/secrets.yaml): the API key check is off',
        );
    } else if (opts.postgresUrl) {
      warn('--postgres needs the node agent (mTLS mode): inventory gets no database login');
    }

    const urls = new Map<string, string>();
    const directory: Directory = {
      keys: () => MESH.map(keyOf),
      urlIfListening: (key) => urls.get(key),
      url: (key) => {
        const u = urls.get(key);
        if (u === undefined) throw new Error(`${key} is not listening`);
        return u;
      },
      spiffeId: (key) => spiffeIdOf(MESH.find((m) => keyOf(m) === key)!),
    };
    const tally = new Tally();
    // The Python service: started once the agent's PDP for it holds its bundle; it reports each
    // of the agent's answers, which count in the status lines as every service's decisions do.
    const { stats: pythonStats, onDecision } = countPythonDecisions(tally, pythonKey);
    if (runsPython && 'exe' in python) {
      if (!(await identities.localPdpReady?.(pythonKey, 10_000))) {
        warn(`the agent has no bundle for ${pythonKey} yet: it answers 503 until it has one`);
      }
      const service = await startPythonService({
        exe: python.exe,
        socketPath: identities.agentSocket!,
        host: opts.host,
        service: pythonKey,
        onDecision,
        warn: (m) => {
          if (!stopping) warn(m);
        },
      });
      cleanups.push(() => service.close());
      urls.set(pythonKey, service.url);
    }
    const reported = new Set<string>();
    const shippers: DecisionLogShipper[] = [];
    const services: RunningService[] = [];
    const callers: (() => Promise<void>)[] = [];
    let edgeLog: DecisionRecorder | undefined;
    let monitoring: Caller | undefined;
    for (const svc of MESH) {
      if (svc.python) continue; // it calls no one; the agent ships its decisions
      const key = keyOf(svc);
      const identity = identityOf.get(key)!;
      const credentials = await credentialsOf(key);
      const dispatcher = credentials.svid ? svidDispatcher(credentials.svid) : undefined;
      if (dispatcher) cleanups.push(() => dispatcher.close());
      const shipper = createDecisionLogShipper({
        controlPlanes: credentials.controlPlanes,
        ...(dispatcher ? { dispatcher } : { token: credentials.token }),
        flushIntervalMs: 1000,
        onError: (e) => {
          // Once per service and kind: a control plane without the ingest routes would
          // otherwise fill the terminal.
          const seen = `${key} ${e.message.replace(/^\S+ answered (\d+).*/s, '$1')}`;
          if (stopping || reported.has(seen)) return;
          reported.add(seen);
          warn(`decision logs of ${key}: ${e.message.slice(0, 200)} (repeats are not shown)`);
        },
      });
      shippers.push(shipper);
      const deps = {
        name: key,
        identity,
        pdp: pdps.get(key),
        pdps,
        shipper,
        tally,
        directory,
      };
      const { call, close: closeCaller } = createCaller(deps);
      callers.push(closeCaller);
      if (svc.clientOnly) {
        monitoring = call;
        continue;
      }
      // The gateway starts once the storefront behind it listens (below).
      if (svc.gateway) {
        edgeLog = {
          record(entry) {
            shipper.record(entry);
            tally.record(entry);
          },
        };
        continue;
      }
      const handler = HANDLERS[svc.name]!(deps.pdp!, secrets, { reviews: runsPython });
      const running = await startService(deps, handler, {
        host: opts.host,
        call,
      });
      urls.set(key, running.url!);
      services.push(running);
    }
    // Servers close before the shippers flush, so the last decisions are shipped.
    cleanups.push(async () => {
      await Promise.all(shippers.map((sh) => sh.close()));
    });
    cleanups.push(async () => {
      await Promise.all(services.map((sv) => sv.close()));
    });
    // Clients close first: their health checks and kept-alive connections end before servers do.
    cleanups.push(async () => {
      await Promise.all(callers.map((close) => close()));
    });

    const gatewaySvc = MESH.find((m) => m.gateway)!;
    const frontendKey = 'shop/frontend';
    out.write(s.dim('starting the OpenID provider and the gateway…\n'));
    const edge = await startEdge({
      host: opts.host,
      admin: cp.admin,
      pdp: pdps.get(keyOf(gatewaySvc))!,
      identity: identityOf.get(keyOf(gatewaySvc))!,
      frontendUrl: urls.get(frontendKey)!,
      decisionLog: edgeLog!,
    });
    cleanups.push(() => edge.close());
    urls.set(keyOf(gatewaySvc), edge.url);

    const traffic: Traffic = startTraffic({
      gatewayUrl: edge.url,
      token: (user) => edge.token(user),
      rps: opts.rps,
      monitoring: monitoring!,
      scrapeTargets: SCRAPE_TARGETS.filter((key) => urls.has(key)),
    });
    cleanups.push(() => traffic.stop());

    // The map of the mesh as the control plane sees it; the demo runs on without it.
    const cycle = await dependencyCycle(cp.admin).catch((e: Error) => {
      warn(`the dependency graph is not available: ${e.message.slice(0, 200)}`);
      return undefined;
    });
    const info: BannerInfo = {
      controlPlane: cp.url,
      ...(cp.server.metricsUrl ? { controlPlaneMetrics: cp.server.metricsUrl } : {}),
      adminToken: cp.adminToken,
      adminTokenFile: cp.adminTokenFile,
      dataDir: opts.dataDir,
      applied: cp.applied,
      identity: {
        mode: identities.mode,
        ...(identities.reason ? { reason: identities.reason } : {}),
        ...(identities.attestation ? { attestation: identities.attestation } : {}),
      },
      services: MESH.map((m) => ({
        name: keyOf(m),
        url: urls.get(keyOf(m)),
        ...(metricsUrls.has(keyOf(m)) ? { metrics: metricsUrls.get(keyOf(m))! } : {}),
        note: m.gateway
          ? 'ward gateway: OIDC tokens in, passports out; the way in'
          : m.clientOnly
            ? 'client only, ward.dev/role: monitoring; scrapes /metrics'
            : m.python
              ? 'version' in python && runsPython
                ? `Python ${python.version} (stdlib), decided by the node agent (POST /v1/decide); plain HTTP, callers named by x-ward-source (dev header)`
                : `Python: skipped (${pythonSkipped})`
              : identities.mode === 'mtls'
                ? `mTLS, ${spiffeIdOf(m)}`
                : spiffeIdOf(m),
      })),
      python: pythonSkipped
        ? { service: pythonKey, running: false, reason: pythonSkipped }
        : { service: pythonKey, running: true, identity: 'dev-header' },
      rps: opts.rps,
      durationMs: opts.durationMs,
      warnings: cp.server.warnings,
      ...(cycle ? { cycle } : {}),
      gateway: { url: edge.url, issuer: edge.issuer, audience: SHOP_AUDIENCE },
      secrets: secrets
        ? {
            delivery: 'node agent',
            apiKey: 'shop/payments-api-key',
            ...(secrets.stats().database ? { databaseRole: secrets.stats().database!.role } : {}),
          }
        : {
            delivery: identities.agentSocket
              ? 'off (the policies in use declare no Secret shop/payments-api-key)'
              : 'off (no node agent in the dev-header fallback)',
          },
    };
    out.write(banner(out, info));

    const started = Date.now();
    const shipped = () => shippers.reduce((n, sh) => n + sh.stats().shipped, 0);
    const status = setInterval(() => {
      out.write(
        statusLine(out, Date.now() - started, traffic.stats, tally, shipped(), secrets?.stats(), {
          ...(runsPython ? { python: pythonStats } : {}),
        }),
      );
    }, opts.statusIntervalMs);
    cleanups.push(async () => clearInterval(status));

    let resolveDone!: () => void;
    const done = new Promise<void>((r) => {
      resolveDone = r;
    });
    let stopped: Promise<void> | undefined;
    const stop = () =>
      (stopped ??= (async () => {
        stopping = true;
        clearTimeout(timer);
        clearInterval(status);
        out.write(
          s.dim(
            '\nstopping: traffic, then servers, last decision logs, PDPs, identities, control plane…\n',
          ),
        );
        await cleanup();
        out.write(
          statusLine(out, Date.now() - started, traffic.stats, tally, shipped(), secrets?.stats(), {
            ...(runsPython ? { python: pythonStats } : {}),
          }),
        );
        out.write('stopped.\n');
        resolveDone();
      })());
    const timer =
      opts.durationMs === undefined ? undefined : setTimeout(() => void stop(), opts.durationMs);
    return { info, done, stop };
  } catch (error) {
    stopping = true;
    await cleanup();
    if (error instanceof DemoError) throw error;
    throw new DemoError(
      'DEMO_SETUP_FAILED',
      `the demo could not start: ${(error as Error)?.message ?? error}`,
      {
        cause: error,
      },
    );
  }
}
