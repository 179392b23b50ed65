import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  enforcePeerIdentity,
  IdentityError,
  peerIdentity,
  splitDer,
  workloadIdentity,
  workloadSocketPath,
} from '../src/index.ts';
import { makeTlsFixture } from './_tls-fixture.ts';

describe('SPIFFE_ENDPOINT_SOCKET', () => {
  it('accepts unix:// URIs, unix: and bare absolute paths', () => {
    expect(
      workloadSocketPath(undefined, { SPIFFE_ENDPOINT_SOCKET: 'unix:///run/ward/agent.sock' }),
    ).toBe('/run/ward/agent.sock');
    expect(workloadSocketPath('unix:/run/a.sock')).toBe('/run/a.sock');
    expect(workloadSocketPath('/run/a.sock')).toBe('/run/a.sock');
  });
  it('refuses what it cannot use, with a code', () => {
    expect(() => workloadSocketPath(undefined, {})).toThrow(
      expect.objectContaining({ code: 'IDENTITY_NO_ENDPOINT' }),
    );
    expect(() => workloadSocketPath('tcp://127.0.0.1:8081')).toThrow(
      expect.objectContaining({ code: 'IDENTITY_BAD_ENDPOINT' }),
    );
    expect(() => workloadSocketPath('unix://relative/x')).toThrow(
      expect.objectContaining({ code: 'IDENTITY_BAD_ENDPOINT' }),
    );
  });
  it('never throws anything but an IdentityError on arbitrary input', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        try {
          workloadSocketPath(s, {});
        } catch (e) {
          expect(e).toBeInstanceOf(IdentityError);
        }
      }),
    );
  });
});

describe('DER certificate lists (Workload API x509_svid / bundle fields)', () => {
  const fixture = makeTlsFixture(['frontend']);
  const der = (pem: string) => new X509Certificate(pem).raw;
  it('splits concatenated certificates', () => {
    const parts = [der(fixture.clients.frontend!.cert), der(fixture.ca), der(fixture.server.cert)];
    const split = splitDer(Buffer.concat(parts));
    expect(split.map((b) => Buffer.from(b).toString('hex'))).toEqual(
      parts.map((b) => b.toString('hex')),
    );
  });
  it('returns or throws IdentityError for arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          const parts = splitDer(Buffer.from(bytes));
          expect(Buffer.concat(parts).equals(Buffer.from(bytes))).toBe(true);
        } catch (e) {
          expect(e).toBeInstanceOf(IdentityError);
        }
      }),
    );
  });
});

describe('workloadIdentity', () => {
  it('times out with a coded error when no agent answers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ward-sdk-id-'));
    try {
      await expect(
        workloadIdentity({ socketPath: join(dir, 'none.sock'), timeoutMs: 300 }),
      ).rejects.toMatchObject({ code: 'IDENTITY_TIMEOUT' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('peerIdentity', () => {
  it('names no caller on a plain TCP socket', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const accepted = new Promise<import('node:net').Socket>((r) => server.once('connection', r));
    const client = connect(port, '127.0.0.1');
    const socket = await accepted;
    expect(peerIdentity(socket)).toBeUndefined();
    client.destroy();
    socket.destroy();
    server.close();
  });
});

describe('enforcePeerIdentity', () => {
  it('refuses unauthorized SVIDs before any request reaches the handler, even one sent behind the handshake', async () => {
    const fx = makeTlsFixture(['frontend', 'payments']);
    const seen: string[] = [];
    const server = createHttpsServer(
      {
        key: fx.server.key,
        cert: fx.server.cert,
        ca: fx.ca,
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.3',
      },
      (req, res) => {
        seen.push(peerIdentity(req.socket) ?? 'UNVERIFIED');
        res.end('ok');
      },
    );
    enforcePeerIdentity(server, {
      authorize: ['spiffe://ward.test/ns/shop/sa/frontend'],
      trustDomain: 'ward.test',
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const attempt = (who: 'frontend' | 'payments') =>
      new Promise<string>((resolve) => {
        const s = tlsConnect({
          host: '127.0.0.1',
          port,
          key: fx.clients[who]!.key,
          cert: fx.clients[who]!.cert,
          ca: fx.ca,
          checkServerIdentity: () => undefined,
        });
        // Written before the handshake completes: it goes out right behind the client's Finished.
        s.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
        let out = '';
        s.on('data', (d) => (out += d));
        s.on('close', () => resolve(out));
        s.on('error', () => {});
      });
    for (let i = 0; i < 20; i++) expect(await attempt('payments')).toBe('');
    expect(await attempt('frontend')).toContain('200 OK');
    expect(seen).toEqual(['spiffe://ward.test/ns/shop/sa/frontend']);
    server.closeAllConnections();
    server.close();
  });
});
