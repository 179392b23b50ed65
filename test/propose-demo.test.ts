/**
 * `ward propose` round trip on the real demo (control plane, mesh, traffic, in this process):
 * one run of traffic, propose, apply the proposals (dry-run), more traffic, promote them through
 * the promote gate (no force), more traffic; then, through the reports API, no call on a
 * proposed edge was denied or would have been, and no proposed approval went unused.
 *
 * Twice: on the demo's own examples (which already allow most edges), and on a demo started with
 * only its Service documents, each destination in soft-apply (a dry-run intention that names no
 * real caller), so that propose has to build the whole policy from one run. The figures are
 * printed (`propose-demo:` lines) for the notes.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { DEFAULT_POLICY_DIR, type RunningDemo, runDemo } from '@ward/demo';
import { canonicalServiceKey, documentKey, namespaceOfKey, type ProposeResult } from '@ward/policy';
import { serviceByConvention } from '@ward/spiffe';
import { afterAll, describe, expect, it } from 'vitest';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Traffic for a phase: the demo sends `RPS` user requests a second and scrapes every 2 s. */
const PHASE_MS = 7000;
/** Shippers flush every second; the control plane answers a batch once it is written. */
const FLUSH_MS = 2500;
const RPS = 20;

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function startDemo(policyDir?: string): Promise<RunningDemo> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ward-propose-demo-'));
  dirs.push(dataDir);
  const out = new PassThrough();
  out.resume();
  return runDemo({ port: 0, dataDir, rps: RPS, out, ...(policyDir ? { policyDir } : {}) });
}

// biome-ignore lint/suspicious/noExplicitAny: report bodies are read field by field
type Json = any;

function client(demo: RunningDemo) {
  const base = demo.info.controlPlane;
  return async (
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: Json; text: string }> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${demo.info.adminToken}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: res.status, body: parsed, text };
  };
}

interface Figures {
  rounds: number;
  proposals: number;
  rules: number;
  edges: number;
  permissions: number;
  wholeEdges: number;
  promoted: string[];
  dryRunDenialsBeforePromote: number;
  deniedAfterPromote: number;
  wouldDenyAfterPromote: number;
  unusedProposed: number;
  unapprovedAfter: number;
  /** Calls on the proposed edges in the first run (the evidence). */
  observedCalls: number;
}

/** The round trip; returns the figures. */
async function roundTrip(demo: RunningDemo, maxRounds = 1): Promise<Figures> {
  const api = client(demo);
  const phase = async () => {
    const start = new Date().toISOString();
    await sleep(PHASE_MS);
    await sleep(FLUSH_MS);
    return start;
  };
  const run1 = await phase();

  // Propose and apply until nothing observed is left uncovered: one round when every call got
  // through the first run; more when default denials hid the calls behind the first hop.
  const proposals: ProposeResult['proposals'] = [];
  let rounds = 0;
  let run2 = run1;
  for (;;) {
    const proposed = await api('GET', `/v1/propose?since=${encodeURIComponent(run1)}`);
    expect(proposed.status).toBe(200);
    const round = (proposed.body as ProposeResult).proposals;
    if (round.length === 0) break;
    rounds++;
    expect(rounds, 'rounds of propose').toBeLessThanOrEqual(maxRounds);
    proposals.push(...round);
    const yaml = await api('GET', `/v1/propose?since=${encodeURIComponent(run1)}&format=yaml`);
    const applied = await api('POST', '/v1/apply', {
      files: [{ name: `proposed-${rounds}.yaml`, content: yaml.text }],
    });
    expect(applied.status, applied.text).toBe(200);
    await sleep(FLUSH_MS); // PDPs follow the watch stream; let the new revision reach them
    run2 = await phase();
  }
  expect(proposals.length).toBeGreaterThan(0);
  const result = { proposals };
  const destinations = [...new Set(proposals.map((p) => p.destination))].sort();

  // Promote every proposed destination through the gate: no force, the window since the apply.
  const promoted: string[] = [];
  let dryRunDenials = 0;
  for (const destination of destinations) {
    const window = `${Math.ceil((Date.now() - Date.parse(run2)) / 1000)}s`;
    const dry = await api(
      'GET',
      `/v1/reports/dry-run?since=${encodeURIComponent(run2)}&service=${encodeURIComponent(destination)}`,
    );
    dryRunDenials += (dry.body.items as Json[]).reduce((n: number, i: Json) => n + i.count, 0);
    const r = await api('POST', `/v1/services/${encodeURIComponent(destination)}/promote`, {
      window,
    });
    expect(r.status, r.text).toBe(200);
    expect(r.body.forced).toBe(false);
    promoted.push(...(r.body.promoted as string[]));
  }
  await sleep(FLUSH_MS);
  const run3 = await phase();

  // Every proposed edge, by destination key, its callers' keys (a proposal writes a source
  // relative to its destination's namespace; decision logs carry keys, or SPIFFE IDs).
  const proposedEdges = new Map<string, Set<string>>();
  for (const p of result.proposals) {
    const set = proposedEdges.get(p.destination) ?? new Set<string>();
    const namespace = namespaceOfKey(p.destination);
    for (const r of p.rules) {
      for (const source of r.sources) set.add(canonicalServiceKey(source, namespace) ?? source);
    }
    proposedEdges.set(p.destination, set);
  }
  const named = (source: string) =>
    source.startsWith('spiffe://') ? (serviceByConvention(source) ?? source) : source;
  let denied = 0;
  for (const [destination, sources] of proposedEdges) {
    const d = await api(
      'GET',
      `/v1/decision-logs/denials?since=${encodeURIComponent(run3)}&destination=${encodeURIComponent(destination)}&limit=10000`,
    );
    for (const i of d.body.items as Json[]) if (sources.has(named(i.source))) denied += i.count;
  }
  const dry = await api('GET', `/v1/reports/dry-run?since=${encodeURIComponent(run3)}`);
  const wouldDeny = (dry.body.items as Json[])
    .filter((i) => proposedEdges.get(i.destination)?.has(named(i.source)))
    .reduce((n: number, i: Json) => n + i.count, 0);
  const unused = await api('GET', `/v1/reports/unused?since=${encodeURIComponent(run3)}`);
  // Rule names are `<intention key>#<index>`: `shop/orders-proposed#0`.
  const proposedNames = new Set(result.proposals.map((p) => documentKey(p.document)));
  const unusedProposed = (unused.body.items as Json[]).filter((i) =>
    (i.rules as Json[]).some((r) => proposedNames.has(String(r.rule).split('#')[0]!)),
  );
  const unapproved = await api('GET', `/v1/reports/unapproved?since=${encodeURIComponent(run3)}`);
  // After the promotion nothing observed is left to propose.
  const again = await api('GET', `/v1/propose?since=${encodeURIComponent(run3)}`);
  expect(again.body.proposals).toEqual([]);
  return {
    rounds,
    proposals: result.proposals.length,
    rules: result.proposals.reduce((n, p) => n + p.rules.length, 0),
    edges: [...proposedEdges.values()].reduce((n, s) => n + s.size, 0),
    permissions: result.proposals.reduce(
      (n, p) => n + p.document.spec.rules.reduce((m, r) => m + (r.permissions?.length ?? 0), 0),
      0,
    ),
    wholeEdges: result.proposals.reduce((n, p) => n + p.rules.filter((r) => r.wholeEdge).length, 0),
    promoted,
    dryRunDenialsBeforePromote: dryRunDenials,
    deniedAfterPromote: denied,
    wouldDenyAfterPromote: wouldDeny,
    unusedProposed: unusedProposed.length,
    unapprovedAfter: (unapproved.body.items as Json[]).length,
    observedCalls: result.proposals.reduce(
      (n, p) => n + p.rules.reduce((m, r) => m + r.evidence.reduce((k, e) => k + e.calls, 0), 0),
      0,
    ),
  };
}

/** A policy folder with only the demo's Service documents. */
function servicesOnly(): string {
  const policyDir = mkdtempSync(join(tmpdir(), 'ward-propose-policy-'));
  dirs.push(policyDir);
  copyFileSync(join(DEFAULT_POLICY_DIR, 'services.yaml'), join(policyDir, 'services.yaml'));
  // The edge's own intention stays: outside callers are anonymous end users, so which users may
  // do what at the door is a decision, not something traffic can teach (propose learns the
  // service-to-service edges behind it).
  copyFileSync(join(DEFAULT_POLICY_DIR, 'edge.yaml'), join(policyDir, 'edge.yaml'));
  return policyDir;
}

/**
 * Runs the round trip on a fresh demo, prints its figures and checks what every run must end
 * with: no dry-run denial left before promote, nothing denied or would-be denied after it, and no
 * proposed approval unused.
 */
async function cleanRoundTrip(
  label: string,
  policyDir?: string,
  maxRounds = 1,
): Promise<Figures & { python: boolean }> {
  const demo = await startDemo(policyDir);
  try {
    const f = { ...(await roundTrip(demo, maxRounds)), python: demo.info.python.running };
    console.log(`propose-demo: ${label} ${JSON.stringify(f)}`);
    expect(f.dryRunDenialsBeforePromote).toBe(0);
    expect(f.deniedAfterPromote).toBe(0);
    expect(f.wouldDenyAfterPromote).toBe(0);
    expect(f.unusedProposed).toBe(0);
    return f;
  } finally {
    await demo.stop();
  }
}

describe('ward propose on the demo', () => {
  it('on the demo examples: proposals + promote leave no would-deny call and no unused approval', async () => {
    await cleanRoundTrip('examples');
  }, 180_000);

  it('on a demo with only Service documents: one run builds the whole policy', async () => {
    const policyDir = servicesOnly();
    // Each destination in soft-apply: a dry-run intention naming no real caller lets every call
    // through and logs it as a dry-run denial, with its method and path.
    const observe = ['frontend', 'orders', 'payments', 'inventory', 'notifications', 'reviews'].map(
      (d) => `apiVersion: ward.dev/v1
kind: Intention
metadata: { name: observe-${d}, namespace: shop }
spec:
  destination: ${d}
  mode: dry-run
  rules: [{ sources: [nobody], action: deny, description: observe only (soft-apply) }]
`,
    );
    mkdirSync(policyDir, { recursive: true });
    writeFileSync(join(policyDir, 'observe.yaml'), observe.join('---\n'));
    const f = await cleanRoundTrip('services-only', policyDir);
    // One per destination; reviews (the Python service) runs where python3 does.
    expect(f.proposals).toBe(f.python ? 6 : 5);
    expect(f.unapprovedAfter).toBe(0);
  }, 180_000);

  it('on a demo with only Service documents, denied by default: a few rounds build the policy', async () => {
    // Each refused call hides the calls behind it (edge → frontend, then frontend → orders, then
    // orders → payments):
    // every round proposes what the previous one let through.
    const f = await cleanRoundTrip('services-only-default-deny', servicesOnly(), 4);
    expect(f.rounds).toBeGreaterThan(1);
    expect(f.unapprovedAfter).toBe(0);
  }, 300_000);
});
