import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SecretVersionV1 } from '@ward/api-types';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  connectSecrets,
  type SecretsClient,
  SecretsClientError,
  type SecretValue,
} from '../src/index.ts';
import { FakeSecretsAgent } from './_secrets-agent.ts';

const KEY = 'shop/api-key';
const HOUR = 3_600_000;

function version(n: number, value: string, notBefore: number, notAfter: number | null = null) {
  return { version: n, data: { value }, notBefore, notAfter } satisfies SecretVersionV1;
}

/** Waits for `cond` (a state change driven by the agent or a timer): no timing assertion. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The next value a watcher of `name` receives. */
function nextChange(client: SecretsClient, name: string): Promise<SecretValue | undefined> {
  return new Promise((resolve) => {
    const stop = client.watch(name, (v) => {
      stop();
      resolve(v);
    });
  });
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as SecretsClientError).code;
  }
  return undefined;
}

describe('connectSecrets against an agent on a Unix socket', () => {
  let dir: string;
  let agent: FakeSecretsAgent;
  let client: SecretsClient | undefined;
  const logged: string[] = [];
  const logger = {
    warn(fields: object, message: string) {
      logged.push(`${message} ${JSON.stringify(fields)}`);
    },
  };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ward-secrets-'));
    agent = await FakeSecretsAgent.start(join(dir, 'agent.sock'));
    logged.length = 0;
  });

  afterEach(async () => {
    client?.close();
    client = undefined;
    await agent.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const connect = (names: string[], timeoutMs = 5_000) =>
    connectSecrets({
      socketPath: agent.socketPath,
      service: 'shop/orders',
      names,
      timeoutMs,
      logger,
      backoff: { initialMs: 20, maxMs: 100 },
    });

  it('serves the first value, the same frozen object on every get, under both names', async () => {
    const t0 = Date.now();
    agent.set({ secret: KEY, type: 'static', versions: [version(1, 'one', t0)] });
    client = await connect(['api-key']);
    const v = client.get('api-key');
    expect(v).toMatchObject({ secret: KEY, version: 1, value: 'one', notAfter: null });
    expect(v.data).toEqual({ value: 'one' });
    expect(Object.isFrozen(v)).toBe(true);
    expect(Object.isFrozen(v.data)).toBe(true);
    expect(client.get('api-key')).toBe(v);
    expect(client.get(KEY)).toBe(v);
    expect(client.valid('api-key')).toEqual([v]);
    expect(agent.missingHeader).toBe(0);
    expect(() => client!.get('other')).toThrow(TypeError);
  });

  it('takes an update pushed by the agent and tells watchers', async () => {
    const t0 = Date.now();
    agent.set({ secret: KEY, type: 'static', versions: [version(1, 'one', t0)] });
    client = await connect(['api-key']);
    const changed = nextChange(client, 'api-key');
    const now = Date.now();
    agent.set({
      secret: KEY,
      type: 'static',
      versions: [version(1, 'one', t0, now + HOUR), version(2, 'two', now)],
    });
    const v = await changed;
    expect(v).toMatchObject({ version: 2, value: 'two' });
    expect(client.get('api-key')).toBe(v);
    expect(client.valid('api-key').map((x) => x.version)).toEqual([2, 1]);
  });

  it('flips to a pending version at its notBefore, keeps the old one valid through the grace', async () => {
    const t0 = Date.now();
    agent.set({ secret: KEY, type: 'random', versions: [version(1, 'one', t0)] });
    client = await connect(['api-key']);
    const activation = Date.now() + 200;
    const flipped = nextChange(client, 'api-key');
    agent.set({
      secret: KEY,
      type: 'random',
      versions: [version(1, 'one', t0, activation + HOUR), version(2, 'two', activation)],
    });
    // The pending version is accepted by verifiers as soon as it is held.
    await until(() => client!.valid('api-key').length === 2, 'the pending version');
    expect(client.valid('api-key').map((x) => x.version)).toEqual([2, 1]);
    const v = await flipped;
    expect(v?.version).toBe(2);
    expect(Date.now()).toBeGreaterThanOrEqual(activation);
    expect(client.get('api-key').version).toBe(2);
    // Grace: callers still on version 1 are accepted.
    expect(client.valid('api-key').map((x) => x.version)).toEqual([2, 1]);
  });

  it('stops accepting a replaced version when its grace ends', async () => {
    const t0 = Date.now();
    const end = t0 + 200;
    agent.set({
      secret: KEY,
      type: 'random',
      versions: [version(1, 'one', t0 - HOUR, end), version(2, 'two', t0)],
    });
    client = await connect(['api-key']);
    expect(client.get('api-key').version).toBe(2);
    await until(() => client!.valid('api-key').length === 1, 'version 1 to expire');
    expect(client.valid('api-key')[0]!.version).toBe(2);
  });

  it('keeps serving the last value while the agent restarts, then takes the new one', async () => {
    const t0 = Date.now();
    agent.set({ secret: KEY, type: 'static', versions: [version(1, 'one', t0)] });
    client = await connect(['api-key']);
    await agent.stop();
    await until(() => logged.some((l) => l.includes('SECRETS_AGENT_UNAVAILABLE')), 'the break');
    expect(client.get('api-key').value).toBe('one');
    const changed = nextChange(client, 'api-key');
    await agent.listen();
    const now = Date.now();
    agent.set({
      secret: KEY,
      type: 'static',
      versions: [version(1, 'one', t0, now + HOUR), version(2, 'two', now)],
    });
    expect((await changed)?.value).toBe('two');
    expect(agent.opened.get(KEY)).toBeGreaterThanOrEqual(2);
  });

  it('drops the value when the agent withdraws access (PERMISSION_DENIED)', async () => {
    const t0 = Date.now();
    agent.set({ secret: KEY, type: 'static', versions: [version(1, 'hunter2-secret', t0)] });
    client = await connect(['api-key']);
    const dropped = nextChange(client, 'api-key');
    agent.deny(KEY, 'shop/orders may not read shop/api-key');
    expect(await dropped).toBeUndefined();
    expect(codeOf(() => client!.get('api-key'))).toBe('SECRETS_ACCESS_WITHDRAWN');
    expect(codeOf(() => client!.valid('api-key'))).toBe('SECRETS_ACCESS_WITHDRAWN');
    expect(() => client!.get('api-key')).toThrow(/withdrew/);
    // Access granted again: the value comes back on the reconnected stream.
    const back = nextChange(client, 'api-key');
    agent.allow(KEY);
    expect((await back)?.value).toBe('hunter2-secret');
    expect(logged.join('\n')).not.toContain('hunter2-secret');
  });

  it('times out naming the secret the agent never answered for, and the agent’s refusal', async () => {
    agent.set({ secret: KEY, type: 'static', versions: [version(1, 'one', Date.now())] });
    agent.deny('shop/denied', 'not a reader');
    const error = await connect(['api-key', 'missing', 'denied'], 300).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecretsClientError);
    expect((error as SecretsClientError).code).toBe('SECRETS_TIMEOUT');
    const message = (error as Error).message;
    expect(message).toContain('shop/missing (no answer from the agent)');
    expect(message).toContain('shop/denied (PERMISSION_DENIED: "not a reader")');
    expect(message).not.toContain('shop/api-key');
    // Every stream is closed after the timeout.
    await until(() => agent.openCalls('shop/missing') === 0, 'the streams to close');
  });

  it('refuses a malformed reply and keeps the value it holds', async () => {
    const t0 = Date.now();
    agent.set({ secret: KEY, type: 'static', versions: [version(1, 'one', t0)] });
    client = await connect(['api-key']);
    agent.sendRaw(KEY, { secret: KEY, type: 'static', versions: [{ version: 0, data: {} }] });
    agent.sendRaw(KEY, { secret: 'shop/other', type: 'static', versions: [] });
    await until(
      () => logged.filter((l) => l.includes('SECRETS_BAD_REPLY')).length === 2,
      'refusals',
    );
    expect(client.get('api-key').value).toBe('one');
    // A good reply after them is still taken.
    const changed = nextChange(client, 'api-key');
    agent.set({ secret: KEY, type: 'static', versions: [version(2, 'two', Date.now())] });
    expect((await changed)?.version).toBe(2);
  });

  it('catches and logs a watcher that throws; the others still run; unsubscribe works', async () => {
    agent.set({ secret: KEY, type: 'static', versions: [version(1, 'one', Date.now())] });
    client = await connect(['api-key']);
    let unsubscribedCalls = 0;
    client.watch('api-key', () => {
      throw new Error('boom');
    });
    const stop = client.watch('api-key', () => unsubscribedCalls++);
    stop();
    const changed = nextChange(client, 'api-key');
    agent.set({ secret: KEY, type: 'static', versions: [version(2, 'two', Date.now())] });
    expect((await changed)?.version).toBe(2);
    expect(logged.some((l) => l.includes('a watcher of shop/api-key threw'))).toBe(true);
    expect(unsubscribedCalls).toBe(0);
  });

  it('after close, get throws SECRETS_CLOSED and the streams end', async () => {
    agent.set({ secret: KEY, type: 'static', versions: [version(1, 'one', Date.now())] });
    client = await connect(['api-key']);
    client.close();
    expect(codeOf(() => client!.get('api-key'))).toBe('SECRETS_CLOSED');
    await until(() => agent.openCalls(KEY) === 0, 'the stream to close');
  });

  it('finds the agent through SPIFFE_ENDPOINT_SOCKET when no socketPath is given', async () => {
    agent.set({ secret: 'api-key', type: 'static', versions: [version(1, 'one', Date.now())] });
    const saved = process.env.SPIFFE_ENDPOINT_SOCKET;
    process.env.SPIFFE_ENDPOINT_SOCKET = `unix://${agent.socketPath}`;
    try {
      client = await connectSecrets({ service: 'orders', names: ['api-key'], logger });
    } finally {
      if (saved === undefined) delete process.env.SPIFFE_ENDPOINT_SOCKET;
      else process.env.SPIFFE_ENDPOINT_SOCKET = saved;
    }
    expect(client.get('api-key')).toMatchObject({ secret: 'api-key', value: 'one' });
  });

  it('serves a dynamic credential with its lease', async () => {
    const now = Date.now();
    agent.set({
      secret: 'shop/db',
      type: 'postgres',
      versions: [
        {
          version: 1,
          data: { username: 'u1', password: 'p1' },
          notBefore: now,
          notAfter: now + HOUR,
        },
      ],
      lease: { id: 'lease-1', expiresAt: now + HOUR },
    });
    client = await connect(['db']);
    expect(client.get('db')).toMatchObject({ value: undefined, lease: { id: 'lease-1' } });
    expect(client.get('db').data.username).toBe('u1');
  });
});
