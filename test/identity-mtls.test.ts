/**
 * End to end: control plane CA (@ward/ca over HTTP) → node agent (@ward/agent, Workload API on a
 * Unix socket, real peer credentials) → SDK identity (@ward/sdk) → mTLS between real servers and
 * real clients: Node (undici), curl and openssl s_client processes.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, get as httpsGet, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type RunningAgent, startAgent } from '@ward/agent';
import {
  createCsr,
  exportPrivateKey,
  generateKeyPair,
  signLeaf,
  toPem,
  trustBundlePem,
  verifyCsr,
} from '@ward/ca';
import { peerIdentity, type WorkloadIdentity, workloadIdentity } from '@ward/sdk';
import pino from 'pino';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane } from '../packages/agent/test/_control-plane.ts';

const run = promisify(execFile);
const uid = process.getuid!();
const exe = realpathSync(process.execPath);
const TD = 'example.org';
const ORDERS = `spiffe://${TD}/ns/shop/sa/orders`;
const FRONTEND = `spiffe://${TD}/ns/shop/sa/frontend`;
const dir = mkdtempSync(join(tmpdir(), 'ward-mtls-'));
const socketPath = join(dir, 'agent.sock');
const quiet = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('workload identity end to end', () => {
  let cp: Awaited<ReturnType<typeof startControlPlane>>;
  let agent: RunningAgent;
  let serverId: WorkloadIdentity;
  let clientId: WorkloadIdentity;
  let server: Server;
  let url: string;
  const callers: string[] = [];
  const clientSerials = new Set<string>();

  const newAgent = async () => {
    const { token } = (await cp.admin('POST', '/v1/ca/join-tokens', { node: 'node-1' })) as {
      token: string;
    };
    return startAgent({
      controlPlane: cp.url,
      joinToken: token,
      socketPath,
      logger: quiet,
      timing: { syncIntervalMs: 300, minBackoffMs: 100, maxBackoffMs: 500 },
    });
  };

  /** A client certificate minted directly by the CA (for curl / openssl). */
  const mint = async (spiffeId: string, opts: { ttlSeconds?: number; now?: number } = {}) => {
    const keys = await generateKeyPair();
    const svid = await signLeaf(await cp.service.authority(), {
      csr: await verifyCsr(await createCsr(keys)),
      spiffeId,
      ...opts,
    });
    const name = spiffeId.split('/').at(-1)! + (opts.now ? '-old' : '');
    writeFileSync(join(dir, `${name}.crt`), svid.chain.join(''));
    writeFileSync(
      join(dir, `${name}.key`),
      toPem(await exportPrivateKey(keys.privateKey), 'PRIVATE KEY'),
    );
    return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  };

  beforeAll(async () => {
    cp = await startControlPlane(TD);
    const sel = [`unix:uid:${uid}`, `unix:path:${exe}`];
    await cp.admin('POST', '/v1/ca/entries', {
      spiffeId: ORDERS,
      node: 'node-1',
      selectors: sel,
      ttlSeconds: 4,
      dnsNames: ['localhost'],
    });
    await cp.admin('POST', '/v1/ca/entries', {
      spiffeId: FRONTEND,
      node: 'node-1',
      selectors: sel,
      ttlSeconds: 4,
    });
    agent = await newAgent();
    serverId = await workloadIdentity({ socketPath: `unix://${socketPath}`, spiffeId: ORDERS });
    clientId = await workloadIdentity({ socketPath, spiffeId: FRONTEND });
    server = createServer(serverId.serverOptions(), (req, res) => {
      // Records every request that reaches the handler: an unverified caller must never get here.
      callers.push(peerIdentity(req.socket) ?? 'UNVERIFIED');
      const cert = (req.socket as import('node:tls').TLSSocket).getPeerX509Certificate();
      if (cert) clientSerials.add(cert.serialNumber);
      res.end('ok');
    });
    serverId.secureServer(server, { authorize: [FRONTEND, `spiffe://${TD}/ns/shop/sa/cli`] });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    writeFileSync(join(dir, 'bundle.pem'), trustBundlePem(await cp.service.authority()));
  });
  afterAll(async () => {
    clientId?.close();
    serverId?.close();
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    await agent?.close();
    await cp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves mTLS to a Ward client and hands the verified caller to the handler', async () => {
    const dispatcher = clientId.dispatcher({ expect: ORDERS });
    const res = await request(url, { dispatcher });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('ok');
    expect(callers.at(-1)).toBe(FRONTEND);
    // A client expecting another server SPIFFE ID refuses the connection.
    const wrong = clientId.dispatcher({ expect: `spiffe://${TD}/ns/shop/sa/payments` });
    await expect(request(url, { dispatcher: wrong })).rejects.toThrow(/not the one expected/);
    await dispatcher.close();
    await wrong.close();
    // The node:https agent flavour.
    const agentOk = clientId.agent({ expect: ORDERS });
    const body = await new Promise<string>((resolve, reject) => {
      httpsGet(`${url}/`, { agent: agentOk }, (r) => {
        let t = '';
        r.on('data', (d) => (t += d));
        r.on('end', () => resolve(t));
      }).on('error', reject);
    });
    expect(body).toBe('ok');
    agentOk.destroy();
  });

  it('completes mTLS with curl and openssl s_client, and refuses foreign, expired and unauthorized certificates', async () => {
    const port = (server.address() as AddressInfo).port;
    const cli = await mint(`spiffe://${TD}/ns/shop/sa/cli`);
    const ok = await run('curl', [
      '-sS',
      '--cert',
      cli.cert,
      '--key',
      cli.key,
      '--cacert',
      join(dir, 'bundle.pem'),
      `https://localhost:${port}/`,
    ]);
    expect(ok.stdout).toBe('ok');
    const sc = await new Promise<string>((resolve) => {
      const p = execFile(
        'openssl',
        [
          's_client',
          '-connect',
          `127.0.0.1:${port}`,
          '-cert',
          cli.cert,
          '-cert_chain',
          cli.cert,
          '-key',
          cli.key,
          '-CAfile',
          join(dir, 'bundle.pem'),
          '-verify_return_error',
          '-tls1_3',
          '-quiet',
        ],
        (_e, out, err) => resolve(out + err),
      );
      p.stdin!.end('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    });
    expect(sc).toContain('HTTP/1.1 200');
    expect(sc).toMatch(/verify return:1/);

    // Certificate from another CA (openssl, same SPIFFE ID).
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(dir, 'rogue.key'),
      '-out',
      join(dir, 'rogue.crt'),
      '-days',
      '1',
      '-subj',
      '/O=rogue',
      '-addext',
      `subjectAltName=URI:${FRONTEND}`,
    ]);
    const curlFails = (cert: string, key: string) =>
      run('curl', [
        '-sS',
        '--cert',
        cert,
        '--key',
        key,
        '--cacert',
        join(dir, 'bundle.pem'),
        `https://localhost:${port}/`,
      ]).then(
        (r) => `unexpected success: ${r.stdout}`,
        (e: { code?: number; stderr?: string }) => `exit ${e.code}: ${e.stderr}`,
      );
    expect(await curlFails(join(dir, 'rogue.crt'), join(dir, 'rogue.key'))).toMatch(/^exit \d+/);
    // Expired certificate from the right CA.
    const old = await mint(FRONTEND, { ttlSeconds: 1, now: Date.now() - 120_000 });
    expect(await curlFails(old.cert, old.key)).toMatch(/^exit \d+/);
    // Valid certificate, SPIFFE ID not authorized.
    const intruder = await mint(`spiffe://${TD}/ns/shop/sa/intruder`);
    expect(await curlFails(intruder.cert, intruder.key)).toMatch(/^exit \d+/);
    // None of the refused callers reached the handler, not even with a request sent right
    // behind the handshake.
    expect(callers.filter((c) => c !== FRONTEND && c !== `spiffe://${TD}/ns/shop/sa/cli`)).toEqual(
      [],
    );
    // No client certificate at all.
    expect(
      await run('curl', [
        '-sS',
        '--cacert',
        join(dir, 'bundle.pem'),
        `https://localhost:${port}/`,
      ]).then(
        () => 'ok',
        () => 'refused',
      ),
    ).toBe('refused');
  });

  it('keeps serving through several rotations under load without a failed request', async () => {
    const dispatcher = clientId.dispatcher({ expect: ORDERS });
    const serverSerials = new Set<string>();
    serverId.on('rotate', (s) => serverSerials.add(s.serialNumber));
    const before = clientSerials.size;
    let failures = 0;
    let ok = 0;
    const deadline = Date.now() + 9000;
    const worker = async () => {
      while (Date.now() < deadline) {
        try {
          const res = await request(url, { dispatcher });
          await res.body.text();
          if (res.statusCode === 200) ok++;
          else failures++;
        } catch {
          failures++;
        }
      }
    };
    // Keep-alive connections plus periodic fresh ones, so new handshakes meet new certificates.
    const fresh = async () => {
      while (Date.now() < deadline) {
        const d = clientId.dispatcher({ expect: ORDERS });
        try {
          const res = await request(url, { dispatcher: d });
          await res.body.text();
          if (res.statusCode === 200) ok++;
          else failures++;
        } catch {
          failures++;
        }
        await d.close();
        await sleep(200);
      }
    };
    await Promise.all([worker(), worker(), fresh()]);
    await dispatcher.close();
    expect(failures).toBe(0);
    expect(ok).toBeGreaterThan(50);
    expect(serverSerials.size).toBeGreaterThanOrEqual(2);
    expect(clientSerials.size - before).toBeGreaterThanOrEqual(2);
  });

  it('rotates the root through agents and workloads without a failed request', async () => {
    const dispatcher = clientId.dispatcher({ expect: ORDERS });
    let failures = 0;
    let stop = false;
    const load = (async () => {
      while (!stop) {
        try {
          const d = clientId.dispatcher({ expect: ORDERS }); // fresh handshakes too
          const [a, b] = await Promise.all([
            request(url, { dispatcher }),
            request(url, { dispatcher: d }),
          ]);
          await a.body.text();
          await b.body.text();
          if (a.statusCode !== 200 || b.statusCode !== 200) failures++;
          await d.close();
        } catch {
          failures++;
        }
      }
    })();
    const roots = (id: WorkloadIdentity) =>
      id.svid.bundlePem.match(/BEGIN CERTIFICATE/g)?.length ?? 0;
    const until = (cond: () => boolean) =>
      new Promise<void>((resolve) => {
        const check = () => (cond() ? resolve() : setTimeout(check, 100));
        check();
      });
    await cp.service.prepareRoot();
    // The new root reaches both workloads through the agent before it signs anything.
    await until(() => roots(serverId) === 2 && roots(clientId) === 2);
    await cp.service.activateRoot();
    const newRoot = (await cp.service.authority()).roots[0]!;
    const chainsToNewRoot = (id: WorkloadIdentity) => {
      const ints = id.svid.certChainPem.split(/(?=-----BEGIN CERTIFICATE-----)/);
      return new X509Certificate(ints[1]!).checkIssued(
        new X509Certificate(Buffer.from(newRoot.rawData)),
      );
    };
    await until(() => chainsToNewRoot(serverId) && chainsToNewRoot(clientId));
    stop = true;
    await load;
    await dispatcher.close();
    expect(failures).toBe(0);
  });

  it('survives a control-plane outage while certificates last, and recovers', async () => {
    // Start the outage right after both SVIDs were renewed, so both have ~4 s left.
    const rotated = (id: WorkloadIdentity) => new Promise((r) => id.once('rotate', r));
    await Promise.all([rotated(serverId), rotated(clientId)]);
    await cp.stop();
    const serial = clientId.svid.serialNumber;
    const serverSerial = serverId.svid.serialNumber;
    const dispatcher = clientId.dispatcher({ expect: ORDERS });
    // Past the 2 s half-life (renewals fail and are retried) but within the 4 s TTL, the cached
    // SVIDs keep working, for fresh handshakes too.
    for (let i = 0; i < 10; i++) {
      const fresh = clientId.dispatcher({ expect: ORDERS });
      const res = await request(url, { dispatcher: fresh });
      expect(res.statusCode).toBe(200);
      await res.body.text();
      await fresh.close();
      await sleep(200);
    }
    expect(clientId.svid.serialNumber).toBe(serial); // nothing could be renewed meanwhile
    await cp.start();
    // After the outage the agent renews again: new SVIDs reach both workloads (the server's may
    // have expired during the outage; a call before its renewal would be refused).
    await new Promise<void>((resolve) => {
      const check = () =>
        clientId.svid.serialNumber !== serial && serverId.svid.serialNumber !== serverSerial
          ? resolve()
          : setTimeout(check, 100);
      check();
    });
    const res = await request(url, { dispatcher });
    expect(res.statusCode).toBe(200);
    await res.body.text();
    await dispatcher.close();
  });

  it('survives an agent restart: workloads keep their SVID, then reconnect to the new agent', async () => {
    await agent.close();
    const serial = clientId.svid.serialNumber;
    const dispatcher = clientId.dispatcher({ expect: ORDERS });
    const res = await request(url, { dispatcher });
    expect(res.statusCode).toBe(200);
    await res.body.text();
    agent = await newAgent();
    await new Promise<void>((resolve) => {
      const check = () =>
        clientId.svid.serialNumber !== serial ? resolve() : setTimeout(check, 100);
      check();
    });
    const after = await request(url, { dispatcher });
    expect(after.statusCode).toBe(200);
    await after.body.text();
    await dispatcher.close();
  });
});
