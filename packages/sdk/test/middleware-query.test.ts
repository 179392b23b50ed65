import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  canonicalDecisionInput,
  compile,
  type Decision,
  type PolicyDocument,
  parseQuery,
  RequestTargetError,
} from '@ward/policy';
import express from 'express';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryVectors } from '../../policy/test/request-vectors/vectors.ts';
import {
  createEgressGuard,
  createPdp,
  type Pdp,
  wardExpress,
  wardFastify,
  wardHttp,
} from '../src/index.ts';
import { cacheFile } from '../src/pdp/cache.ts';
import { call, close, listen } from './_http-client.ts';
import { bundleOf, memoryLogger, signingKey, tempDir } from './_pdp-fixture.ts';

/**
 * One canonical request everywhere: a target with a query is decided the same way by the
 * middleware of each framework (real servers on loopback), by `pdp.decide` and by
 * `canonicalDecisionInput` + `PolicySet.decide` (what `ward policy eval` and the playground run),
 * and by the egress guard: the path never includes `?…`, and `query` rules read the same
 * parameters (a repeated name: every value for an allow, any for a deny).
 */
const DOCUMENTS: PolicyDocument[] = [
  ...['svc', 'client'].map(
    (name): PolicyDocument => ({
      apiVersion: 'ward.dev/v1',
      kind: 'Service',
      metadata: { name, namespace: 'test' },
      spec: {},
    }),
  ),
  {
    apiVersion: 'ward.dev/v1',
    kind: 'Intention',
    metadata: { name: 'q' },
    spec: {
      destination: 'svc',
      rules: [
        {
          sources: ['client'],
          action: 'deny',
          permissions: [{ http: { query: [{ name: 'debug', present: true }] } }],
        },
        {
          sources: ['client'],
          action: 'allow',
          permissions: [
            {
              http: {
                methods: ['GET'],
                paths: [{ exact: '/orders' }],
                query: [{ name: 'tenant', exact: 'acme' }],
              },
            },
            { http: { methods: ['GET'], paths: [{ exact: '/open' }, { exact: '/echo' }] } },
          ],
        },
      ],
    },
  },
];

/** Target → the rule that decides it (`q#i`, or `default`). */
const CASES: [string, string][] = [
  ['/orders?tenant=acme', 'q#1'],
  ['/orders?tenant=acme#frag', 'q#1'],
  ['/orders?%74enant=ac%6De', 'q#1'],
  ['/orders?tenant=acme&tenant=acme', 'q#1'],
  ['/orders?tenant=acme&tenant=evil', 'default'],
  ['/orders?tenant=evil', 'default'],
  ['/orders', 'default'],
  ['/orders?', 'default'],
  ['/orders%3Ftenant=acme', 'default'],
  ['/open?x=1', 'q#1'],
  ['/open?', 'q#1'],
  ['/open?debug', 'q#0'],
  ['/open?a=1&%64ebug=0', 'q#0'],
  // An encoded `=` does not end the name: the parameter is `debug=1`, not `debug`.
  ['/open?debug%3D1', 'q#1'],
  ['/open?x=debug', 'q#1'],
  // Escapes that are not UTF-8: Fastify reads `%FF` where the others read U+FFFD, so the query
  // rules fail closed: the deny on `debug` matches, whatever the path.
  ['/orders?tenant=acme&x=%FF', 'q#0'],
  ['/open?x=%FF', 'q#0'],
];

const policy = compile(DOCUMENTS, { trustDomain: 'test.local' });
const OPTIONS = { service: 'svc', devIdentityHeader: 'x-ward-source' } as const;

function ruleOf(d: Decision): string {
  return d.rule ? `${d.rule.policy}#${d.rule.index}` : 'default';
}

/** Every handler answers 200 with the rule that decided. */
function answer(req: IncomingMessage, res: ServerResponse): void {
  res.setHeader('x-rule', req.ward ? ruleOf(req.ward.decision) : 'none');
  res.end('ok');
}

/** node:http: `/echo` answers the parameters `URLSearchParams` reads; the rest, `answer`. */
function echoOrAnswer(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url!, 'http://x');
  if (url.pathname !== '/echo') {
    answer(req, res);
    return;
  }
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of url.searchParams) {
    const had = out[k];
    out[k] = had === undefined ? v : [...(Array.isArray(had) ? had : [had]), v];
  }
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(out));
}

const servers: { name: string; url: string; close(): Promise<void> }[] = [];
const cache = tempDir('middleware-query');
let pdp: Pdp;

beforeAll(async () => {
  const key = signingKey();
  writeFileSync(
    cacheFile(cache.path, 'svc'),
    JSON.stringify(bundleOf('svc', 1, DOCUMENTS, key.privateKey)),
    { mode: 0o600 },
  );
  pdp = createPdp({
    service: 'svc',
    controlPlanes: ['http://127.0.0.1:9'],
    publicKey: key.publicKey,
    cacheDir: cache.path,
    logger: memoryLogger(),
  });

  // node:http again, deciding through the PDP (the middleware calls its `decideCanonical`).
  const viaPdp = createServer(wardHttp({ ...OPTIONS, decider: pdp }, echoOrAnswer));
  servers.push({ name: 'node:http + PDP', url: await listen(viaPdp), close: () => close(viaPdp) });
  const http = createServer(wardHttp({ ...OPTIONS, decider: policy }, echoOrAnswer));
  servers.push({ name: 'node:http', url: await listen(http), close: () => close(http) });

  const app = express();
  app.use(wardExpress({ ...OPTIONS, decider: policy }));
  app.get('/echo', (req, res) => {
    res.json(req.query);
  });
  app.get(['/orders', '/open'], (req, res) =>
    answer(req as IncomingMessage, res as ServerResponse),
  );
  const server = createServer(app);
  servers.push({ name: 'Express 5', url: await listen(server), close: () => close(server) });

  const fastify = Fastify({ logger: false });
  await fastify.register(wardFastify, { ...OPTIONS, decider: policy });
  fastify.get('/echo', (request, reply) => {
    reply.send(request.query);
  });
  for (const path of ['/orders', '/open']) {
    fastify.get(path, (request, reply) => {
      reply.header('x-rule', ruleOf(request.ward!.decision)).send('ok');
    });
  }
  servers.push({
    name: 'Fastify 5',
    url: await fastify.listen({ port: 0, host: '127.0.0.1' }),
    close: () => fastify.close(),
  });
});

afterAll(async () => {
  for (const s of servers) await s.close();
  await pdp?.close();
  cache.remove();
});

describe('a target with a query is decided the same way everywhere', () => {
  for (const [target, rule] of CASES) {
    it(`${target} → ${rule}`, async () => {
      const input = {
        destination: 'svc',
        source: { service: 'client' },
        request: { method: 'GET', path: target },
      };
      // What `ward policy eval`, the playground and PolicyTest decide on.
      expect(ruleOf(policy.decide(canonicalDecisionInput(input)))).toBe(rule);
      // The PDP, given the path with its query as is.
      expect(ruleOf(pdp.decide(input))).toBe(rule);
      // The egress guard of a caller.
      const guard = createEgressGuard({ decider: policy, self: 'client' });
      let egress = 'allowed';
      try {
        guard.check('svc', { method: 'GET', path: target });
      } catch {
        egress = 'denied';
      }
      expect(egress).toBe(rule === 'q#1' ? 'allowed' : 'denied');
      // The middleware of each framework, over HTTP (the client does not send the fragment).
      for (const s of servers) {
        const reply = await call(`${s.url}${target}`, { headers: { 'x-ward-source': 'client' } });
        if (rule === 'q#1') {
          expect([s.name, reply.status]).toEqual([s.name, 200]);
        } else {
          expect([s.name, reply.status, reply.body.rule ?? 'default']).toEqual([s.name, 403, rule]);
        }
      }
    });
  }

  it('the PDP refuses a path with no canonical form, as the middleware answers 400', () => {
    const d = pdp.decide({ source: { service: 'client' }, request: { path: '/open%2F?x=1' } });
    expect(d).toMatchObject({ allowed: false, rule: null });
    expect(d.reason).toMatch(/REQUEST_ENCODED_SLASH/);
    expect(() =>
      canonicalDecisionInput({ request: { path: '/open', query: 'a', method: 'GET' } }),
    ).not.toThrow();
    expect(() => canonicalDecisionInput({ request: { path: '/open?b', query: 'a' } })).toThrow(
      RequestTargetError,
    );
  });
});

describe('the parameters a rule reads are the ones the handler reads', () => {
  // Every `parse` vector a client can send (a `#` would start the fragment; `debug` is denied).
  // Escapes that are not UTF-8 are left out: Fastify keeps them undecoded where the others read
  // U+FFFD, which is why the rules fail closed on them (the cases above and query.test.ts).
  const vectors = queryVectors().parse.filter(
    (v) => !v.query.includes('#') && !/debug/.test(v.query) && !v.notUtf8,
  );
  for (const v of vectors) {
    it(`${v.name}: ${JSON.stringify(v.query)}`, async () => {
      const ours = Object.fromEntries(
        [...parseQuery(v.query).params].map(([k, values]) => [
          k,
          values.length === 1 ? values[0] : [...values],
        ]),
      );
      for (const s of servers) {
        const reply = await call(`${s.url}/echo?${v.query}`, {
          headers: { 'x-ward-source': 'client' },
        });
        expect([s.name, reply.status]).toEqual([s.name, 200]);
        expect([s.name, reply.body]).toEqual([s.name, ours]);
      }
    });
  }
});
