import { describe, expect, it } from 'vitest';
import {
  cidrProblem,
  compile,
  compileRequestSchema,
  gatewayKey,
  lintPolicy,
  type PolicyDocument,
  type RouteDocument,
  routeGatewayKey,
  routeUpstreamKey,
  urlProblem,
} from '../src/index.ts';

const route = (namespace: string | undefined, service: string): RouteDocument => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Route',
  metadata: { name: 'r', ...(namespace ? { namespace } : {}) },
  spec: {
    gateway: 'edge',
    match: { pathPrefix: '/' },
    upstream: { service, endpoints: ['https://10.0.0.1'] },
  },
});

describe('gateway keys', () => {
  it('a route belongs to the gateway of its namespace; its upstream resolves there too', () => {
    expect(routeGatewayKey(route('shop', 'frontend'))).toBe('shop/edge');
    expect(routeGatewayKey(route(undefined, 'frontend'))).toBe('edge');
    expect(routeUpstreamKey(route('shop', 'frontend'))).toBe('shop/frontend');
    expect(routeUpstreamKey(route('shop', 'billing/api'))).toBe('billing/api');
    expect(routeUpstreamKey(route('shop', 'default/api'))).toBe('api');
    expect(gatewayKey({ metadata: { name: 'edge', namespace: 'shop' } })).toBe('shop/edge');
  });

  it('compile ignores Gateway and Route documents for decisions', () => {
    const docs: PolicyDocument[] = [
      route('shop', 'frontend'),
      { apiVersion: 'ward.dev/v1', kind: 'Gateway', metadata: { name: 'edge' }, spec: {} },
    ];
    const set = compile(docs);
    expect(set.destinations()).toEqual([]);
    expect(set.services.size).toBe(0);
    expect(set.decide({ destination: 'shop/edge', source: {} }).allowed).toBe(false);
  });
});

describe('lint', () => {
  it('warns about a route whose gateway or upstream no Service declares', () => {
    const edge: PolicyDocument = {
      apiVersion: 'ward.dev/v1',
      kind: 'Service',
      metadata: { name: 'edge', namespace: 'shop' },
      spec: {},
    };
    const warnings = lintPolicy([edge, route('shop', 'frontend'), route('other', 'shop/edge')]);
    expect(warnings.map((w) => `${w.code} ${w.path} ${w.message}`)).toEqual([
      'LINT_UNKNOWN_SERVICE /spec/gateway gateway "other/edge" is not a declared Service',
      'LINT_UNKNOWN_SERVICE /spec/upstream/service upstream "shop/frontend" is not a declared Service',
    ]);
  });
});

describe('edge URLs and addresses', () => {
  it('issuers are https, or http on a loopback host', () => {
    expect(urlProblem('https://idp.example.com', true)).toBeUndefined();
    for (const ok of ['http://127.0.0.1:8080', 'http://localhost', 'http://[::1]:9/x']) {
      expect(urlProblem(ok, true)).toBeUndefined();
    }
    for (const bad of [
      'http://idp.example.com',
      'http://localhost.evil.example',
      'http://127.0.0.2',
      'https://a@idp',
      'https://idp/?',
      'https://idp/#',
      'https://idp/ x',
      'file:///etc/passwd',
      'idp.example.com',
    ]) {
      expect(urlProblem(bad, true), bad).toBeDefined();
    }
    expect(urlProblem('http://10.0.0.5:8080', false)).toBeUndefined();
  });

  it('proxies are addresses or CIDRs', () => {
    for (const ok of ['10.0.0.0/8', '0.0.0.0/0', '192.168.1.1', '::1', 'fd00::/8', '::/0']) {
      expect(cidrProblem(ok), ok).toBeUndefined();
    }
    for (const bad of ['10.0.0.0/33', '256.1.1.1', '01.2.3.4', 'fd00::/129', '::1/', 'x', '']) {
      expect(cidrProblem(bad), bad).toBeDefined();
    }
  });
});

describe('request schemas', () => {
  it('compile strictly, with RE2 patterns, and validate bodies', () => {
    const compiled = compileRequestSchema({
      type: 'object',
      required: ['sku'],
      properties: { sku: { type: 'string', pattern: '^[A-Z]{3}-[0-9]+$' } },
    });
    expect(compiled.ok).toBe(true);
    if (!compiled.ok) return;
    expect(compiled.validate({ sku: 'ABC-1' })).toBe(true);
    expect(compiled.validate({ sku: 'abc' })).toBe(false);
    // Each pattern is its own (ajv keys compiled patterns by their text).
    const two = compileRequestSchema({
      type: 'object',
      properties: { a: { type: 'string', pattern: '^a$' }, b: { type: 'string', pattern: '^b$' } },
    });
    expect(two.ok && two.validate({ a: 'a', b: 'b' })).toBe(true);
    expect(two.ok && two.validate({ a: 'a', b: 'a' })).toBe(false);
    // A backtracking-prone pattern runs in linear time on RE2.
    const evil = compileRequestSchema({ type: 'string', pattern: '^(a+)+$' });
    expect(evil.ok && evil.validate(`${'a'.repeat(50_000)}!`)).toBe(false);
  });

  it('refuses unknown keywords and formats, remote refs, bad patterns and huge schemas', () => {
    for (const bad of [
      { type: 'object', propertees: {} },
      { type: 'string', format: 'email' },
      { $ref: 'https://evil.example/s.json' },
      { type: 'string', pattern: '(?=a)' },
      { enum: ['x'.repeat(70_000)] },
      'not a schema',
    ]) {
      expect(compileRequestSchema(bad).ok, JSON.stringify(bad).slice(0, 40)).toBe(false);
    }
    expect(compileRequestSchema(true).ok).toBe(true);
    expect(compileRequestSchema({ type: 'nope' }).ok).toBe(false); // the meta-schema holds
  });

  it('compiles each distinct schema once; routes may reuse one $id', () => {
    const a = { $id: 'https://shop.example/order', type: 'object' };
    const first = compileRequestSchema(a);
    expect(compileRequestSchema({ ...a })).toBe(first);
    const b = compileRequestSchema({ $id: 'https://shop.example/order', type: 'string' });
    expect(b.ok && b.validate('x')).toBe(true);
    expect(first.ok && first.validate('x')).toBe(false);
  });
});
