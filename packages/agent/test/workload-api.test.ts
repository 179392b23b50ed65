import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
// The client side of this test uses only the public protobuf and stock gRPC libraries, as any
// SPIFFE Workload API client would: no Ward code.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningAgent, startAgent } from '../src/index.ts';
import { startControlPlane } from './_control-plane.ts';

const PROTO = join(import.meta.dirname, '../../spiffe/proto/workload.proto');
const uid = process.getuid!();
const exe = realpathSync(process.execPath);

function client(socketPath: string) {
  const def = protoLoader.loadSync(PROTO, { keepCase: true, defaults: true });
  const Ctor = grpc.loadPackageDefinition(def).SpiffeWorkloadAPI as grpc.ServiceClientConstructor;
  return new Ctor(`unix://${socketPath}`, grpc.credentials.createInsecure()) as grpc.Client &
    Record<string, (...a: unknown[]) => unknown>;
}
const md = (ok = true) => {
  const m = new grpc.Metadata();
  if (ok) m.set('workload.spiffe.io', 'true');
  return m;
};
function first<T>(call: grpc.ClientReadableStream<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    call.once('data', (d: T) => {
      resolve(d);
      call.cancel();
    });
    call.once('error', (e: grpc.ServiceError) =>
      e.code === grpc.status.CANCELLED ? undefined : reject(e),
    );
  });
}

describe('Workload API (generic gRPC client from the SPIFFE proto)', () => {
  let cp: Awaited<ReturnType<typeof startControlPlane>>;
  let agent: RunningAgent;
  let socketPath: string;

  beforeAll(async () => {
    cp = await startControlPlane();
    const { token } = (await cp.admin('POST', '/v1/ca/join-tokens', { node: 'node-a' })) as {
      token: string;
    };
    await cp.admin('POST', '/v1/ca/entries', {
      spiffeId: 'spiffe://example.org/ns/shop/sa/orders',
      node: 'node-a',
      selectors: [`unix:uid:${uid}`, `unix:path:${exe}`],
      ttlSeconds: 4,
      hint: 'internal',
    });
    await cp.admin('POST', '/v1/ca/entries', {
      spiffeId: 'spiffe://example.org/ns/shop/sa/nobody',
      node: 'node-a',
      selectors: ['unix:uid:4242'],
    });
    socketPath = join(mkdtempSync(join(tmpdir(), 'ward-agent-')), 'api.sock');
    agent = await startAgent({
      controlPlane: cp.url,
      joinToken: token,
      socketPath,
      logger: pino({ level: 'silent' }),
      timing: { syncIntervalMs: 500 },
    });
  });
  afterAll(async () => {
    await agent?.close();
    await cp?.stop();
    if (socketPath) rmSync(dirname(socketPath), { recursive: true, force: true });
  });

  it('streams an X.509-SVID to a stock client and rotates it at half-life', async () => {
    const c = client(socketPath);
    const call = c.FetchX509SVID({}, md()) as grpc.ClientReadableStream<{
      svids: {
        spiffe_id: string;
        x509_svid: Buffer;
        x509_svid_key: Buffer;
        bundle: Buffer;
        hint: string;
      }[];
    }>;
    const messages: {
      svids: { spiffe_id: string; x509_svid: Buffer; hint: string; bundle: Buffer }[];
    }[] = [];
    await new Promise<void>((resolve, reject) => {
      call.on('data', (m) => {
        messages.push(m);
        if (messages.length === 3) resolve();
      });
      call.on('error', reject);
    });
    call.cancel();
    c.close();
    const [m1, , m3] = messages;
    expect(m1!.svids).toHaveLength(1);
    expect(m1!.svids[0]!.spiffe_id).toBe('spiffe://example.org/ns/shop/sa/orders');
    expect(m1!.svids[0]!.hint).toBe('internal');
    const leaf1 = new X509Certificate(m1!.svids[0]!.x509_svid);
    const leaf3 = new X509Certificate(m3!.svids[0]!.x509_svid);
    expect(leaf1.subjectAltName).toBe('URI:spiffe://example.org/ns/shop/sa/orders');
    expect(leaf3.serialNumber).not.toBe(leaf1.serialNumber);
    const root = new X509Certificate(m1!.svids[0]!.bundle);
    expect(root.ca).toBe(true);
  });

  it('serves bundles, JWT-SVIDs and validates them', async () => {
    const c = client(socketPath);
    const bundles = (
      await first(
        c.FetchX509Bundles({}, md()) as grpc.ClientReadableStream<{
          bundles: Record<string, Buffer>;
        }>,
      )
    ).bundles;
    expect(Object.keys(bundles)).toEqual(['spiffe://example.org']);
    const jwt = await new Promise<{ svids: { spiffe_id: string; svid: string }[] }>((res, rej) =>
      c.FetchJWTSVID({ audience: ['payments'] }, md(), (e: Error | null, r: never) =>
        e ? rej(e) : res(r),
      ),
    );
    expect(jwt.svids[0]!.spiffe_id).toBe('spiffe://example.org/ns/shop/sa/orders');
    const valid = await new Promise<{
      spiffe_id: string;
      claims: { fields: Record<string, unknown> };
    }>((res, rej) =>
      c.ValidateJWTSVID(
        { audience: 'payments', svid: jwt.svids[0]!.svid },
        md(),
        (e: Error | null, r: never) => (e ? rej(e) : res(r)),
      ),
    );
    expect(valid.spiffe_id).toBe('spiffe://example.org/ns/shop/sa/orders');
    expect(valid.claims.fields.sub).toMatchObject({
      stringValue: 'spiffe://example.org/ns/shop/sa/orders',
    });
    const bad = await new Promise<grpc.ServiceError>((res) =>
      c.ValidateJWTSVID(
        { audience: 'other', svid: jwt.svids[0]!.svid },
        md(),
        (e: grpc.ServiceError) => res(e),
      ),
    );
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    c.close();
  });

  it.skipIf(process.getuid!() !== 0)(
    'gives a process of another user the identity its selectors match',
    async () => {
      await cp.admin('POST', '/v1/ca/entries', {
        spiffeId: 'spiffe://example.org/ns/batch/sa/nightly',
        node: 'node-a',
        selectors: ['unix:uid:65534'],
      });
      // The agent picks the new entry up at its next sync (500 ms) and issues its SVID.
      await new Promise<void>((resolve) => {
        const check = () =>
          agent.manager.entries.some((e) => e.spiffeId.endsWith('/nightly'))
            ? resolve()
            : setTimeout(check, 100);
        check();
      });
      chmodSync(dirname(socketPath), 0o755);
      const script = join(dirname(socketPath), 'client.cjs');
      writeFileSync(
        script,
        `const { createRequire } = require('node:module');
const r = createRequire(${JSON.stringify(join(import.meta.dirname, '../../../package.json'))});
const grpc = r('@grpc/grpc-js');
const pl = r('@grpc/proto-loader');
const Ctor = grpc.loadPackageDefinition(pl.loadSync(${JSON.stringify(PROTO)}, { keepCase: true })).SpiffeWorkloadAPI;
const c = new Ctor('unix://${socketPath}', grpc.credentials.createInsecure());
const md = new grpc.Metadata(); md.set('workload.spiffe.io', 'true');
const call = c.FetchX509SVID({}, md);
call.on('data', (m) => { console.log(JSON.stringify(m.svids.map((s) => s.spiffe_id))); process.exit(0); });
call.on('error', (e) => { console.log('error ' + e.code); process.exit(1); });`,
      );
      chmodSync(script, 0o644);
      const out = await new Promise<string>((resolve) => {
        execFile(process.execPath, [script], { uid: 65534, gid: 65534 }, (_e, stdout) =>
          resolve(stdout.trim()),
        );
      });
      expect(JSON.parse(out)).toEqual(['spiffe://example.org/ns/batch/sa/nightly']);
    },
  );

  it('refuses a call without the security header', async () => {
    const c = client(socketPath);
    const err = await first(
      c.FetchX509SVID({}, md(false)) as grpc.ClientReadableStream<unknown>,
    ).catch((e: grpc.ServiceError) => e);
    expect((err as grpc.ServiceError).code).toBe(grpc.status.INVALID_ARGUMENT);
    c.close();
  });
});

describe('Workload API entitlement', () => {
  it('answers PermissionDenied to a workload no entry matches', async () => {
    const cp = await startControlPlane();
    const { token } = (await cp.admin('POST', '/v1/ca/join-tokens', { node: 'node-b' })) as {
      token: string;
    };
    await cp.admin('POST', '/v1/ca/entries', {
      spiffeId: 'spiffe://example.org/other',
      node: 'node-b',
      selectors: ['unix:path:/nonexistent/bin'],
    });
    const socketPath = join(mkdtempSync(join(tmpdir(), 'ward-agent-')), 'api.sock');
    const agent = await startAgent({
      controlPlane: cp.url,
      joinToken: token,
      socketPath,
      logger: pino({ level: 'silent' }),
    });
    try {
      const c = client(socketPath);
      const err = await first(
        c.FetchX509SVID({}, md()) as grpc.ClientReadableStream<unknown>,
      ).catch((e: grpc.ServiceError) => e);
      expect((err as grpc.ServiceError).code).toBe(grpc.status.PERMISSION_DENIED);
      c.close();
      // The used join token cannot attest a second agent.
      await expect(
        startAgent({
          controlPlane: cp.url,
          joinToken: token,
          socketPath: `${socketPath}2`,
          logger: pino({ level: 'silent' }),
        }),
      ).rejects.toMatchObject({ code: 'AGENT_ATTESTATION_FAILED' });
    } finally {
      await agent.close();
      rmSync(dirname(socketPath), { recursive: true, force: true });
      await cp.stop();
    }
  });
});
