/**
 * The local decision API reads bodies from any local process: whatever bytes arrive, the parser
 * returns a checked input or a problem naming a field, never throws; and the HTTP handler (on a
 * real Unix socket) answers every body with a decision or a 4xx problem, never a 5xx or a crash.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Enforcer } from '@ward/sdk';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideHandler } from '../src/decide/http.ts';
import type { LocalPdps } from '../src/decide/local-pdps.ts';
import {
  BodyProblem,
  type DecideCaller,
  parseDecideBatch,
  parseDecideInput,
  parseJson,
} from '../src/index.ts';

const key = fc.constantFrom(
  'destination',
  'source',
  'request',
  'passport',
  'route',
  'time',
  '__proto__',
);
/** Bodies near the valid shape (so the parser's deeper checks are reached), and anything else. */
const nearInput = fc.record(
  {
    destination: fc.oneof(fc.constantFrom('orders', 'shop/orders', 'Orders', ''), fc.jsonValue()),
    source: fc.oneof(
      fc.record(
        {
          service: fc.oneof(fc.constantFrom('frontend', 'spiffe://x/y'), fc.jsonValue()),
          spiffeId: fc.oneof(fc.constantFrom('spiffe://td/ns/a/sa/b', 'spiffe://'), fc.string()),
        },
        { requiredKeys: [] },
      ),
      fc.jsonValue(),
    ),
    request: fc.oneof(
      fc.record(
        {
          method: fc.oneof(fc.constantFrom('GET', 'POST', 'g e t', ''), fc.jsonValue()),
          path: fc.oneof(
            fc.constantFrom('/orders/1', '/a/../b', '/%2e%2e/x', '*', '', '/x?y=1'),
            fc.string(),
          ),
          query: fc.oneof(fc.string(), fc.jsonValue()),
          headers: fc.oneof(fc.dictionary(fc.string(), fc.string()), fc.jsonValue()),
        },
        { requiredKeys: [] },
      ),
      fc.jsonValue(),
    ),
    passport: fc.oneof(fc.string(), fc.jsonValue()),
    route: fc.oneof(fc.string(), fc.jsonValue()),
  },
  { requiredKeys: [] },
);
const anyBody = fc.oneof(
  nearInput,
  fc.record({ inputs: fc.array(nearInput, { maxLength: 5 }) }),
  fc.dictionary(key, fc.jsonValue()),
  fc.jsonValue(),
);

describe('the decision API body parser (untrusted input)', () => {
  it('never throws; a refusal names a field; an accepted input is well-formed', () => {
    fc.assert(
      fc.property(anyBody, (body) => {
        for (const out of [parseDecideInput(body), parseDecideBatch(body)]) {
          if (out instanceof BodyProblem) {
            expect(out.field.startsWith('/')).toBe(true);
            expect(out.message.length).toBeGreaterThan(0);
            continue;
          }
          for (const input of Array.isArray(out) ? out : [out]) {
            expect(typeof input.destination).toBe('string');
            expect(typeof input.request.method).toBe('string');
            expect(typeof input.request.path).toBe('string');
            for (const v of Object.values(input.request.headers)) expect(typeof v).toBe('string');
          }
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses text that is not JSON, naming the body', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          expect(parseJson(text)).toBeInstanceOf(BodyProblem);
          return;
        }
        expect(parseJson(text)).toEqual(json);
      }),
    );
  });
});

describe('the decision API handler (real socket)', () => {
  let dir: string;
  let server: Server;
  const socketPath = () => join(dir, 'decide.sock');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ward-decide-prop-'));
    // A decider that always allows: what is tested is the way to it, not the policy.
    const enforcer = new Enforcer({
      service: 'orders',
      decider: {
        decide: () => ({
          effect: 'allow',
          enforced: true,
          allowed: true,
          rule: null,
          reason: 'ok',
        }),
      },
    });
    const pdps = {
      spiffeIdOf: (s: string) => (s === 'orders' ? 'spiffe://td/orders' : undefined),
      pdpFor: () => ({ status: () => ({ ready: true }), revision: () => 1 }),
      enforcerFor: () => enforcer,
    } as unknown as LocalPdps;
    const caller: DecideCaller = { spiffeIds: new Set(['spiffe://td/orders']) };
    server = createServer(
      decideHandler({
        pdps,
        ensure: () => Promise.reject(Object.assign(new Error('not here'), { status: 403 })),
        callerOf: () => caller,
      }),
    );
    await new Promise<void>((r) => server.listen(socketPath(), r));
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (path: string, body: string) =>
    new Promise<{ status: number; json: Record<string, unknown> }>((resolve, reject) => {
      const req = request({ socketPath: socketPath(), path, method: 'POST' }, (res) => {
        let text = '';
        res.on('data', (d) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(text) }));
      });
      req.on('error', reject);
      req.end(body);
    });

  it('answers every body with a decision or a 4xx problem', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          anyBody.map((b) => JSON.stringify(b) ?? 'null'),
          fc.string(),
        ),
        fc.boolean(),
        async (body, batch) => {
          const r = await post(batch ? '/v1/decide/batch' : '/v1/decide', body);
          if (r.status === 200) {
            const decisions = batch ? (r.json.decisions as unknown[]) : [r.json];
            for (const d of decisions) {
              expect([200, 400, 401, 403]).toContain((d as { status: number }).status);
            }
            return;
          }
          expect([400, 403]).toContain(r.status);
          expect(String(r.json.code)).toMatch(/^AGENT_DECIDE_/);
          expect(r.json.status).toBe(r.status);
        },
      ),
      { numRuns: 300 },
    );
  });
});
