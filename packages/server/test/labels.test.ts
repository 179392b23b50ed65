/**
 * Labels that authorize are owned (issue 9, item 5). The attack: a team token set a label on its
 * own Service that another team's rule trusted, and so granted itself that team's permissions.
 * Labels under `ward.dev/` are reserved: only an admin token sets, changes or removes them.
 */
import { compile, type PolicyDocument } from '@ward/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/index.ts';
import { cleanupDirs, http, startTestServer, svc, yamlOf } from './helpers.ts';

let server: RunningServer;
let base: string;
let team: string;

const ROLE = 'ward.dev/role';
const monitoringOnly = {
  apiVersion: 'ward.dev/v1',
  kind: 'Intention',
  metadata: { name: 'metrics' },
  spec: {
    destination: 'metrics',
    rules: [
      {
        sources: ['*'],
        action: 'allow',
        when: `source.labels[?"${ROLE}"].orValue("") == "monitoring"`,
      },
    ],
  },
};
const labelled = (name: string, labels: Record<string, string>, spec = {}) => ({
  ...svc(name, spec),
  metadata: { name, labels },
});

/** Whether the stored policy lets `caller` reach `metrics`, decided by the real engine. */
async function allowed(caller: string): Promise<boolean> {
  const docs: PolicyDocument[] = [];
  for (const path of ['/v1/services', '/v1/intentions']) {
    const res = await http(base, 'GET', path);
    docs.push(...res.body.items.map((i: { document: PolicyDocument }) => i.document));
  }
  return compile(docs).decide({ destination: 'metrics', source: { service: caller } }).allowed;
}

beforeAll(async () => {
  server = await startTestServer();
  base = server.url;
  const seed = await http(base, 'POST', '/v1/apply', {
    body: {
      files: [
        {
          name: 'seed.yaml',
          content: yamlOf([svc('mine'), svc('metrics'), svc('prometheus'), monitoringOnly]),
        },
      ],
    },
  });
  expect(seed.status).toBe(200);
  const t = await http(base, 'POST', '/v1/tokens', {
    body: { name: 'team-mine', scope: 'team', services: ['mine', 'mine-2'] },
  });
  team = t.body.token;
});
afterAll(async () => {
  await server.close();
  cleanupDirs();
});

describe('reserved labels', () => {
  it('a team cannot label its own service into another team’s rule (PUT)', async () => {
    const res = await http(base, 'PUT', '/v1/services/mine', {
      token: team,
      body: labelled('mine', { [ROLE]: 'monitoring' }),
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body.code).toBe('API_FORBIDDEN');
    expect(res.body.errors).toEqual([
      expect.objectContaining({
        field: '/metadata/labels/ward.dev~1role',
        code: 'API_RESERVED_LABEL',
        message: expect.stringContaining('label "ward.dev/role" is reserved'),
      }),
    ]);
    expect(await allowed('mine')).toBe(false);
  });

  it('nor through apply, with the label’s file position; nothing is changed', async () => {
    const before = (await http(base, 'GET', '/v1/services/mine')).body.document;
    const content = `apiVersion: ward.dev/v1
kind: Service
metadata:
  name: mine
  labels:
    app: shop
    ward.dev/role: monitoring
spec: {}
`;
    const res = await http(base, 'POST', '/v1/apply', {
      token: team,
      body: { files: [{ name: 'mine.yaml', content }] },
    });
    expect(res.status).toBe(403);
    expect(res.body.errors).toEqual([
      expect.objectContaining({
        code: 'API_RESERVED_LABEL',
        file: 'mine.yaml',
        line: 7,
        col: 20,
      }),
    ]);
    expect((await http(base, 'GET', '/v1/services/mine')).body.document).toEqual(before);
  });

  it('nor create a new service of its own that carries one', async () => {
    const res = await http(base, 'POST', '/v1/services', {
      token: team,
      body: labelled('mine-2', { [ROLE]: 'monitoring' }),
    });
    expect(res.status).toBe(403);
    expect(res.body.errors[0].code).toBe('API_RESERVED_LABEL');
    expect((await http(base, 'GET', '/v1/services/mine-2')).status).toBe(404);
  });

  it('an admin sets it; the team keeps it by leaving it out, and may not change or drop it', async () => {
    const set = await http(base, 'PUT', '/v1/services/prometheus', {
      body: labelled('prometheus', { [ROLE]: 'monitoring' }),
    });
    expect(set.status).toBe(200);
    expect(await allowed('prometheus')).toBe(true);
    const admin = await http(base, 'PUT', '/v1/services/mine', {
      body: labelled('mine', { [ROLE]: 'batch', app: 'shop' }),
    });
    expect(admin.status).toBe(200);

    // The team's own file does not mention reserved labels: the stored one is kept.
    const kept = await http(base, 'PUT', '/v1/services/mine', {
      token: team,
      body: labelled('mine', { app: 'shop-2' }, { owner: 'team-mine' }),
    });
    expect(kept.status).toBe(200);
    const stored = (await http(base, 'GET', '/v1/services/mine')).body.document;
    expect(stored.metadata.labels).toEqual({ app: 'shop-2', [ROLE]: 'batch' });
    expect(stored.spec.owner).toBe('team-mine');

    // Repeating it unchanged is fine (and unchanged), changing or dropping it is not.
    const same = await http(base, 'PUT', '/v1/services/mine', {
      token: team,
      body: labelled('mine', { app: 'shop-2', [ROLE]: 'batch' }, { owner: 'team-mine' }),
    });
    expect(same.status).toBe(200);
    expect(same.body.results[0].action).toBe('unchanged');
    const changed = await http(base, 'PUT', '/v1/services/mine', {
      token: team,
      body: labelled('mine', { [ROLE]: 'monitoring', 'ward.dev/tier': 'core' }),
    });
    expect(changed.status).toBe(403);
    expect(changed.body.errors.map((e: { field: string }) => e.field).sort()).toEqual([
      '/metadata/labels/ward.dev~1role',
      '/metadata/labels/ward.dev~1tier',
    ]);
    expect(await allowed('mine')).toBe(false);
  });

  it('labels outside the reserved prefix stay the team’s own', async () => {
    const res = await http(base, 'PUT', '/v1/services/mine', {
      token: team,
      body: labelled('mine', { role: 'monitoring', tier: 'web' }),
    });
    expect(res.status).toBe(200);
    // …and the shipped rule does not trust them.
    expect(await allowed('mine')).toBe(false);
  });
});
