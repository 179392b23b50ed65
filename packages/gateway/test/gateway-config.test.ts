import { RequestProblem, tryCanonicalRequest } from '@ward/policy';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compileGatewayConfig,
  type GatewayConfig,
  GatewayError,
  hostOf,
  prefixMatches,
} from '../src/index.ts';
import { stripPrefix } from '../src/server/pipeline.ts';
import { gatewayDoc, routeDoc } from './_fixture.ts';

const UP = 'http://127.0.0.1:8080';
const route = (name: string, match: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  routeDoc(name, { match, upstream: { service: 'catalog', endpoints: [UP] }, ...extra });

const config = (): GatewayConfig =>
  compileGatewayConfig(
    gatewayDoc({ trustedProxies: ['10.0.0.0/8', '2001:db8::/32'] }),
    [
      route('api', { pathPrefix: '/api/' }),
      route('api-admin', { pathPrefix: '/api/admin' }),
      route('health', { path: '/health', methods: ['GET'] }),
      route('shop', { pathPrefix: '/shop', hosts: ['shop.example.com'] }),
      route('any-shop', { pathPrefix: '/shop' }),
      // Another gateway's route in the namespace: ignored.
      {
        ...route('other', { pathPrefix: '/' }),
        spec: { ...route('x', { pathPrefix: '/' }).spec, gateway: 'other' },
      },
    ],
    { trustDomain: 'test.local' },
  );

describe('compileGatewayConfig', () => {
  it('a body nested deeper than a recursive schema can validate is refused, not thrown', () => {
    const c = compileGatewayConfig(
      gatewayDoc({}),
      [
        route(
          'deep',
          { pathPrefix: '/deep/' },
          { requestSchema: { type: 'array', items: { $ref: '#' } } },
        ),
      ],
      { trustDomain: 'test.local' },
    );
    const validate = c.routes[0]!.validateBody!;
    expect(validate([[[]]])).toBeUndefined();
    let deep: unknown = [];
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(validate(deep)).toEqual([
      { field: '/', message: 'the body is nested too deeply to validate' },
    ]);
  });

  it('compiles defaults, keys and the upstream identity', () => {
    const c = config();
    expect(c.key).toBe('shop/edge');
    expect(c.limits).toMatchObject({
      maxBodyBytes: 1048576,
      maxHeaderBytes: 16384,
      requestTimeoutMs: 30000,
    });
    expect(c.failureMode).toBe('closed');
    expect(c.routes.map((r) => r.key)).toEqual([
      'shop/api',
      'shop/api-admin',
      'shop/health',
      'shop/shop',
      'shop/any-shop',
    ]);
    expect(c.routes[0]!.upstream).toMatchObject({
      service: 'shop/catalog',
      spiffeId: 'spiffe://test.local/ns/shop/sa/catalog',
      timeoutMs: 10000,
      stripPrefix: false,
    });
    expect(c.routes[0]!.auth).toBe('required');
    expect(c.isTrustedProxy('10.1.2.3')).toBe(true);
    expect(c.isTrustedProxy('::ffff:10.1.2.3')).toBe(true);
    expect(c.isTrustedProxy('2001:db8::1')).toBe(true);
    expect(c.isTrustedProxy('11.0.0.1')).toBe(false);
    expect(c.isTrustedProxy('nonsense')).toBe(false);
  });

  it('matches exact paths, then the longest prefix on segment boundaries, hosts before any', () => {
    const c = config();
    expect(c.match('GET', undefined, '/health')?.key).toBe('shop/health');
    expect(c.match('POST', undefined, '/health')).toBeUndefined();
    expect(c.match('GET', undefined, '/api/admin/x')?.key).toBe('shop/api-admin');
    expect(c.match('GET', undefined, '/api/adminx')?.key).toBe('shop/api');
    expect(c.match('GET', undefined, '/api')).toBeUndefined();
    expect(c.match('GET', 'shop.example.com', '/shop/x')?.key).toBe('shop/shop');
    expect(c.match('GET', 'other.example.com', '/shop/x')?.key).toBe('shop/any-shop');
    expect(c.match('GET', undefined, '/shopping')).toBeUndefined();
  });

  it('strips prefixes keeping a leading slash', () => {
    expect(stripPrefix('/api/x', '/api/')).toBe('/x');
    expect(stripPrefix('/api/', '/api/')).toBe('/');
    expect(stripPrefix('/api', '/api')).toBe('/');
    expect(stripPrefix('/api/x/y', '/api')).toBe('/x/y');
  });

  const refused: [string, unknown, unknown[], RegExp][] = [
    [
      'a route with both path and pathPrefix',
      gatewayDoc({}),
      [route('r', { path: '/a', pathPrefix: '/b/' })],
      /Route "shop\/r": spec\.match/,
    ],
    ['a route with neither', gatewayDoc({}), [route('r', {})], /Route "shop\/r": spec\.match/],
    [
      'a non-canonical path',
      gatewayDoc({}),
      [route('r', { pathPrefix: '/a/../b/' })],
      /spec\.match\.pathPrefix/,
    ],
    [
      'an unknown field',
      gatewayDoc({}),
      [route('r', { path: '/a', regex: '.*' })],
      /Route "shop\/r": spec\.match.*"regex"/,
    ],
    [
      'an upstream with a path',
      gatewayDoc({}),
      [
        routeDoc('r', {
          match: { path: '/a' },
          upstream: { service: 'c', endpoints: ['http://h/x'] },
        }),
      ],
      /spec\.upstream\.endpoints\.0/,
    ],
    [
      'a bad upstream service',
      gatewayDoc({}),
      [routeDoc('r', { match: { path: '/a' }, upstream: { service: 'A/B/C', endpoints: [UP] } })],
      /spec\.upstream\.service/,
    ],
    [
      'a bad request schema',
      gatewayDoc({}),
      [route('r', { path: '/a' }, { requestSchema: { type: 'nonsense' } })],
      /spec\.requestSchema/,
    ],
    [
      'a duplicate route',
      gatewayDoc({}),
      [route('r', { path: '/a' }), route('r', { path: '/b' })],
      /duplicate/,
    ],
    [
      'CORS * with credentials',
      gatewayDoc({ cors: { origins: ['*'], credentials: true } }),
      [],
      /Gateway "shop\/edge": spec\.cors\.origins\.0: origin "\*" cannot go with credentials/,
    ],
    ['a bad CIDR', gatewayDoc({ trustedProxies: ['10.0.0.0/33'] }), [], /spec\.trustedProxies\.0/],
    [
      'a rate limit of 0',
      gatewayDoc({}),
      [route('r', { path: '/a' }, { rateLimits: [{ by: 'ip', limit: 0, windowSec: 1 }] })],
      /spec\.rateLimits\.0\.limit/,
    ],
    ['a wrong kind', { ...gatewayDoc({}), kind: 'Route' }, [], /Gateway "shop\/edge": kind/],
  ];
  for (const [what, gateway, routes, message] of refused) {
    it(`refuses ${what} with GATEWAY_CONFIG_INVALID naming document and field`, () => {
      let thrown: unknown;
      try {
        compileGatewayConfig(gateway, routes, { trustDomain: 'test.local' });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(GatewayError);
      expect((thrown as GatewayError).code).toBe('GATEWAY_CONFIG_INVALID');
      expect((thrown as GatewayError).message).toMatch(message);
    });
  }
});

describe('hostile requests (property)', () => {
  const c = config();
  const pathChars = fc.constantFrom(
    ...'/aApi.%2e2F5Cfx?#;\\@:admin'.split(''),
    '%2f',
    '%2F',
    '%5c',
    '..',
    '/../',
    '/./',
    '%00',
    '%c0%af',
    '//',
    'é',
    '\u0000',
    ' ',
    '\r\n',
  );
  const target = fc.oneof(
    fc.array(pathChars, { maxLength: 40 }).map((parts) => `/${parts.join('')}`),
    fc.string({ maxLength: 60 }),
    fc.array(pathChars, { maxLength: 20 }).map((parts) => `http://h/${parts.join('')}`),
  );
  const method = fc.constantFrom('GET', 'HEAD', 'POST', 'get', 'OPTIONS', 'X Y', '');

  it('never throws, and a matched route always covers the canonical path', () => {
    fc.assert(
      fc.property(method, target, fc.option(fc.string({ maxLength: 40 })), (m, t, host) => {
        const canonical = tryCanonicalRequest(m, t);
        if (canonical instanceof RequestProblem) return;
        const h = hostOf(host ?? undefined);
        const r = c.match(canonical.method, h, canonical.path);
        if (r === undefined) return;
        // The path matched is canonical: no dot segment, no encoded slash survives.
        expect(canonical.path).not.toMatch(/\/\.\.?(\/|$)|%2f|%5c|\\/i);
        if (r.path !== undefined) expect(canonical.path).toBe(r.path);
        else expect(prefixMatches(r.pathPrefix!, canonical.path)).toBe(true);
        if (r.hosts !== undefined) expect(r.hosts.has(h!)).toBe(true);
        if (r.key === 'shop/api-admin') expect(canonical.path.startsWith('/api/admin')).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('hostOf never throws and only yields a lower-case host without port', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        const h = hostOf(s);
        if (h === undefined) return;
        expect(h).toBe(h.toLowerCase());
        expect(h).toMatch(/^([a-z0-9.-]+|\[[0-9a-f:.]+\])$/);
      }),
      { numRuns: 2000 },
    );
    expect(hostOf('Shop.Example.COM:8443')).toBe('shop.example.com');
    expect(hostOf('[::1]:80')).toBe('[::1]');
    expect(hostOf('shop.example.com@evil')).toBeUndefined();
    expect(hostOf('a b')).toBeUndefined();
  });
});
