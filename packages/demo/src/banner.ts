/**
 * What the demo prints: where everything is, and the exact commands that show the soft-apply
 * workflow on the traffic it generates.
 */
import { relative } from 'node:path';
import type { DemoCycle } from './cycles.ts';
import type { SecretsStats } from './secrets.ts';
import type { Tally } from './tally.ts';
import type { TrafficStats } from './traffic.ts';

const tty = (out: NodeJS.WritableStream) => (out as { isTTY?: boolean }).isTTY === true;

export function styler(out: NodeJS.WritableStream) {
  const on = tty(out) && !process.env.NO_COLOR;
  const wrap = (code: string) => (s: string) => (on ? `\u001b[${code}m${s}\u001b[0m` : s);
  return {
    bold: wrap('1'),
    dim: wrap('2'),
    red: wrap('31'),
    green: wrap('32'),
    yellow: wrap('33'),
    cyan: wrap('36'),
  };
}

export interface BannerInfo {
  controlPlane: string;
  /** The control plane's unauthenticated Prometheus endpoint (`--metrics-listen`). */
  controlPlaneMetrics?: string;
  adminToken: string;
  adminTokenFile: string;
  dataDir: string;
  applied: boolean;
  identity: { mode: 'mtls' | 'dev-header'; reason?: string; attestation?: string };
  /** `metrics`: the service PDP's Prometheus endpoint (no token, no mTLS). */
  services: { name: string; url: string | undefined; metrics?: string; note: string }[];
  rps: number;
  durationMs: number | undefined;
  /** What the control plane warned about at start (e.g. the seal key kept with the data). */
  warnings: readonly string[];
  /** A dependency cycle of the mesh and its cheapest fix (examples/demo declares one). */
  cycle?: DemoCycle;
  /** Where outside traffic enters, and the OpenID provider whose tokens it takes. */
  gateway: { url: string; issuer: string; audience: string };
  /** How the services get their secrets (payments' API key; inventory's database login). */
  secrets: { delivery: string; apiKey?: string; databaseRole?: string };
  /**
   * The Python service, decided by the node agent: running (its callers named by the dev
   * header), or skipped and why (no python3, no agent).
   */
  python: { service: string; running: boolean; reason?: string; identity?: 'dev-header' };
}

/** The Python service's decisions, as it reports the agent's answers. */
export interface PythonStats {
  allowed: number;
  wouldDeny: number;
  refused: number;
  /** Requests the agent gave no decision for (no bundle yet, unreachable): answered 503. */
  unavailable: number;
}

/** A path relative to the working directory when that is shorter. */
export function shortPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && rel.length < path.length ? rel : path;
}

export function banner(out: NodeJS.WritableStream, info: BannerInfo): string {
  const s = styler(out);
  const lines: string[] = [];
  lines.push('', s.bold('Ward demo: a control plane and a small shop on the Ward SDK'), '');
  lines.push(
    `  control plane   ${s.cyan(info.controlPlane)}   (SQLite in ${shortPath(info.dataDir)})`,
  );
  lines.push(
    `  web console     ${s.cyan(s.bold(`${info.controlPlane}/`))}   ${s.dim('(open it, sign in with the admin token)')}`,
  );
  lines.push(`  admin token     ${info.adminToken}`);
  lines.push(`                  ${s.dim(`kept in ${shortPath(info.adminTokenFile)} (mode 0600)`)}`);
  lines.push(
    `  policies        ${info.applied ? 'applied from examples/demo' : 'kept from the previous run (delete the data dir to start over)'}`,
  );
  for (const warning of info.warnings) {
    lines.push(`  ${s.yellow(s.bold('warning'))}         ${s.yellow(warning)}`);
  }
  if (info.identity.mode === 'mtls') {
    lines.push(
      `  identity        ${s.green('mTLS')} with X.509-SVIDs from the Ward CA, via a node agent (Workload API)`,
    );
    const how = info.identity.attestation;
    if (how?.startsWith('SO_PEERCRED'))
      lines.push(`                  ${s.dim(`callers attested by ${how}`)}`);
    else if (how) lines.push(`                  ${s.yellow(`callers NOT attested: ${how}`)}`);
  } else {
    lines.push(
      `  identity        ${s.red(s.bold('DEVELOPMENT HEADER, NOT mTLS'))}: callers name themselves in x-ward-source`,
      `                  ${s.red(`reason: ${info.identity.reason ?? 'unknown'}`)}`,
    );
  }
  if (info.secrets.apiKey) {
    lines.push(
      `  secrets         ${info.secrets.apiKey} from Ward via the ${info.secrets.delivery} (orders sends it, payments checks it; rotated every minute)`,
    );
    if (info.secrets.databaseRole)
      lines.push(
        `                  shop/inventory-db: inventory's PostgreSQL login ${info.secrets.databaseRole}, a lease revoked when the demo stops`,
      );
  } else {
    lines.push(`  secrets         ${s.yellow(info.secrets.delivery)}`);
  }
  lines.push(
    '',
    s.bold('Services') +
      s.dim('  (namespace/name; PDP + middleware + egress guard + decision-log shipper each)'),
  );
  const width = Math.max(14, ...info.services.map((svc) => svc.name.length));
  for (const svc of info.services) {
    lines.push(`  ${svc.name.padEnd(width)}  ${(svc.url ?? '-').padEnd(24)}  ${s.dim(svc.note)}`);
  }
  lines.push(...metricsLines(s, info));
  lines.push(
    '',
    s.bold('Traffic') +
      `  ~${info.rps} end-user requests/s (alice, bob, carol: customers; dave: support), each signed in`,
    `         at the OpenID provider ${info.gateway.issuer} and sending its access token to the`,
    `         gateway ${info.gateway.url}/shop/…, which mints the passport and forwards to shop/frontend,`,
    `         fanning out to orders, inventory, payments, notifications${info.python.running ? ', reviews' : ''} (all in namespace shop);`,
    '         monitoring/prometheus scrapes their /metrics every 2 s.',
    ...pythonLines(s, info.python),
    '',
    `${s.bold('The new rule, in dry-run')} (examples/demo/inventory-via-orders.yaml):`,
    '  shop/inventory-via-orders#0 denies shop/frontend → shop/inventory. It is NOT enforced yet: the',
    '  frontend still reads stock directly, every such call goes through, and each is logged as a would-deny.',
    ...cycleLines(s, info.cycle),
    '',
    `${s.bold('See it')} (in another terminal, from this directory):`,
    `  export WARD_SERVER=${info.controlPlane} WARD_TOKEN=$(cat ${shortPath(info.adminTokenFile)})`,
    `  npx ward report dry-run        ${s.dim(`# calls the dry-run rules would have refused: shop/frontend → shop/inventory${info.python.running ? ', monitoring/prometheus → shop/reviews' : ''}`)}`,
    `  npx ward report unapproved     ${s.dim('# observed edges no rule allows: monitoring/prometheus → shop/notifications')}`,
    `  npx ward report unused         ${s.dim('# allowed edges nobody uses: shop/payments → shop/notifications')}`,
    `  npx ward promote shop/inventory   ${s.dim('# refuses: the last window shows dry-run denials')}`,
    `  npx ward promote shop/inventory --force   ${s.dim("# enforce anyway, and watch frontend's direct reads get 403")}`,
    `  npx ward graph analyze -f examples/demo   ${s.dim('# the map: cycles, cold-start order, how to break them')}`,
    '',
    info.durationMs === undefined
      ? s.dim('Press Ctrl-C to stop.')
      : s.dim(
          `Stopping by itself after ${Math.round(info.durationMs / 1000)} s (Ctrl-C stops earlier).`,
        ),
    '',
  );
  return `${lines.join('\n')}\n`;
}

/** The Python service: what it shows, or why it is not running. */
function pythonLines(s: ReturnType<typeof styler>, python: BannerInfo['python']): string[] {
  if (!python.running) {
    return [
      '',
      `${s.bold('A Python service')}: ${python.service} ${s.yellow(`skipped: ${python.reason}`)}`,
    ];
  }
  return [
    '',
    `${s.bold('A Python service')} (examples/demo/python/reviews.py, standard library only): ${python.service}`,
    '  asks the node agent for every request (POST /v1/decide over the agent socket) and answers the',
    "  agent's 403 problem body, or serves. Its policy (examples/demo/reviews.yaml) is in dry-run, and",
    '  forgot the monitoring scrapes: they go through, logged as would-denies by the agent.',
    `  ${s.yellow('Its callers name themselves in x-ward-source (the dev header): it serves plain HTTP, no mTLS.')}`,
  ];
}

/** Where Prometheus scrapes: the control plane's and each service PDP's metrics. */
function metricsLines(s: ReturnType<typeof styler>, info: BannerInfo): string[] {
  const targets = [
    ...(info.controlPlaneMetrics ? [['control plane', info.controlPlaneMetrics] as const] : []),
    ...info.services.flatMap((svc) => (svc.metrics ? [[svc.name, svc.metrics] as const] : [])),
  ];
  if (targets.length === 0) return [];
  const width = Math.max(14, ...targets.map(([name]) => name.length));
  return [
    '',
    s.bold('Metrics') +
      s.dim('  (Prometheus text, no token; ward_pdp_* per service, ward_* for the control plane)'),
    ...targets.map(([name, url]) => `  ${name.padEnd(width)}  ${url}`),
  ];
}

/** The banner's cycle section: the cycle, whether it blocks a cold start, the cheapest fix. */
function cycleLines(s: ReturnType<typeof styler>, cycle: DemoCycle | undefined): string[] {
  if (cycle === undefined) return [];
  return [
    '',
    `${s.bold('A dependency cycle')} (declared in examples/demo/services.yaml):`,
    `  ${s.yellow(cycle.path.join(' → '))}${cycle.startup ? `  ${s.red('startup cycle: none of them can start from cold')}` : ''}`,
    `  fix: ${cycle.fix}`,
  ];
}

const top = (m: Map<string, number>) =>
  [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([k, v]) => `${k} ×${v}`)
    .join(', ');

export function statusLine(
  out: NodeJS.WritableStream,
  elapsedMs: number,
  traffic: TrafficStats,
  tally: Tally,
  shipped: number,
  secrets?: SecretsStats,
  more: { python?: PythonStats } = {},
): string {
  const s = styler(out);
  const t = `[${String(Math.round(elapsedMs / 1000)).padStart(4)} s]`;
  const parts = [
    `${s.dim(t)} users: ${traffic.requests} requests (${traffic.ok} ok, ${traffic.refused} refused, ${traffic.failed} failed)`,
    `decisions: ${tally.allowed} allowed, ${s.yellow(`${tally.wouldDeny} would-deny (dry-run)`)}, ${s.red(`${tally.refused} refused`)}`,
    `${shipped} shipped`,
  ];
  const lines = [parts.join(' · ')];
  if (secrets) {
    const db = secrets.database
      ? ` · inventory db login ${secrets.database.role}: ${secrets.database.checks} checks ok, ${secrets.database.failures} failed`
      : '';
    lines.push(
      `         secrets: payments api key v${secrets.apiKeyVersion} (${secrets.rotations} rotations, ${secrets.refused} refused)${db}`,
    );
  }
  const py = more.python;
  if (py) {
    lines.push(
      `         python shop/reviews via the agent: ${py.allowed} allowed, ${py.wouldDeny} would-deny, ${py.refused} refused, ${py.unavailable} without a decision`,
    );
  }
  if (tally.wouldDenyEdges.size) lines.push(`         would-deny: ${top(tally.wouldDenyEdges)}`);
  if (tally.refusedEdges.size) lines.push(`         refused:    ${top(tally.refusedEdges)}`);
  return `${lines.join('\n')}\n`;
}
