/**
 * The console routes: `/` and hashed assets with the CSP and hardening headers, 404 for unknown
 * and traversal names, a 503 problem when the console is not built, and `GET /v1/whoami` for
 * every scope (what the console shows and uses to disable what a scope may not do).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_CSP } from '../src/http/routes/console.ts';
import type { RunningServer } from '../src/index.ts';
import { ADMIN, cleanupDirs, http, startTestServer, tempDir } from './helpers.ts';

let built: RunningServer;
let missing: RunningServer;

beforeAll(async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><div id="app"></div>');
  writeFileSync(join(dir, 'assets', 'index-abc123.js'), 'console.log(1)');
  writeFileSync(join(dir, 'assets', 'index-abc123.css'), 'body{}');
  writeFileSync(join(dir, 'assets', 'notes.txt'), 'not a served type');
  built = await startTestServer({ consoleDir: dir });
  // A directory without index.html: a control plane whose console was never built.
  missing = await startTestServer({ consoleDir: tempDir() });
});

afterAll(async () => {
  await built?.close();
  await missing?.close();
  cleanupDirs();
});

function expectHardened(res: Response): void {
  expect(res.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  expect(res.headers.get('x-frame-options')).toBe('DENY');
  expect(res.headers.get('referrer-policy')).toBe('no-referrer');
}

describe('console routes', () => {
  it('serves / with the CSP, no inline script or style, and no caching', async () => {
    const res = await fetch(`${built.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expectHardened(res);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(await res.text()).toContain('id="app"');
  });

  it('serves hashed assets with their type, the CSP and a long cache', async () => {
    const js = await fetch(`${built.url}/assets/index-abc123.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toContain('text/javascript');
    expect(js.headers.get('cache-control')).toContain('immutable');
    expectHardened(js);
    const css = await fetch(`${built.url}/assets/index-abc123.css`);
    expect(css.headers.get('content-type')).toContain('text/css');
  });

  it('answers 404 problems for unknown, unserved and traversal names', async () => {
    for (const path of [
      '/assets/nope.js',
      '/assets/notes.txt',
      '/assets/..%2findex.html',
      '/assets/..%2f..%2fpackage.json',
      '/assets/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      '/assets/../../package.json',
    ]) {
      const res = await fetch(`${built.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type'), path).toContain('application/problem+json');
    }
  });

  it('answers a 503 problem when the console is not built', async () => {
    const res = await http(missing.url, 'GET', '/', { token: null });
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body.code).toBe('API_UNAVAILABLE');
    expect(res.body.detail).toMatch(/not built/);
    expect((await fetch(`${missing.url}/assets/index-abc123.js`)).status).toBe(404);
  });
});

describe('GET /v1/whoami', () => {
  it('names the principal, scope and owned services of each scope', async () => {
    const make = async (body: object) =>
      (await http(built.url, 'POST', '/v1/tokens', { body })).body.token as string;
    const cases = [
      { token: ADMIN, scope: 'admin', services: [] },
      {
        token: await make({ name: 'team-x', scope: 'team', services: ['b-svc', 'a-svc'] }),
        scope: 'team',
        services: ['a-svc', 'b-svc'],
      },
      {
        token: await make({ name: 'pdp-x', scope: 'pdp', services: ['a-svc'] }),
        scope: 'pdp',
        services: ['a-svc'],
      },
      {
        token: await make({ name: 'collector-x', scope: 'collector' }),
        scope: 'collector',
        services: [],
      },
    ];
    for (const c of cases) {
      const res = await http(built.url, 'GET', '/v1/whoami', { token: c.token });
      expect(res.status, c.scope).toBe(200);
      expect(res.body).toMatchObject({ scope: c.scope, services: c.services, via: 'token' });
      expect(typeof res.body.name).toBe('string');
      // The answer never echoes the token.
      expect(res.text).not.toContain(c.token);
    }
  });

  it('refuses no token and a revoked token', async () => {
    expect((await http(built.url, 'GET', '/v1/whoami', { token: null })).status).toBe(401);
    const made = await http(built.url, 'POST', '/v1/tokens', {
      body: { name: 'gone', scope: 'collector' },
    });
    await http(built.url, 'DELETE', `/v1/tokens/${made.body.id}`);
    const res = await http(built.url, 'GET', '/v1/whoami', { token: made.body.token });
    expect(res.status).toBe(401);
  });
});
