/**
 * `npm run bench -- worst-case [decisions]`: the inputs that froze a service's event loop before
 * evaluation was bounded (issue 9), decided by `policySet.decide`, against the peer that used to
 * run them: JavaScript's backtracking RegExp (the old glob compiler, and V8's RegExp for
 * `matches()`). The peer runs on a shortened input so that it finishes; its time grows
 * exponentially (regex) or polynomially with a high degree (globs) in the input length, so the
 * real input's time is far beyond the figure printed.
 *
 * Also prints, per glob, the same glob compiled to re2js (RE2's linear DFA) — the alternative to
 * the hand-written matcher of packages/policy/src/glob.ts — to show why that matcher was chosen.
 */
import { compile, type DecisionInput, type PolicySet } from '@ward/policy';
import { RE2JS } from 're2js';
import { backtrackingGlob } from '../packages/policy/test/backtracking-glob.ts';
import { nowNs, percentile, progress, round } from './_stats.ts';

function policy(rule: Record<string, unknown>): PolicySet {
  return compile([
    {
      apiVersion: 'ward.dev/v1',
      kind: 'Intention',
      metadata: { name: 'api' },
      spec: { destination: 'api', rules: [{ sources: ['*'], action: 'allow', ...rule }] },
    },
  ] as never);
}

const input = (path: string): DecisionInput => ({
  destination: 'api',
  source: { service: 'web' },
  request: { method: 'GET', path },
});

function re2Glob(pattern: string): RE2JS {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      re += '(?s:.*)';
      i++;
    } else if (c === '*') re += '[^/]*';
    else re += RE2JS.quote(c);
  }
  return RE2JS.compile(re);
}

/** Per-call latency in ns (p50, p99) over `n` timed calls of `fn`. */
function time(n: number, fn: () => unknown): { p50_ns: number; p99_ns: number } {
  for (let i = 0; i < Math.min(n, 200); i++) fn();
  const samples = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = nowNs();
    fn();
    samples[i] = nowNs() - t;
  }
  return { p50_ns: round(percentile(samples, 50)), p99_ns: round(percentile(samples, 99)) };
}

/** One timed run of the peer (it can take seconds), in ms. */
function once(fn: () => unknown): number {
  const t = nowNs();
  fn();
  return round((nowNs() - t) / 1e6, 2);
}

interface Case {
  name: string;
  set: PolicySet;
  path: string;
  expect: boolean;
  peer: { what: string; input_chars: number; run: () => unknown };
  re2?: RE2JS;
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const n = Number(args[0] ?? 20_000);
  const g1 = '/**/**/**/**/x';
  const g2 = `${'/**'.repeat(20)}/x`;
  const g3 = `/${'*a'.repeat(8)}*b`;
  const evil = '^/(a+)+$';
  const cases: Case[] = [
    {
      // Ends in `/x`, so the literal head/tail shortcut passes and the full match runs.
      name: `glob ${g1} vs a 1,000-character path`,
      set: policy({ permissions: [{ http: { paths: [{ glob: g1 }] } }] }),
      path: `/${'a'.repeat(500)}/${'a'.repeat(495)}/x`,
      expect: false,
      peer: {
        what: 'old RegExp glob, 200-character path',
        input_chars: 200,
        run: () => backtrackingGlob(g1).test(`/${'a/'.repeat(99)}a`),
      },
      re2: re2Glob(g1),
    },
    {
      name: `glob of 20 ** vs 61 characters`,
      set: policy({ permissions: [{ http: { paths: [{ glob: g2 }] } }] }),
      path: `${'/'.repeat(19)}${'a'.repeat(40)}/x`,
      expect: false,
      peer: {
        what: 'old RegExp glob, 30 slashes',
        input_chars: 30,
        run: () => backtrackingGlob(g2).test('/'.repeat(30)),
      },
      re2: re2Glob(g2),
    },
    {
      // Single-segment stars: the one shape that needs the O(n·m) row programme.
      name: `glob ${g3} vs a 1,000-character segment`,
      set: policy({ permissions: [{ http: { paths: [{ glob: g3 }] } }] }),
      path: `/${'a'.repeat(997)}/b`,
      expect: false,
      peer: {
        what: 'old RegExp glob, 26-character segment',
        input_chars: 26,
        run: () => backtrackingGlob(g3).test(`/${'a'.repeat(25)}`),
      },
      re2: re2Glob(g3),
    },
    {
      name: `matches("${evil}") vs 29 characters`,
      set: policy({ when: `request.path.matches("${evil}")` }),
      path: `/${'a'.repeat(27)}!`,
      expect: false,
      peer: {
        what: 'JavaScript RegExp, 24 characters',
        input_chars: 24,
        run: () => new RegExp(evil).test(`/${'a'.repeat(22)}!`),
      },
    },
  ];
  const results = [];
  for (const c of cases) {
    const req = input(c.path);
    const d = c.set.decide(req);
    if (d.allowed !== c.expect) throw new Error(`${c.name}: wrong decision ${d.reason}`);
    progress(`worst-case: ${c.name}`);
    const ward = time(n, () => c.set.decide(req));
    const re2 = c.re2;
    const peerMs = once(c.peer.run);
    results.push({
      case: c.name,
      input_chars: c.path.length,
      ward,
      ...(re2 ? { re2js_glob: time(Math.min(n, 5000), () => re2.testExact(c.path)) } : {}),
      peer: { what: c.peer.what, input_chars: c.peer.input_chars, ms: peerMs },
    });
  }
  return { decisions_per_case: n, cases: results };
}
