/**
 * `npm run bench -- compile [runs]`: time to compile the generated 2,000-rule, 200-service set
 * (bench/_policy-fixture.ts): schema validation, semantic checks, CEL parse and type-check of
 * every condition, and index construction. Peer: `@cedar-policy/cedar-wasm` parsing the same
 * rules translated to Cedar (`preparsePolicySet`), in the same run. Reports the median run.
 */
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { compile } from '@ward/policy';
import { makePolicyFixture } from './_policy-fixture.ts';
import { nowNs, percentile, progress, round } from './_stats.ts';

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const runs = Number(args[0] ?? 7);
  const fixture = makePolicyFixture();
  progress(`compile: ${fixture.ruleCount} rules, ${runs} runs (first is a cold start)`);
  const ours: number[] = [];
  const peer: number[] = [];
  let cold = 0;
  for (let i = 0; i < runs; i++) {
    let t = nowNs();
    const set = compile(fixture.documents);
    const ms = (nowNs() - t) / 1e6;
    if (i === 0) cold = ms;
    ours.push(ms);
    if (set.rules().length !== fixture.ruleCount) throw new Error('rule count mismatch');
    t = nowNs();
    const answer = cedar.preparsePolicySet(`run${i}`, { staticPolicies: fixture.cedar });
    peer.push((nowNs() - t) / 1e6);
    if (answer.type !== 'success') throw new Error('cedar parse failed');
    progress(`run ${i}: ours ${round(ms)} ms, cedar ${round(peer.at(-1)!)} ms`);
  }
  return {
    rules: fixture.ruleCount,
    runs,
    ms: round(percentile(ours, 50)),
    cold_ms: round(cold),
    peer: '@cedar-policy/cedar-wasm preparsePolicySet (Cedar text of the same rules)',
    peer_ms: round(percentile(peer, 50)),
  };
}
