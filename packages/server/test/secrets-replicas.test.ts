import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { defaultSpiffeId } from '@ward/spiffe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caPlugin, type RunningServer, type SecretsPlugin, secretsPlugin } from '../src/index.ts';
import {
  cleanupDirs,
  createPgSchema,
  http,
  pgAvailable,
  startTestServer,
  tempDir,
} from './helpers.ts';
import { applyServices, attestedAgent, putSecretDoc } from './secrets-fixture.ts';

const PG = await pgAvailable('secrets-replicas.test.ts');

describe.skipIf(!PG)('secrets on two PostgreSQL replicas', () => {
  let a: RunningServer;
  let b: RunningServer;
  let drop: () => Promise<void>;
  const pa: SecretsPlugin = secretsPlugin({ rotationCheckMs: 3_600_000 });
  const pb: SecretsPlugin = secretsPlugin({ rotationCheckMs: 3_600_000 });
  const kek = `k1:${randomBytes(32).toString('base64url')}`;

  beforeAll(async () => {
    const schema = await createPgSchema();
    drop = schema.drop;
    const key = join(tempDir(), 'shared-signing.key');
    const opts = {
      database: schema.url,
      signingKeyFile: key,
      trustDomain: 'ward.test',
      env: { WARD_SECRETS_KEK: kek },
    };
    a = await startTestServer({ ...opts, plugins: [caPlugin(), pa] });
    b = await startTestServer({ ...opts, plugins: [caPlugin(), pb] });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await drop?.();
    cleanupDirs();
  });

  it('a value written on one replica reaches the agents of the other', async () => {
    await applyServices(a.url, ['orders', 'inventory']);
    await putSecretDoc(a, 'api-key', { owner: 'inventory', readers: ['orders'] });
    const put1 = await http(a.url, 'PUT', '/v1/secrets/api-key', {
      body: { data: { value: 'first' } },
    });
    expect(put1.status, put1.text).toBe(200);
    const agent = await attestedAgent(b.url, 'n1', [
      defaultSpiffeId('ward.test', 'default', 'orders'),
    ]);
    const w = await agent.watch();
    try {
      await w.next((e) => e.event === 'secret' && e.data!.includes('first'));
      const put2 = await http(a.url, 'PUT', '/v1/secrets/api-key', {
        body: { data: { value: 'second' } },
      });
      expect(put2.status).toBe(200);
      const ev = await w.next((e) => e.event === 'secret' && e.data!.includes('second'));
      expect(JSON.parse(ev.data!).versions.map((v: { version: number }) => v.version)).toEqual([
        2, 1,
      ]);
      // Both replicas read it; the revision names the secret for every follower.
      expect((await http(b.url, 'GET', '/v1/secrets/api-key/value?version=2')).body.data).toEqual({
        value: 'second',
      });
    } finally {
      w.close();
    }
  });

  it('rotates on one leader only', async () => {
    await putSecretDoc(a, 'token', {
      owner: 'inventory',
      type: 'random',
      rotation: { every: '1h' },
    });
    // Both replicas check at once, twice: the advisory lock lets one of them write, once.
    const first = await Promise.all([pa.rotator!.runOnce(), pb.rotator!.runOnce()]);
    const again = await Promise.all([pa.rotator!.runOnce(), pb.rotator!.runOnce()]);
    expect(first.reduce((x, y) => x + y)).toBe(1);
    expect(again).toEqual([0, 0]);
    const versions = (await http(b.url, 'GET', '/v1/secrets/token/versions')).body.items;
    expect(versions).toHaveLength(1);
    expect(versions[0]).toMatchObject({
      version: 1,
      source: 'rotate',
      createdBy: 'rotation',
      kek: 'k1',
    });
  });
});
