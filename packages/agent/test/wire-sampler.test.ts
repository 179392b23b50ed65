/**
 * The wire sampler on this machine's real /proc: a Python server holds two connections from a
 * Node client (two real processes, no Ward code in them). Registration entries are given
 * directly (the end-to-end test in test/wire-observe.test.ts goes through a control plane).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readlinkSync, realpathSync } from 'node:fs';
import type { WireBatchV1 } from '@ward/api-types';
import type { RegistrationEntry } from '@ward/ca';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WireSampler } from '../src/index.ts';

const SERVER_PY = [
  'import socket',
  's=socket.socket(); s.bind(("127.0.0.1",0)); s.listen()',
  'print(s.getsockname()[1], flush=True)',
  'held=[]',
  'while True:',
  '  c,_=s.accept(); held.append(c)',
].join('\n');
const CLIENT_JS = `
const net = require('node:net');
const port = Number(process.argv[1]);
let n = 0;
for (let i = 0; i < 2; i++) net.connect(port, '127.0.0.1', () => { if (++n === 2) console.log('ready'); });
`;

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl).trim());
    });
    child.once('exit', (code) => reject(new Error(`child exited ${code}`)));
  });
}

const entry = (id: string, spiffeId: string, path: string): RegistrationEntry => ({
  id,
  spiffeId,
  node: 'n',
  parentId: 'spiffe://t.test/ward/agent/n',
  selectors: [`unix:uid:${process.getuid!()}`, `unix:path:${path}`],
  ttlSeconds: 3600,
  jwtTtlSeconds: 300,
  createdAt: Number(id),
});

describe('WireSampler on real processes', () => {
  let server: ChildProcess;
  let client: ChildProcess;
  let port: number;
  let entries: RegistrationEntry[];

  beforeAll(async () => {
    server = spawn('python3', ['-c', SERVER_PY], { stdio: ['ignore', 'pipe', 'inherit'] });
    port = Number(await firstLine(server));
    client = spawn(process.execPath, ['-e', CLIENT_JS, String(port)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    expect(await firstLine(client)).toBe('ready');
    entries = [
      entry('1', 'spiffe://t.test/checkout', realpathSync(process.execPath)),
      entry('2', 'spiffe://t.test/payments', readlinkSync(`/proc/${server.pid}/exe`)),
    ];
  });
  afterAll(() => {
    client?.kill();
    server?.kill();
  });

  it('accumulates samples, ships them, and keeps a batch whose shipment failed', async () => {
    const shipped: WireBatchV1[] = [];
    let fail = true;
    const sampler = new WireSampler({
      entries: () => entries,
      ship: async (b) => {
        if (fail) throw new Error('control plane down');
        shipped.push(b);
      },
      logger: pino({ level: 'silent' }),
    });
    const first = await sampler.sample(1_000);
    expect(first.edges).toContainEqual({
      source: 'spiffe://t.test/checkout',
      destination: 'spiffe://t.test/payments',
      port,
      connections: 2,
    });
    await expect(sampler.ship()).rejects.toThrow('control plane down');
    await sampler.sample(2_000);
    fail = false;
    await sampler.ship();
    const edge = shipped[0]!.edges.find(
      (e) => e.destination === 'spiffe://t.test/payments' && e.port === port,
    );
    expect(edge).toMatchObject({
      source: 'spiffe://t.test/checkout',
      samples: 2,
      connections: 4,
      firstSeen: new Date(1_000).toISOString(),
      lastSeen: new Date(2_000).toISOString(),
    });
    expect(sampler.pending).toBe(0);
  });

  it('counts the connections of a process with no entry instead of inventing an edge', async () => {
    const sampler = new WireSampler({
      entries: () => entries.slice(1), // payments only: checkout is unattested
      ship: async () => {},
      logger: pino({ level: 'silent' }),
    });
    const s = await sampler.sample();
    expect(
      s.edges.some((e) => e.destination === 'spiffe://t.test/payments' && e.port === port),
    ).toBe(false);
    expect(s.unresolved.unattested).toBeGreaterThanOrEqual(2);
  });

  it('fails with AGENT_WIRE when there is no /proc/net/tcp', async () => {
    const sampler = new WireSampler({
      entries: () => entries,
      ship: async () => {},
      logger: pino({ level: 'silent' }),
      procRoot: '/nonexistent-proc',
    });
    await expect(sampler.sample()).rejects.toMatchObject({ code: 'AGENT_WIRE' });
  });
});
