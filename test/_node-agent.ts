/**
 * Shared set-up of the tests that run a real control plane (CA and ingest plugins, SQLite) with a
 * real node agent: the admin client, applying a policy, registration entries, join tokens, and a
 * poll with a deadline.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSealKey } from '@ward/ca';
import type { PolicyDocument } from '@ward/policy';
import {
  caPlugin,
  ingestPlugin,
  type RunningServer,
  type StartServerOptions,
  startServer,
} from '@ward/server';
import { expect } from 'vitest';

export interface Reply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: test answers are read loosely
  body: any;
}

/** A control plane for agent tests, with its admin client. */
export interface TestPlane {
  dir: string;
  server: RunningServer;
  admin(method: string, path: string, body?: unknown): Promise<Reply>;
  /** Registration entries: `spiffeId` on `node` for processes of `uid`. */
  register(entries: readonly { spiffeId: string; node: string; uid: number }[]): Promise<void>;
  /** A join token for an agent of `node`. */
  joinToken(node: string): Promise<string>;
  close(): Promise<void>;
}

export async function startTestPlane(options: {
  prefix: string;
  adminToken: string;
  trustDomain: string;
  policy: readonly PolicyDocument[];
  server?: Partial<StartServerOptions>;
}): Promise<TestPlane> {
  const dir = mkdtempSync(join(tmpdir(), options.prefix));
  const server = await startServer({
    dataDir: join(dir, 'data'),
    port: 0,
    adminToken: options.adminToken,
    trustDomain: options.trustDomain,
    plugins: [caPlugin({ env: { WARD_CA_KEY: generateSealKey() } }), ingestPlugin()],
    ...options.server,
  });
  const admin = async (method: string, path: string, body?: unknown): Promise<Reply> => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${options.adminToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  const content = options.policy.map((d) => JSON.stringify(d)).join('\n---\n');
  expect((await admin('POST', '/v1/apply', { files: [{ name: 'p.yaml', content }] })).status).toBe(
    200,
  );
  return {
    dir,
    server,
    admin,
    async register(entries) {
      for (const e of entries) {
        const created = await admin('POST', '/v1/ca/entries', {
          spiffeId: e.spiffeId,
          node: e.node,
          selectors: [`unix:uid:${e.uid}`],
        });
        expect(created.status).toBe(201);
      }
    },
    async joinToken(node) {
      return (await admin('POST', '/v1/ca/join-tokens', { node })).body.token as string;
    },
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `get` every 50 ms until `ok`; throws naming `what` after `ms`. */
export async function waitFor<T>(
  what: string,
  get: () => Promise<T> | T,
  ok: (v: T) => boolean,
  ms = 15_000,
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
