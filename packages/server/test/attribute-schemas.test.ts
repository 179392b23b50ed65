/**
 * AttributeSchema documents in the control plane (issue 14, item 2): stored and versioned like
 * any document, applied only by an admin token (a schema decides whether every team's conditions
 * compile), readable by team tokens (their conditions are checked against it), and checked
 * against the stored intentions on every apply.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/index.ts';
import { cleanupDirs, http, startTestServer, svc, yamlOf } from './helpers.ts';

let server: RunningServer;
let base: string;
let team: string;

const schema = (name: string, properties: Record<string, unknown>) => ({
  apiVersion: 'ward.dev/v1',
  kind: 'AttributeSchema',
  metadata: { name },
  spec: { attributes: { properties } },
});
const gold = (when: string) => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Intention',
  metadata: { name: 'mine-in' },
  spec: { destination: 'mine', rules: [{ sources: ['web'], action: 'allow', when }] },
});
const apply = (docs: object[], token?: string) =>
  http(base, 'POST', '/v1/apply', {
    ...(token ? { token } : {}),
    body: { files: [{ name: 'x.yaml', content: yamlOf(docs) }] },
  });

beforeAll(async () => {
  server = await startTestServer();
  base = server.url;
  const seed = await apply([svc('mine'), svc('web'), gold('passport.attrs.tier == "gold"')]);
  expect(seed.status).toBe(200);
  const t = await http(base, 'POST', '/v1/tokens', {
    body: { name: 'team-mine', scope: 'team', services: ['mine'] },
  });
  team = t.body.token;
});
afterAll(async () => {
  await server.close();
  cleanupDirs();
});

describe('attribute schemas in the control plane', () => {
  it('a team token may not apply, replace or delete a schema', async () => {
    const res = await apply([schema('passport', { tier: { type: 'string' } })], team);
    expect(res.status).toBe(403);
    expect(res.body.errors).toEqual([expect.objectContaining({ code: 'API_NOT_OWNER' })]);
    const put = await http(base, 'PUT', '/v1/attribute-schemas/passport', {
      token: team,
      body: schema('passport', { tier: { type: 'string' } }),
    });
    expect(put.status).toBe(403);
    expect((await http(base, 'GET', '/v1/attribute-schemas')).body.items).toEqual([]);
  });

  it('a schema that stored conditions do not satisfy is refused, with where they fail', async () => {
    const dry = await http(base, 'POST', '/v1/apply', {
      body: {
        dryRun: true,
        files: [
          { name: 'x.yaml', content: yamlOf([schema('passport', { level: { type: 'integer' } })]) },
        ],
      },
    });
    expect(dry.status).toBeGreaterThanOrEqual(400);
    expect(dry.text).toContain('POLICY_ATTRIBUTE_UNKNOWN');
    const res = await apply([schema('passport', { level: { type: 'integer' } })]);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.text).toContain('POLICY_ATTRIBUTE_UNKNOWN');
    expect((await http(base, 'GET', '/v1/attribute-schemas')).body.items).toEqual([]);
  });

  it('an admin applies one; teams read it; their conditions are checked against it', async () => {
    const res = await apply([schema('passport', { tier: { type: 'string' } })]);
    expect(res.status).toBe(200);
    const list = await http(base, 'GET', '/v1/attribute-schemas', { token: team });
    expect(list.status).toBe(200);
    expect(
      list.body.items.map((i: { kind: string; name: string }) => `${i.kind}/${i.name}`),
    ).toEqual(['AttributeSchema/passport']);
    const one = await http(base, 'GET', '/v1/attribute-schemas/passport', { token: team });
    expect(one.body.document.spec.attributes.properties.tier).toEqual({ type: 'string' });

    const typo = await apply([gold('passport.attrs.teir == "gold"')], team);
    expect(typo.status).toBeGreaterThanOrEqual(400);
    expect(typo.text).toContain('POLICY_ATTRIBUTE_UNKNOWN');
    expect(typo.text).toContain('did you mean \\"tier\\"');
    const ok = await apply([gold('passport.attrs.tier == "silver"')], team);
    expect(ok.status).toBe(200);

    const del = await http(base, 'DELETE', '/v1/attribute-schemas/passport', { token: team });
    expect(del.status).toBe(403);
    expect((await http(base, 'DELETE', '/v1/attribute-schemas/passport')).status).toBe(200);
  });
});
