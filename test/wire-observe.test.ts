/**
 * Dependencies on the wire, end to end with real parts: a real control plane (`startServer` with
 * the ingest and CA plugins, SQLite), a real node agent sampling this machine's
 * `/proc/net/tcp{,6}`, and two real processes in two languages with no Ward code in them — a
 * Python TCP server "payments" and a Node client "checkout" holding a connection to it. The
 * agent maps each socket to its process and the process to its registration entry (unix uid and
 * binary path, as the Workload API does), ships the edge, and the control plane's graph shows it
 * with evidence `wire`. An agent reporting an edge sourced from another node's workload is refused.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentError, ControlPlaneClient, type RunningAgent, startAgent } from '@ward/agent';
import { generateSealKey } from '@ward/ca';
import { caPlugin, ingestPlugin, type RunningServer, startServer } from '@ward/server';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ADMIN = 'wire-admin-token-0123456789abcdef';
const TD = 'prod.test';
const CHECKOUT = `spiffe://${TD}/ns/shop/sa/checkout`;
const PAYMENTS = `spiffe://${TD}/ns/shop/sa/payments`;
const OTHER = `spiffe://${TD}/ns/shop/sa/ledger`;

// payments: accepts connections and holds them open. Python, so its binary differs from the
// client's and the unix:path selector tells the two workloads apart.
const PAYMENTS_PY = [
  'import socket',
  's=socket.socket(); s.bind(("127.0.0.1",0)); s.listen()',
  'print(s.getsockname()[1], flush=True)',
  'held=[]',
  'while True:',
  '  c,_=s.accept(); held.append(c)',
].join('\n');
// checkout: one connection to payments, kept open.
const CHECKOUT_JS = `
const s = require('node:net').connect(Number(process.argv[1]), '127.0.0.1', () => console.log('connected'));
s.on('error', () => process.exit(1));
`;

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl).trim());
    });
    child.once('exit', (code) => reject(new Error(`child exited ${code} before printing`)));
    child.once('error', reject);
  });
}

describe('wire observation: real processes → node agent → control plane graph', () => {
  let dir: string;
  let server: RunningServer;
  let agentA: RunningAgent;
  let agentB: RunningAgent;
  let payments: ChildProcess;
  let checkout: ChildProcess;
  let port: number;

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ward-wire-'));
    server = await startServer({
      dataDir: dir,
      port: 0,
      adminToken: ADMIN,
      trustDomain: TD,
      env: {},
      plugins: [ingestPlugin(), caPlugin({ env: { WARD_CA_KEY: generateSealKey() } })],
    });
    payments = spawn('python3', ['-c', PAYMENTS_PY], { stdio: ['ignore', 'pipe', 'inherit'] });
    port = Number(await firstLine(payments));
    checkout = spawn(process.execPath, ['-e', CHECKOUT_JS, String(port)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    expect(await firstLine(checkout)).toBe('connected');

    const uid = process.getuid!();
    // The binaries as the kernel reports them (python3 may be a launcher script or a symlink).
    const pythonExe = readlinkSync(`/proc/${payments.pid}/exe`);
    const nodeExe = realpathSync(process.execPath);
    await api('POST', '/v1/apply', {
      files: [
        {
          name: 'shop.yaml',
          content: ['checkout', 'payments']
            .map(
              (n) =>
                // Services of namespace shop: keys `shop/checkout`, `shop/payments`, and the
                // conventional SPIFFE IDs `…/ns/shop/sa/…` the registration entries issue.
                `apiVersion: ward.dev/v1\nkind: Service\nmetadata: {name: ${n}, namespace: shop}\nspec: {}\n`,
            )
            .join('---\n'),
        },
      ],
    });
    for (const [spiffeId, path, node] of [
      [CHECKOUT, nodeExe, 'node-a'],
      [PAYMENTS, pythonExe, 'node-a'],
      [OTHER, '/usr/bin/ledger', 'node-b'],
    ] as const) {
      const r = await api('POST', '/v1/ca/entries', {
        spiffeId,
        node,
        selectors: [`unix:uid:${uid}`, `unix:path:${path}`],
      });
      expect(r.status).toBe(201);
    }
    const start = async (node: string, socket: string) => {
      const { body } = await api('POST', '/v1/ca/join-tokens', { node });
      return startAgent({
        controlPlane: server.url,
        joinToken: body.token as string,
        socketPath: join(dir, socket),
        logger: pino({ level: 'silent' }),
        // Timers far off: the test takes the sample and ships it itself.
        wire: { intervalMs: 3_600_000, shipIntervalMs: 3_600_000 },
      });
    };
    agentA = await start('node-a', 'a.sock');
    agentB = await start('node-b', 'b.sock');
  });

  afterAll(async () => {
    checkout?.kill();
    payments?.kill();
    await agentA?.close();
    await agentB?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('samples the connection checkout → payments with its port, from the caller side only', async () => {
    const sample = await agentA.wire!.sample();
    expect(sample.skipped).toEqual([]);
    const edge = sample.edges.find((e) => e.source === CHECKOUT && e.destination === PAYMENTS);
    expect(edge).toMatchObject({ port, connections: 1 });
    // The server's end of the same connection is not a second (reversed) edge.
    expect(sample.edges.some((e) => e.source === PAYMENTS && e.destination === CHECKOUT)).toBe(
      false,
    );
    expect(sample.unresolved.inbound).toBeGreaterThan(0);
  });

  it('ships the edge and the control plane graph shows it as observed, evidence wire', async () => {
    const batch = await agentA.wire!.ship();
    expect(batch?.edges.some((e) => e.source === CHECKOUT && e.port === port)).toBe(true);
    expect(agentA.wire!.pending).toBe(0);
    const res = await api('GET', '/v1/graph?since=1h');
    expect(res.status).toBe(200);
    const graph = res.body.graph as {
      edges: {
        from: string;
        to: string;
        provenance: string;
        ports?: number[];
        sources: { type: string }[];
      }[];
    };
    // SPIFFE IDs resolve to the Service documents' nodes: their keys (namespace shop).
    const edge = graph.edges.find((e) => e.from === 'shop/checkout' && e.to === 'shop/payments');
    expect(edge).toBeDefined();
    expect(edge!.provenance).toBe('observed');
    expect(edge!.sources).toContainEqual({ type: 'wire', file: 'POST /v1/ingest/connections' });
    expect(edge!.ports).toContain(port);
    const unapproved = await api('GET', '/v1/reports/unapproved?since=1h');
    expect(unapproved.status).toBe(200);
    const item = (
      unapproved.body.items as { source: string; destination: string; seenIn: string[] }[]
    ).find((i) => i.source === 'shop/checkout' && i.destination === 'shop/payments');
    expect(item?.seenIn).toEqual(['wire']);
  });

  it("refuses an agent's edge sourced from a workload not on its node (403), keeps its own", async () => {
    const client = new ControlPlaneClient(server.url);
    const now = new Date().toISOString();
    const edge = (source: string) => ({
      source,
      destination: 'shop/payments',
      port: 443,
      samples: 1,
      connections: 1,
      firstSeen: now,
      lastSeen: now,
    });
    const unresolved = {
      inbound: 0,
      noProcess: 0,
      unattested: 0,
      unknownRemote: 0,
      self: 0,
      overCap: 0,
    };
    // node-b's agent claims that checkout (a node-a workload) calls payments.
    const forged = client.reportConnections(agentB.manager.identity, {
      edges: [edge(CHECKOUT)],
      dropped: 0,
      unresolved,
    });
    await expect(forged).rejects.toBeInstanceOf(AgentError);
    await expect(forged).rejects.toMatchObject({ status: 403 });
    // A mixed batch: its own workload's edge counts, the forged one is refused by field.
    const mixed = await client.reportConnections(agentB.manager.identity, {
      edges: [edge(OTHER), edge(PAYMENTS)],
      dropped: 0,
      unresolved,
    });
    expect(mixed).toMatchObject({
      accepted: 1,
      rejected: 1,
      rejections: [{ field: '/edges/1/source', code: 'API_NOT_OWNER' }],
    });
    const graph = (await api('GET', '/v1/graph?since=1h')).body.graph as {
      edges: { from: string; to: string; ports?: number[] }[];
    };
    expect(graph.edges.some((e) => e.from === 'shop/payments' && e.to === 'shop/payments')).toBe(
      false,
    );
    expect(
      graph.edges.find((e) => e.from === 'shop/checkout' && e.to === 'shop/payments')?.ports,
    ).not.toContain(443);
  });

  it('refuses a report without a valid agent proof (401), before reading the body', async () => {
    for (const headers of [{}, { 'x-ward-agent-proof': 'not-a-jwt' }]) {
      const res = await fetch(`${server.url}/v1/ingest/connections`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ nonsense: true }),
      });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { code: string }).code).toBe('API_UNAUTHENTICATED');
    }
  });
});
