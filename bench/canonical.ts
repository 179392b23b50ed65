/**
 * `npm run bench -- canonical [iterations]`: cost of `tryCanonicalRequest` (the canonical form
 * every middleware computes once per request, `@ward/policy`) against `new URL(target, base)`, the
 * WHATWG parser a node:http service commonly routes with (the peer), on the same targets.
 *
 * Three target mixes: `typical` (origin-form paths with and without a query, already canonical:
 * the hot path), `hostile` (escapes, dot segments, absolute form: the slow path), and `refused`
 * (targets canonicalRequest refuses; the peer parses them). Each figure is nanoseconds per call,
 * the fastest of `rounds` timed loops over the mix (a loop, not a per-call timer: the calls are
 * far shorter than the timer's own cost).
 */
import { tryCanonicalRequest } from '@ward/policy';
import { progress, round } from './_stats.ts';

/** Request lines arrive as flat strings; template concatenation gives rope strings instead. */
function flat(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1');
}

const MIXES: Record<string, string[]> = {
  typical: [
    '/orders/42',
    '/orders/42?debug=1',
    '/api/v1/customers/7f3c9a/orders',
    '/',
    '/healthz',
    '/static/app.3f9a1c.js',
    '/search?q=shoes&page=2',
    '/shop.orders.v1.Orders/Get',
  ],
  hostile: [
    '/%61dmin',
    '/orders/../admin',
    '/orders/%2e%2e/admin',
    'http://host/admin?x=1',
    '/caf%c3%a9/menu',
    '/a/./b/../c/%7Euser',
    '/.well-known/openid-configuration',
    '/files/report%20final.pdf',
  ],
  refused: [
    '/a%2Fb',
    '/a\\b',
    '/a%00b',
    '/a%zz',
    '/%C0%AF',
    '//evil/x',
    '/orders%2F..%2Fadmin',
    '',
  ],
};

function nsPerCall(targets: string[], iterations: number, fn: (t: string) => unknown): number {
  const n = targets.length;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn(targets[i % n]!);
  return Number(process.hrtime.bigint() - t0) / iterations;
}

/** What the middleware calls: a refusal is returned, not thrown. */
function ours(target: string): unknown {
  return tryCanonicalRequest('GET', target);
}

function peer(target: string): unknown {
  try {
    return new URL(target, 'http://localhost');
  } catch (error) {
    return error;
  }
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const iterations = Number(args[0] ?? 2_000_000);
  const rounds = 5;
  const result: Record<string, unknown> = { iterations, rounds };
  for (const [mix, raw] of Object.entries(MIXES)) {
    const targets = raw.map(flat);
    progress(`${mix}: ${targets.length} targets, ${rounds} rounds of ${iterations}`);
    const n = mix === 'refused' ? Math.max(1, iterations / 10) : iterations;
    // Warm up both, then alternate rounds so background noise hits both alike.
    nsPerCall(targets, n / 4, ours);
    nsPerCall(targets, n / 4, peer);
    let best = Number.POSITIVE_INFINITY;
    let bestPeer = Number.POSITIVE_INFINITY;
    for (let r = 0; r < rounds; r++) {
      best = Math.min(best, nsPerCall(targets, n, ours));
      bestPeer = Math.min(bestPeer, nsPerCall(targets, n, peer));
    }
    result[`${mix}_ns`] = round(best);
    result[`${mix}_peer_url_ns`] = round(bestPeer);
    result[`${mix}_speedup`] = round(bestPeer / best, 2);
  }
  return result;
}
