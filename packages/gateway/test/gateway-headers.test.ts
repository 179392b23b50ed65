import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileGatewayConfig } from '../src/index.ts';
import { isJson } from '../src/server/body.ts';
import { preflightHeaders } from '../src/server/cors.ts';
import {
  clientIp,
  clientResponseHeaders,
  forwardingHeaders,
  requestIdOf,
  traceparentOf,
  upstreamRequestHeaders,
} from '../src/server/http-headers.ts';
import { loggedPath } from '../src/server/respond.ts';
import { gatewayDoc } from './_fixture.ts';

// Header values as a hostile caller may send them (node:http has already refused CR/LF/NUL).
const value = fc.oneof(
  fc.string({ maxLength: 80 }).map((s) => s.replace(/[\r\n\0]/g, '')),
  fc.constantFrom(
    'x-ward-passport, keep-alive',
    '1.2.3.4, 10.0.0.1',
    '::1, unknown',
    '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
    'application/json; charset=utf-8',
    'application/problem+json',
  ),
);
const name = fc.constantFrom(
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authorization',
  'proxy-x',
  'x-ward-passport',
  'x-forwarded-for',
  'forwarded',
  'x-forwarded-host',
  'host',
  'x-request-id',
  'traceparent',
  'tracestate',
  'authorization',
  'x-api-key',
  'x-custom',
  'expect',
  'content-type',
  'access-control-request-headers',
);
const headers = fc
  .array(fc.tuple(name, fc.oneof(value, fc.array(value, { maxLength: 3 }))), { maxLength: 12 })
  .map((pairs) => Object.fromEntries(pairs) as IncomingHttpHeaders);
const trusted = (ip: string) => ip.startsWith('10.');
const DROPPED = [
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'x-ward-passport',
  'host',
  'expect',
];

describe('header parsers on hostile input (property)', () => {
  it('never forward hop-by-hop, Connection-named or passport headers, and never throw', () => {
    fc.assert(
      fc.property(headers, fc.boolean(), (h, drop) => {
        const out = upstreamRequestHeaders(h, drop);
        for (const n of DROPPED) expect(out[n]).toBeUndefined();
        for (const n of Object.keys(out)) expect(n.startsWith('proxy-')).toBe(false);
        const named = String(h.connection ?? '')
          .split(',')
          .map((t) => t.trim().toLowerCase());
        for (const n of named) if (n !== '') expect(out[n]).toBeUndefined();
        if (drop) expect(out.authorization).toBeUndefined();
        const back = clientResponseHeaders(h);
        for (const n of ['connection', 'keep-alive', 'transfer-encoding', 'upgrade']) {
          expect(back[n]).toBeUndefined();
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('client address, forwarding headers, request id and traceparent stay well formed', () => {
    fc.assert(
      fc.property(headers, fc.constantFrom('127.0.0.1', '10.1.1.1', '2001:db8::1'), (h, peer) => {
        const ip = clientIp(peer, h, trusted);
        expect(ip === peer || isIP(ip) !== 0).toBe(true);
        if (!trusted(peer)) expect(ip).toBe(peer);
        const f = forwardingHeaders(h, peer, 'https', trusted(peer));
        if (!trusted(peer)) {
          expect(f['x-forwarded-for']).toBe(peer);
          expect(f.forwarded!.startsWith('for=')).toBe(true);
        }
        for (const v of Object.values(f)) expect(v).not.toMatch(/[\r\n]/);
        expect(requestIdOf(h, trusted(peer))).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
        const t = traceparentOf(h);
        expect(t.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/);
        expect(t.traceparent).not.toMatch(/^00-0{32}-/);
        isJson(typeof h['content-type'] === 'string' ? h['content-type'] : undefined);
      }),
      { numRuns: 1000 },
    );
  });

  it('CORS preflight parsing never throws and never allows an unlisted header', () => {
    const cors = compileGatewayConfig(
      gatewayDoc({ cors: { origins: ['https://a.example'], methods: ['GET'], headers: ['x-ok'] } }),
      [],
      { trustDomain: 'test.local' },
    ).cors;
    fc.assert(
      fc.property(value, value, (requested, method) => {
        const h = {
          origin: 'https://a.example',
          'access-control-request-method': method,
          'access-control-request-headers': requested,
        };
        const allowed = preflightHeaders(cors, h);
        if (allowed !== undefined) {
          for (const x of requested.split(',')) {
            if (x.trim() !== '') expect(x.trim().toLowerCase()).toBe('x-ok');
          }
          expect(method.toUpperCase()).toBe('GET');
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('the logged path never carries a query value', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.string({ maxLength: 80 }), (path, query) => {
        const logged = loggedPath(`/${path}`, query);
        const q = logged.indexOf('?', path.length + 1);
        if (q < 0) return;
        for (const pair of logged.slice(q + 1).split('&')) expect(pair.endsWith('=')).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});
