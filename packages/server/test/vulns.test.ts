/**
 * `POST /v1/vulns/scan` and `POST /v1/vulns/reload` against a real server on loopback (SQLite,
 * and PostgreSQL when it answers), with the real OSV fixtures of `@ward/vulns`: who may scan
 * which service, exposure from the stored graph, reachability `unknown` (said in the answer),
 * the body bound (413), a garbage lockfile (400 naming it), the formats, the audit entry, and a
 * server started without advisories (503 saying how to configure it).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, vulnsPlugin } from '../src/index.ts';
import { ingestPlugin } from '../src/ingest/index.ts';
import { http, startTestServer } from './helpers.ts';
import { applyDocs, ingestSuite } from './ingest-fixture.ts';
import { FEATHERS, fixtureAdvisories, ORDERS_EXPOSURE, SHOP } from './vulns-fixture.ts';

const list = await ingestSuite('vulns.test.ts');

const scanOf = (
  service: string,
  lockfiles = [{ name: 'package-lock.json', content: FEATHERS }],
) => ({
  body: { service, lockfiles },
});

describe.each(list)('POST /v1/vulns/scan on $name', (backend) => {
  let server: RunningServer;
  let url: string;
  let drop: () => Promise<void>;
  let teamA: string;
  let teamB: string;
  let pdp: string;
  beforeAll(async () => {
    const db = await backend.database();
    drop = db.drop;
    server = await startTestServer({
      ...(db.url ? { database: db.url } : {}),
      plugins: [ingestPlugin(), vulnsPlugin({ load: fixtureAdvisories })],
    });
    url = server.url;
    await applyDocs(url, SHOP);
    const token = async (name: string, scope: string, services: string[]) =>
      (await http(url, 'POST', '/v1/tokens', { body: { name, scope, services } })).body
        .token as string;
    teamA = await token('team-a', 'team', ['orders']);
    teamB = await token('team-b', 'team', ['payments']);
    pdp = await token('pdp-orders', 'pdp', ['orders']);
  });
  afterAll(async () => {
    await server.close();
    await drop();
  });

  it('scans a service its team owns, with exposure from the stored graph', async () => {
    const r = await http(url, 'POST', '/v1/vulns/scan', { ...scanOf('orders'), token: teamA });
    expect(r.status, r.text).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect(r.body.version).toBe(1);
    expect(r.body.findings.length).toBe(r.body.summary.findings);
    expect(r.body.summary.findings).toBeGreaterThan(0);
    expect(r.body.summary.naive).toBeGreaterThanOrEqual(r.body.summary.findings);
    expect(r.body.findings.map((f: { advisory: { id: string } }) => f.advisory.id)).toContain(
      'GHSA-3h5v-q93c-6h6q',
    );
    // frontend is the entry point; orders one hop in; frontend depends on it (blast radius 1).
    const exposure = ORDERS_EXPOSURE;
    expect(r.body.scan.exposure).toEqual(exposure);
    for (const f of r.body.findings) {
      expect(f.exposure).toEqual(exposure);
      expect(f.reachability.verdict).toBe('unknown');
    }
    expect(r.body.scan.service).toBe('orders');
    expect(r.body.scan.reachability).toMatch(/no source tree/);
  });

  it('records the scan in the audit log: who, which service, the counts', async () => {
    const audit = await http(url, 'GET', '/v1/audit?limit=100');
    const entry = audit.body.items.find(
      (a: { action: string; actor: { name: string } }) =>
        a.action === 'vulns.scan' && a.actor.name === 'team-a',
    );
    expect(entry).toMatchObject({ target: 'orders' });
    const detail = typeof entry.detail === 'string' ? JSON.parse(entry.detail) : entry.detail;
    expect(detail).toMatchObject({ scope: 'team', lockfiles: ['package-lock.json'] });
    expect(detail.findings).toBeGreaterThan(0);
  });

  it("refuses another team's token (403 API_NOT_OWNER) and a pdp token (403)", async () => {
    const other = await http(url, 'POST', '/v1/vulns/scan', {
      ...scanOf('orders'),
      token: teamB,
    });
    expect(other.status).toBe(403);
    expect(other.body.code).toBe('API_FORBIDDEN');
    expect(other.body.errors[0]).toMatchObject({ field: '/service', code: 'API_NOT_OWNER' });
    const asPdp = await http(url, 'POST', '/v1/vulns/scan', {
      ...scanOf('orders'),
      token: pdp,
    });
    expect(asPdp.status).toBe(403);
    expect(asPdp.body.code).toBe('API_FORBIDDEN');
  });

  it('answers 400 naming the lockfile and the entry when one does not parse', async () => {
    const r = await http(url, 'POST', '/v1/vulns/scan', {
      ...scanOf('orders', [
        { name: 'package-lock.json', content: FEATHERS },
        { name: 'broken.package-lock.json', content: '{"lockfileVersion": 3, "packages": 7}' },
      ]),
      token: teamA,
    });
    expect(r.status, r.text).toBe(400);
    expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(r.body.errors[0].field).toBe('/lockfiles/1/content');
    expect(r.body.errors[0].code).toBe('VULNS_BAD_LOCKFILE');
    expect(r.body.detail).toContain('broken.package-lock.json');
    const garbage = await http(url, 'POST', '/v1/vulns/scan', {
      ...scanOf('orders', [{ name: 'yarn.lock', content: '\u0000\u0001 not a lockfile {{{' }]),
      token: teamA,
    });
    expect(garbage.status, garbage.text).toBe(400);
    expect(garbage.body.detail).toContain('yarn.lock');
  });

  it('answers any lockfile text with 200 or a 400 naming it, never a 500 (property)', async () => {
    const content = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.json({ maxDepth: 4 }),
      fc.nat({ max: FEATHERS.length }).map((n) => FEATHERS.slice(0, n)),
      fc
        .tuple(fc.nat({ max: FEATHERS.length }), fc.string({ minLength: 1, maxLength: 8 }))
        .map(([n, junk]) => FEATHERS.slice(0, n) + junk + FEATHERS.slice(n + junk.length)),
    );
    const name = fc.constantFrom('package-lock.json', 'pnpm-lock.yaml', 'yarn.lock', 'bom.json');
    await fc.assert(
      fc.asyncProperty(name, content, async (n, c) => {
        const r = await http(url, 'POST', '/v1/vulns/scan', {
          ...scanOf('orders', [{ name: n, content: c }]),
          token: teamA,
        });
        expect([200, 400], r.text).toContain(r.status);
        if (r.status === 400) {
          expect(r.body.errors[0].field).toBe('/lockfiles/0/content');
          expect(r.body.detail).toContain(n);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('refuses a bad failOn and suppressions as 400 on their fields', async () => {
    const failOn = await http(url, 'POST', '/v1/vulns/scan', {
      body: { ...scanOf('orders').body, failOn: 'sometimes' },
      token: teamA,
    });
    expect(failOn.status).toBe(400);
    expect(failOn.body.errors[0]).toMatchObject({ field: '/failOn', code: 'VULNS_BAD_FAIL_ON' });
    const sup = await http(url, 'POST', '/v1/vulns/scan', {
      body: { ...scanOf('orders').body, suppressions: 'suppressions:\n  - id: X\n' },
      token: teamA,
    });
    expect(sup.status).toBe(400);
    expect(sup.body.errors[0]).toMatchObject({
      field: '/suppressions',
      code: 'VULNS_BAD_SUPPRESSIONS',
    });
  });

  it('bounds the body: beyond 8 MiB is 413', async () => {
    const big = 'x'.repeat(8 * 1024 * 1024);
    const r = await http(url, 'POST', '/v1/vulns/scan', {
      ...scanOf('orders', [{ name: 'package-lock.json', content: big }]),
      token: teamA,
    });
    expect(r.status).toBe(413);
    expect(r.body.code).toBe('API_PAYLOAD_TOO_LARGE');
  });

  it('gates with failOn and writes SARIF and OpenVEX', async () => {
    const gated = await http(url, 'POST', '/v1/vulns/scan', {
      body: { ...scanOf('orders').body, failOn: 'low' },
      token: teamA,
    });
    expect(gated.headers.get('x-ward-vulns-gate')).toBe('fail');
    expect(gated.body.scan.gate.failed).toBe(true);
    const sarif = await http(url, 'POST', '/v1/vulns/scan?format=sarif', {
      ...scanOf('orders'),
      token: teamA,
    });
    expect(sarif.status).toBe(200);
    expect(sarif.body.version).toBe('2.1.0');
    expect(sarif.body.runs[0].results.length).toBeGreaterThan(0);
    const vex = await http(url, 'POST', '/v1/vulns/scan?format=openvex', {
      ...scanOf('orders'),
      token: teamA,
    });
    expect(vex.body['@context']).toMatch(/openvex/);
    // reachability unknown over the API: under investigation, never not_affected by reachability.
    const statuses = new Set(vex.body.statements.map((x: { status: string }) => x.status));
    expect(statuses.has('under_investigation')).toBe(true);
  });

  it('reloads the advisories for an admin only', async () => {
    const team = await http(url, 'POST', '/v1/vulns/reload', { token: teamA });
    expect(team.status).toBe(403);
    const r = await http(url, 'POST', '/v1/vulns/reload');
    expect(r.status, r.text).toBe(200);
    expect(r.body.advisories).toBeGreaterThanOrEqual(13);
    expect(r.body.kev).toBeNull();
  });
});

describe('a server without advisories', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startTestServer({ plugins: [ingestPlugin(), vulnsPlugin()] });
  });
  afterAll(async () => {
    await server.close();
  });

  it('answers 503 with a problem body saying how to configure it', async () => {
    for (const path of ['/v1/vulns/scan', '/v1/vulns/reload']) {
      const r = await http(server.url, 'POST', path, path.endsWith('scan') ? scanOf('orders') : {});
      expect(r.status, path).toBe(503);
      expect(r.body.code).toBe('API_UNAVAILABLE');
      expect(r.body.detail).toContain('--vulns-osv');
    }
  });

  it('documents both routes in /openapi.json, the body schema included', async () => {
    const doc = (await http(server.url, 'GET', '/openapi.json', { token: null })).body;
    const scan = doc.paths['/v1/vulns/scan'].post;
    const body = scan.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(['service', 'lockfiles']);
    expect(body.properties.lockfiles.maxItems).toBe(32);
    expect(doc.paths['/v1/vulns/reload'].post).toBeDefined();
  });

  it('refuses to start without the ingest plugin (exposure needs its graph)', async () => {
    await expect(startTestServer({ plugins: [vulnsPlugin()] })).rejects.toThrow(/ingestPlugin/);
  });
});
