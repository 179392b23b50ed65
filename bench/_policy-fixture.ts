/**
 * A generated, deterministic policy set for benchmarks (and any test that wants scale): 200
 * services in 10 namespaces (`ns0/s000` … `ns9/s199`), 2,000 rules (a third with CEL conditions, a
 * fifth with L7 matchers; sources in the same and in other namespaces, globs, whole namespaces),
 * and a mix of decision inputs (allowed, denied, unknown callers). The same rules are also given as
 * Cedar policies, so the peer decides exactly the same thing.
 */
import {
  type DecisionInput,
  type IntentionRule,
  type PolicyDocument,
  serviceKey,
  serviceRefFrom,
} from '@ward/policy';

export interface PolicyFixture {
  documents: PolicyDocument[];
  /** Cedar policy text equivalent to `documents`. */
  cedar: string;
  inputs: DecisionInput[];
  ruleCount: number;
}

/** mulberry32: a small seeded PRNG, so every run benchmarks the same set. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TIERS = ['web', 'core', 'batch', 'support'];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE'];

/** Each condition as CEL and as the equivalent Cedar expression over the request context. */
const CONDITIONS: Array<{ cel: string; cedar: string }> = [
  { cel: 'source.labels.?tier.orValue("") == "web"', cedar: 'context.tier == "web"' },
  { cel: 'request.method == "GET"', cedar: 'context.method == "GET"' },
  {
    cel: 'passport.present && "admin" in passport.attrs.roles',
    cedar: 'context.passport.present && context.passport.roles.contains("admin")',
  },
  { cel: 'time.getHours() < 20', cedar: 'context.hour < 20' },
  {
    cel: 'request.path.startsWith("/api") && source.namespace == "ns1"',
    cedar: 'context.path like "/api*" && context.namespace == "ns1"',
  },
];

export function makePolicyFixture(
  services = 200,
  rulesPerService = 10,
  inputCount = 4096,
  seed = 42,
): PolicyFixture {
  const rnd = prng(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
  const plain = Array.from({ length: services }, (_, i) => `s${String(i).padStart(3, '0')}`);
  const ns = (i: number) => `ns${i % 10}`;
  // Service keys: every service lives in a namespace, so every input names one.
  const names = plain.map((name, i) => serviceKey(ns(i), name));
  const spiffe = (i: number) => `spiffe://ward.local/ns/${ns(i)}/sa/${plain[i]}`;
  const documents: PolicyDocument[] = plain.map((name, i) => ({
    apiVersion: 'ward.dev/v1',
    kind: 'Service',
    metadata: { name, namespace: ns(i), labels: { tier: TIERS[i % TIERS.length]! } },
    spec: { owner: `team-${i % 17}` },
  }));
  const cedar: string[] = [];
  const allowedPairs: Array<{ dest: string; src: number; rule: IntentionRule }> = [];
  let n = 0;
  for (let d = 0; d < services; d++) {
    const rules: IntentionRule[] = [];
    for (let r = 0; r < rulesPerService; r++, n++) {
      const srcIdx = Array.from({ length: 1 + Math.floor(rnd() * 3) }, () =>
        Math.floor(rnd() * services),
      );
      const kind = rnd();
      let sources: string[];
      let cedarSource: string;
      if (kind < 0.7) {
        // Relative names for callers in the destination's namespace, `ns/name` for the others.
        sources = srcIdx.map((i) => serviceRefFrom(names[i]!, ns(d)));
        cedarSource = `principal in [${srcIdx.map((i) => `Service::"${names[i]}"`).join(', ')}]`;
      } else if (kind < 0.85) {
        sources = srcIdx.map(spiffe);
        cedarSource = `[${srcIdx.map((i) => `"${spiffe(i)}"`).join(', ')}].contains(context.spiffeId)`;
      } else if (kind < 0.94) {
        const prefix = plain[srcIdx[0]!]!.slice(0, 3);
        sources = [`${ns(srcIdx[0]!)}/${prefix}*`];
        cedarSource = `context.service like "${ns(srcIdx[0]!)}/${prefix}*"`;
      } else if (kind < 0.97) {
        // A whole namespace (keys have one `/`, so Cedar's `*` cannot reach further).
        sources = [`${ns(srcIdx[0]!)}/*`];
        cedarSource = `context.service like "${ns(srcIdx[0]!)}/*"`;
      } else {
        sources = ['*'];
        cedarSource = 'true';
      }
      const action = rnd() < 0.8 ? 'allow' : 'deny';
      const rule: IntentionRule = { sources, action };
      const clauses = [cedarSource];
      if (n % 5 === 1) {
        const method = pick(METHODS);
        rule.permissions = [{ http: { methods: [method], paths: [{ prefix: '/api' }] } }];
        clauses.push(`context.method == "${method}" && context.path like "/api*"`);
      }
      if (n % 3 === 0) {
        const c = pick(CONDITIONS);
        rule.when = c.cel;
        clauses.push(c.cedar);
      }
      rules.push(rule);
      cedar.push(
        `${action === 'allow' ? 'permit' : 'forbid'}(principal, action == Action::"call", resource == Service::"${names[d]}") when { ${clauses.join(' && ')} };`,
      );
      if (action === 'allow' && kind < 0.85)
        allowedPairs.push({ dest: names[d]!, src: srcIdx[0]!, rule });
    }
    documents.push({
      apiVersion: 'ward.dev/v1',
      kind: 'Intention',
      metadata: { name: `to-${plain[d]}`, namespace: ns(d) },
      spec: { destination: plain[d]!, rules },
    });
  }
  const inputs: DecisionInput[] = [];
  const time = Date.UTC(2026, 0, 1, 10);
  const passport = {
    sub: 'u1',
    attrs: { roles: ['admin'] },
    iat: 1767261600,
    exp: 1767265200,
    iss: 'edge',
    kid: 'k1',
  };
  for (let i = 0; i < inputCount; i++) {
    const mix = i % 10;
    const request = {
      method: pick(METHODS),
      path: rnd() < 0.7 ? '/api/items' : '/health',
      headers: {},
    };
    if (mix < 5) {
      // Callers some rule names: mostly allowed (unless its condition or a deny says otherwise).
      const p = pick(allowedPairs);
      const m = p.rule.permissions?.[0]?.http?.methods?.[0];
      const byId = rnd() < 0.5;
      inputs.push({
        destination: p.dest,
        source: byId ? { spiffeId: spiffe(p.src) } : { service: names[p.src]! },
        request: { ...request, method: m ?? request.method, path: m ? '/api/items' : request.path },
        ...(rnd() < 0.5 ? { passport } : {}),
        time,
      });
    } else if (mix < 8) {
      // Random known pairs: mostly denied by default.
      inputs.push({ destination: pick(names), source: { service: pick(names) }, request, time });
    } else {
      // Unknown callers: a foreign SPIFFE ID, or an undeclared name.
      const source =
        mix === 8
          ? { spiffeId: `spiffe://other.example/ns/x/sa/u${i}` }
          : { service: i % 20 < 10 ? `ghost-${i % 50}` : `${ns(i)}/ghost-${i % 50}` };
      inputs.push({ destination: pick(names), source, request, time });
    }
  }
  return { documents, cedar: cedar.join('\n'), inputs, ruleCount: n };
}
