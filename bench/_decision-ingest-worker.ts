/**
 * Shipper process of the `decision-ingest` benchmark: N real SDK decision-log shippers
 * (`createDecisionLogShipper`) recording synthetic decisions at an offered rate, in a process of
 * their own so they do not share the control plane's event loop. Reports counters over IPC.
 */
import { createDecisionLogShipper, type DecisionLogEntry } from '@ward/sdk';

interface Config {
  url: string;
  /** One pdp token per shipper: shipper i is the PDP of service `svc-i`. */
  tokens: string[];
  shippers: number;
  services: number;
  edges: number;
  /** Decisions per second offered, all shippers together. */
  rate: number;
  fold: boolean;
}

const config = JSON.parse(process.argv[2]!) as Config;
const names = Array.from({ length: config.services }, (_, i) => `svc-${i}`);
// A fixed random-looking set of edges; each shipper is one destination's PDP (its token is bound
// to that service) and logs the calls into it.
const edges: { source: string; destination: string; shipper: number }[] = [];
const seen = new Set<string>();
let seed = 42;
const rand = (n: number) => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return (seed >>> 8) % n;
};
while (edges.length < config.edges) {
  const s = rand(config.services);
  const d = rand(config.shippers);
  if (s === d || seen.has(`${s}:${d}`)) continue;
  seen.add(`${s}:${d}`);
  edges.push({ source: names[s]!, destination: names[d]!, shipper: d });
}
// The rules the bench policy gives every destination (see decision-ingest.ts).
const rulesOf = names.map((name) => [
  { policy: `${name}-allow`, index: 0, action: 'allow' as const, mode: 'enforce' as const },
  { policy: `${name}-tighten`, index: 0, action: 'deny' as const, mode: 'dry-run' as const },
]);
// Route templates, as the Fastify and Express middleware report them.
const paths = ['/orders/:id', '/orders', '/items/:sku', '/health', '/cart/:id/items'];

const shippers = Array.from({ length: config.shippers }, (_, i) =>
  createDecisionLogShipper({
    controlPlanes: config.url,
    token: config.tokens[i]!,
    capacity: 20_000,
    batchSize: 500,
    flushIntervalMs: 200,
    fold: config.fold,
  }),
);

let recorded = 0;
let n = 0;
const start = performance.now();
let stopping = false;

function tick(): void {
  if (stopping) return;
  const due = Math.floor(((performance.now() - start) / 1000) * config.rate) - recorded;
  const todo = Math.min(due, 20_000);
  const now = Date.now();
  for (let i = 0; i < todo; i++) {
    n = (Math.imul(n, 1103515245) + 12345) >>> 0;
    // High bits: an LCG's low bits repeat with short periods.
    const edge = edges[(n >>> 7) % edges.length]!;
    const deny = (n >>> 20) % 100 < 3; // 3 % of calls denied (by a dry-run rule)
    const entry: DecisionLogEntry = {
      time: now,
      source: edge.source,
      destination: edge.destination,
      method: 'GET',
      path: paths[(n >>> 24) % paths.length]!,
      routed: true,
      effect: deny ? 'deny' : 'allow',
      enforced: !deny,
      rule: rulesOf[edge.shipper]![deny ? 1 : 0]!,
      revision: 7,
      subject: undefined,
      kid: undefined,
    };
    shippers[edge.shipper]!.record(entry);
  }
  recorded += todo;
  setImmediate(tick);
}

function totals() {
  let shipped = 0;
  let dropped = 0;
  let failed = 0;
  let lastError: string | null = null;
  for (const s of shippers) {
    const st = s.stats();
    shipped += st.shipped;
    dropped += st.dropped;
    failed += st.failedAttempts;
    if (st.lastError) lastError = `${st.lastError.code}: ${st.lastError.message}`;
  }
  return { recorded, shipped, dropped, failed, lastError, at: performance.now() };
}

const report = setInterval(() => process.send?.({ type: 'stats', ...totals() }), 250);
process.on('message', async (m: { type: string }) => {
  if (m.type !== 'stop') return;
  stopping = true;
  clearInterval(report);
  await Promise.all(shippers.map((s) => s.close()));
  process.send!({ type: 'final', ...totals() });
  process.disconnect?.();
});
process.send?.({ type: 'ready' });
tick();
