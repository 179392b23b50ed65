/**
 * `npm run bench -- query [decisions]`: what `query` permissions cost a decision. Three inputs on
 * one rule (`tenant` exact, `page` glob): a typical query, the largest query still read (8,192
 * characters in 256 parameters, every one escaped), and one character more (not read: the rule
 * fails closed after one length check). Two distinct query strings alternate, so every decision
 * parses (the one-entry memo of `cachedQuery` only helps the rules of one decision). The peer is
 * `new URLSearchParams(query)` reading the same strings, what a handler pays to read them once.
 */
import { compile, type DecisionInput, MAX_QUERY_LENGTH, MAX_QUERY_PARAMETERS } from '@ward/policy';
import { nowNs, percentile, progress, round } from './_stats.ts';

const set = compile([
  {
    apiVersion: 'ward.dev/v1',
    kind: 'Intention',
    metadata: { name: 'api' },
    spec: {
      destination: 'api',
      rules: [
        {
          sources: ['*'],
          action: 'allow',
          permissions: [
            {
              http: {
                paths: [{ exact: '/orders' }],
                query: [
                  { name: 'tenant', exact: 'acme' },
                  { name: 'page', glob: '*' },
                ],
              },
            },
          ],
        },
      ],
    },
  },
]);

const input = (query: string): DecisionInput => ({
  destination: 'api',
  source: { service: 'web' },
  request: { method: 'GET', path: '/orders', query },
});

/** The largest query still read: 256 parameters, 8,192 characters, escapes everywhere. */
function largest(variant: string): string {
  const head = `tenant=acme&page=${variant}`;
  const per = Math.floor((MAX_QUERY_LENGTH - head.length) / (MAX_QUERY_PARAMETERS - 2)) - 1;
  const params = Array.from({ length: MAX_QUERY_PARAMETERS - 2 }, (_, i) => {
    const name = `p%${(0x41 + (i % 26)).toString(16)}${i}=`;
    return `${name}${'%C3%A9+'.repeat(per).slice(0, per - name.length)}`;
  });
  const q = [head, ...params].join('&');
  return q + 'x'.repeat(MAX_QUERY_LENGTH - q.length);
}

function time(n: number, queries: [string, string], expect: boolean) {
  const inputs = queries.map(input);
  for (const i of inputs) {
    if (set.decide(i).allowed !== expect)
      throw new Error(`wrong decision for ${i.request?.query?.slice(0, 40)}`);
  }
  const samples = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const one = inputs[i & 1]!;
    const t = nowNs();
    set.decide(one);
    samples[i] = nowNs() - t;
  }
  const peer = new Float64Array(Math.min(n, 20_000));
  for (let i = 0; i < peer.length; i++) {
    const t = nowNs();
    new URLSearchParams(queries[i & 1]!).get('tenant');
    peer[i] = nowNs() - t;
  }
  return {
    chars: queries[0].length,
    p50_ns: round(percentile(samples, 50), 0),
    p99_ns: round(percentile(samples, 99), 0),
    peer_p50_ns: round(percentile(peer, 50), 0),
  };
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const n = Number(args[0] ?? 20_000);
  progress('query: typical');
  const typical = time(n, ['tenant=acme&page=2&sort=asc', 'tenant=acme&page=3&sort=asc'], true);
  progress('query: largest read');
  const big: [string, string] = [largest('1'), largest('2')];
  if (big[0].length !== MAX_QUERY_LENGTH) throw new Error(`largest is ${big[0].length}`);
  const largestRead = time(Math.min(n, 5000), big, true);
  progress('query: one character over');
  const over = time(n, [`${big[0]}x`, `${big[1]}x`], false);
  return {
    decisions: n,
    typical,
    largest_read: { ...largestRead, parameters: MAX_QUERY_PARAMETERS },
    over_bound: over,
    peer: 'new URLSearchParams(query).get("tenant") on the same strings',
  };
}
