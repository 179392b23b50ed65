/**
 * The PDP authenticating with its X.509-SVID (the normal path) against a real `ward server`
 * process on an HTTPS listener with a client CA: no token; the SPIFFE ID is the service; another
 * service's SVID is refused; and when the SVID rotates, the stream opened with the old one ends
 * at its notAfter and the PDP carries on with the new one.
 */
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestCa, type TestSvid, testCa } from '../../server/test/_svids.ts';
import { createPdp, type Pdp, type X509Svid } from '../src/index.ts';
import { ADMIN_TOKEN, type ControlPlaneProcess, spawnControlPlane } from './_control-plane.ts';
import {
  fromBilling,
  fromCheckout,
  memoryLogger,
  ordersPolicy,
  tempDir,
  until,
} from './_pdp-fixture.ts';

const TD = 'test.local';
const dir = tempDir('pdp-mtls');
let ca: TestCa;
let server: ControlPlaneProcess;
/** The control plane by the name on its certificate. */
let url: string;
let admin: Agent;
const pdps: Pdp[] = [];

function svidOf(s: TestSvid, bundlePem: string): X509Svid {
  const leaf = new X509Certificate(s.cert);
  return {
    spiffeId: leaf.subjectAltName!.replace(/^URI:/, '').split(',')[0]!,
    certChainPem: s.cert,
    keyPem: s.key,
    bundlePem,
    hint: '',
    notAfter: leaf.validToDate,
    serialNumber: leaf.serialNumber,
  };
}

async function apply(allowed: string[]): Promise<void> {
  const content = ordersPolicy(allowed)
    .map((d) => JSON.stringify(d))
    .join('\n---\n');
  const res = await request(`${url}/v1/apply`, {
    method: 'POST',
    dispatcher: admin,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ files: [{ name: 'p.yaml', content }] }),
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`apply: ${res.statusCode} ${text}`);
}

beforeAll(async () => {
  ca = await testCa(TD);
  const serving = await ca.issue(`spiffe://${TD}/ward/control-plane`, { dnsNames: ['localhost'] });
  const file = (name: string, pem: string) => {
    writeFileSync(join(dir.path, name), pem);
    return join(dir.path, name);
  };
  server = await spawnControlPlane({
    database: join(dir.path, 'ward.db'),
    dataDir: dir.path,
    args: [
      '--tls-cert',
      file('cp.crt', serving.cert),
      '--tls-key',
      file('cp.key', serving.key),
      '--client-ca',
      file('ca.crt', ca.bundle),
    ],
  });
  url = server.url.replace('127.0.0.1', 'localhost');
  admin = new Agent({ connect: { ca: ca.bundle } });
  await apply(['checkout']);
});
afterAll(async () => {
  for (const p of pdps) await p.close();
  await admin?.close();
  await server?.kill();
  dir.remove();
});

function start(
  service: string,
  source: { svid: X509Svid },
  logger: ReturnType<typeof memoryLogger> = memoryLogger(),
): Pdp {
  const pdp = createPdp({
    service,
    controlPlanes: url,
    publicKey: server.publicKey,
    svid: { source },
    logger,
    backoff: { initialMs: 50, maxMs: 300 },
  });
  pdps.push(pdp);
  return pdp;
}

describe('PDP with svid (mTLS)', () => {
  it('reads its bundle with no token, and follows a rotation across the old SVID expiry', async () => {
    const brief = await ca.issue(`spiffe://${TD}/ns/shop/sa/orders`, { ttlSeconds: 3 });
    const holder = { svid: svidOf(brief, ca.bundle) };
    const logger = memoryLogger();
    const opened = () => logger.lines.filter((l) => l.message === 'watching control plane').length;
    const pdp = start('orders', holder, logger);
    await pdp.ready;
    expect(pdp.decide(fromCheckout).allowed).toBe(true);
    await until(() => pdp.status().connected !== null, 'watch open');
    // Rotation: the next connection presents the new SVID. The stream opened with the old one
    // ends at its notAfter (server side), and the PDP reconnects with the new one.
    holder.svid = svidOf(await ca.issue(`spiffe://${TD}/ns/shop/sa/orders`), ca.bundle);
    expect(opened()).toBe(1);
    await until(() => opened() === 2, 'the stream ends at the old notAfter and reopens', 10_000);
    expect(Date.now()).toBeGreaterThanOrEqual(brief.notAfter - 50);
    expect(pdp.status().lastError?.code).not.toBe('PDP_UNAUTHORIZED');
    await apply(['billing']);
    await until(() => pdp.decide(fromBilling).allowed, 'the change reaches the PDP', 10_000);
    expect(pdp.decide(fromCheckout).allowed).toBe(false);
  });

  it("another service's SVID is refused", async () => {
    const billing = await ca.issue(`spiffe://${TD}/ns/shop/sa/billing`);
    const pdp = start('orders', { svid: svidOf(billing, ca.bundle) });
    await until(() => pdp.status().lastError?.code === 'PDP_UNAUTHORIZED', '403 seen');
    expect(pdp.status().ready).toBe(false);
  });

  it('refuses svid with a token, a dispatcher, or a plain-HTTP control plane', () => {
    const base = { service: 'orders', publicKey: server.publicKey };
    const source = { svid: {} as X509Svid };
    expect(() => createPdp({ ...base, controlPlanes: url, svid: { source }, token: 't' })).toThrow(
      /neither token nor dispatcher/,
    );
    expect(() =>
      createPdp({ ...base, controlPlanes: 'http://127.0.0.1:1', svid: { source } }),
    ).toThrow(/must be https/);
  });
});
