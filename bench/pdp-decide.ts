/**
 * `npm run bench -- pdp-decide [decisions]`: what the PDP runtime adds to a decision. `pdp.decide`
 * (current-bundle lookup, destination default, try/catch, decision counters for the metrics)
 * against the bare `PolicySet.decide` it delegates to, on the same compiled policy (the generated
 * 200-service, 2,000-rule set of bench/_policy-fixture.ts) and the same inputs. The PDP is
 * started from a signed bundle in its disk cache, with no control plane reachable.
 *
 * Throughput of untimed loops, alternating between the two in several rounds (so neither profits
 * from running second), plus the cost of one Prometheus scrape of the PDP's metrics.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BundleV1 } from '@ward/api-types';
import { exportPublicKey, generateBundleSigningKey, signBundle } from '@ward/bundle';
import { compile, type Decision, type DecisionInput } from '@ward/policy';
import { createPdp } from '../packages/sdk/src/index.ts';
import { cacheFile } from '../packages/sdk/src/pdp/cache.ts';
import { makePolicyFixture } from './_policy-fixture.ts';
import { percentile, progress, round } from './_stats.ts';

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const decisions = Number(args[0] ?? 2_000_000);
  const fixture = makePolicyFixture();
  const { privateKey, publicKey } = generateBundleSigningKey();
  const bundle: BundleV1 = {
    apiVersion: 'ward.dev/v1',
    kind: 'Bundle',
    service: 'ns0/s000',
    revision: 1,
    issuedAt: new Date().toISOString(),
    trustDomain: 'ward.local',
    documents: fixture.documents,
    passportKeys: [],
  };
  const dir = mkdtempSync(join(tmpdir(), 'ward-bench-pdp-decide-'));
  writeFileSync(cacheFile(dir, 'ns0/s000'), JSON.stringify(signBundle(bundle, privateKey)));
  const pdp = createPdp({
    service: 'ns0/s000',
    controlPlanes: ['http://127.0.0.1:9'],
    publicKey: exportPublicKey(publicKey),
    cacheDir: dir,
    logger: { warn() {} },
  });
  const set = compile(fixture.documents, { trustDomain: 'ward.local' });
  const inputs = fixture.inputs;
  const mask = inputs.length - 1; // the fixture makes a power of two
  if ((inputs.length & mask) !== 0) throw new Error('input count must be a power of two');

  // Both must agree before anything is timed.
  for (const input of inputs) {
    const a = pdp.decide(input);
    const b = set.decide(input);
    if (a.allowed !== b.allowed || a.effect !== b.effect)
      throw new Error('PDP and PolicySet disagree');
  }

  const loop = (decide: (i: DecisionInput) => Decision): number => {
    let allowed = 0;
    const start = process.hrtime.bigint();
    for (let i = 0; i < decisions; i++) if (decide(inputs[i & mask]!).allowed) allowed++;
    const ns = Number(process.hrtime.bigint() - start);
    if (allowed < 0) throw new Error('unreachable'); // keeps the loop's result alive
    return decisions / (ns / 1e9);
  };
  const pdpRates: number[] = [];
  const setRates: number[] = [];
  for (let round_ = 0; round_ < 5; round_++) {
    pdpRates.push(loop((i) => pdp.decide(i)));
    setRates.push(loop((i) => set.decide(i)));
    progress(
      `round ${round_ + 1}: pdp ${round(pdpRates.at(-1)! / 1e6, 2)} M/s, policySet ${round(setRates.at(-1)! / 1e6, 2)} M/s`,
    );
  }
  const scrapeStart = process.hrtime.bigint();
  const text = await pdp.metrics().metrics();
  const scrapeMs = Number(process.hrtime.bigint() - scrapeStart) / 1e6;
  if (!text.includes('ward_pdp_decisions_total')) throw new Error('metrics missing');
  await pdp.close();
  rmSync(dir, { recursive: true, force: true });
  const pdpPerSec = percentile(pdpRates, 50);
  const setPerSec = percentile(setRates, 50);
  return {
    decisions,
    pdp_per_sec: Math.round(pdpPerSec),
    pdp_ns: round(1e9 / pdpPerSec),
    overhead_ns: round(1e9 / pdpPerSec - 1e9 / setPerSec),
    metrics_scrape_ms: round(scrapeMs, 2),
    peer: {
      name: 'PolicySet.decide (bare engine)',
      per_sec: Math.round(setPerSec),
      ns: round(1e9 / setPerSec),
    },
  };
}
