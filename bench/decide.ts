/**
 * `npm run bench -- decide [decisions]`: latency of `policySet.decide` on the generated 200-service,
 * 2,000-rule set (bench/_policy-fixture.ts), against `@cedar-policy/cedar-wasm` deciding the same
 * rules (translated to Cedar) for the same inputs with `statefulIsAuthorized` on a pre-parsed set.
 *
 * How latency is measured: every decision is timed on its own with `process.hrtime.bigint()`; the
 * timer's own cost (the median of timing an empty call, printed as `timer_overhead_ns`) is
 * subtracted. `per_sec` comes from a separate untimed loop over the same inputs, so it carries no
 * timer overhead. Both engines first decide every input once and must agree on every decision.
 */
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { compile, type DecisionInput, type PolicySet } from '@ward/policy';
import { makePolicyFixture } from './_policy-fixture.ts';
import { percentile, progress, round } from './_stats.ts';

function cedarCall(set: PolicySet, input: DecisionInput): cedar.StatefulAuthorizationCall {
  let { service, spiffeId } = input.source;
  const known = spiffeId
    ? set.serviceBySpiffeId(spiffeId)
    : service
      ? set.services.get(service)
      : undefined;
  service ??= known?.name;
  spiffeId ??= known?.spiffeId;
  return {
    principal: { type: 'Service', id: service ?? spiffeId ?? 'anonymous' },
    action: { type: 'Action', id: 'call' },
    resource: { type: 'Service', id: input.destination },
    context: {
      service: service ?? '',
      spiffeId: spiffeId ?? '',
      namespace: known?.namespace ?? '',
      tier: known?.labels.tier ?? '',
      method: input.request?.method ?? '',
      path: input.request?.path ?? '',
      hour: new Date(input.time ?? Date.now()).getUTCHours(),
      passport: {
        present: input.passport !== undefined,
        roles: (input.passport?.attrs.roles as string[] | undefined) ?? [],
      },
    },
    preparsedPolicySetId: 'bench',
    entities: [],
  };
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const decisions = Number(args[0] ?? 1_000_000);
  const peerDecisions = Number(args[1] ?? 20_000);
  const fixture = makePolicyFixture();
  const set = compile(fixture.documents);
  const inputs = fixture.inputs;
  const n = inputs.length;
  progress(
    `decide: ${fixture.ruleCount} rules, ${set.services.size} services, ${n} distinct inputs`,
  );

  const parsed = cedar.preparsePolicySet('bench', { staticPolicies: fixture.cedar });
  if (parsed.type !== 'success')
    throw new Error(`cedar parse failed: ${JSON.stringify(parsed.errors[0])}`);
  const calls = inputs.map((i) => cedarCall(set, i));

  // Equivalence: the peer must decide the same thing, or the comparison means nothing.
  let agree = 0;
  let allowed = 0;
  for (let i = 0; i < n; i++) {
    const ours = set.decide(inputs[i]!);
    const answer = cedar.statefulIsAuthorized(calls[i]!);
    if (answer.type !== 'success')
      throw new Error(`cedar failed: ${JSON.stringify(answer.errors[0])}`);
    if (answer.response.decision === ours.effect) agree++;
    if (ours.allowed) allowed++;
  }
  progress(`agreement with cedar: ${agree}/${n}; allowed ${allowed}/${n}`);

  // Warm-up, then the untimed throughput loop.
  let sink = 0;
  for (let i = 0; i < 300_000; i++) if (set.decide(inputs[i % n]!).allowed) sink++;
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < decisions; i++) if (set.decide(inputs[i % n]!).allowed) sink++;
  const loopNs = Number(process.hrtime.bigint() - t0);

  // Timer overhead: median cost of timing nothing.
  const empty = new Float64Array(100_000);
  for (let i = 0; i < empty.length; i++) {
    const a = process.hrtime.bigint();
    empty[i] = Number(process.hrtime.bigint() - a);
  }
  const overhead = percentile(empty, 50);

  const samples = new Float64Array(decisions);
  for (let i = 0; i < decisions; i++) {
    const input = inputs[i % n]!;
    const a = process.hrtime.bigint();
    const d = set.decide(input);
    samples[i] = Number(process.hrtime.bigint() - a) - overhead;
    if (d.allowed) sink++;
  }
  const p50 = percentile(samples, 50);
  const p99 = percentile(samples, 99);
  progress(`ours: p50 ${p50} ns, p99 ${p99} ns (timer overhead ${overhead} ns subtracted)`);

  for (let i = 0; i < 2_000; i++) cedar.statefulIsAuthorized(calls[i % n]!);
  const peer = new Float64Array(peerDecisions);
  for (let i = 0; i < peerDecisions; i++) {
    const call = calls[i % n]!;
    const a = process.hrtime.bigint();
    cedar.statefulIsAuthorized(call);
    peer[i] = Number(process.hrtime.bigint() - a) - overhead;
  }
  const peerP50 = percentile(peer, 50);
  progress(`cedar: p50 ${peerP50} ns over ${peerDecisions} decisions`);
  t0 = process.hrtime.bigint();
  if (sink < 0) progress('unreachable');

  return {
    rules: fixture.ruleCount,
    services: set.services.size,
    decisions,
    allowed_fraction: round(allowed / n, 3),
    p50_ns: round(p50, 0),
    p99_ns: round(p99, 0),
    per_sec: Math.round(decisions / (loopNs / 1e9)),
    timer_overhead_ns: overhead,
    peer: '@cedar-policy/cedar-wasm statefulIsAuthorized (pre-parsed policy set)',
    peer_decisions: peerDecisions,
    peer_p50_ns: round(peerP50, 0),
    peer_p99_ns: round(percentile(peer, 99), 0),
    peer_agreement: `${agree}/${n}`,
    ratio: round(peerP50 / Math.max(p50, 1), 1),
  };
}
