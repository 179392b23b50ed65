/**
 * A small model of Istio AuthorizationPolicy and Kubernetes NetworkPolicy semantics, for comparing
 * exported manifests with Ward's decisions (rule-export tests): Istio rules match on principals,
 * methods, paths and `notPaths` (exact, `x*` prefix, `*x` suffix, `*`), ports and `when` on
 * request headers; DENY policies before ALLOW; deny when an ALLOW selects the workload and none
 * matches. Workloads are selected by `app.kubernetes.io/name`.
 */
import { istioMatches } from '../src/writers/istio-match.ts';

// biome-ignore lint/suspicious/noExplicitAny: manifests are read as loose JSON in this evaluator
export type Json = Record<string, any>;

export interface IstioRequest {
  principal?: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  port: number;
}

/** Istio's rule semantics: any `from`, any `to`, every `when`; absent parts match all. */
function ruleMatches(rule: Json, req: IstioRequest): boolean {
  const from = (rule.from as Json[] | undefined)?.some((f) =>
    (f.source.principals as string[]).some(
      (p) => req.principal !== undefined && istioMatches(p, req.principal),
    ),
  );
  if (from === false) return false;
  const to = (rule.to as Json[] | undefined)?.some(({ operation: op }) => {
    if (op.methods && !op.methods.includes(req.method)) return false;
    if (op.paths && !op.paths.some((p: string) => istioMatches(p, req.path))) return false;
    if (op.notPaths?.some((p: string) => istioMatches(p, req.path))) return false;
    if (op.ports && !op.ports.includes(String(req.port))) return false;
    return true;
  });
  if (to === false) return false;
  return ((rule.when as Json[] | undefined) ?? []).every((c) => {
    const name = /^request\.headers\[(.+)\]$/.exec(c.key)![1]!;
    const value = req.headers[name];
    return value !== undefined && (c.values as string[]).some((v) => istioMatches(v, value));
  });
}

const policyMatches = (p: Json, req: IstioRequest) =>
  ((p.spec.rules as Json[] | undefined) ?? []).some((r) => ruleMatches(r, req));

function selects(p: Json, workload: string): boolean {
  const labels: Record<string, string> = { 'app.kubernetes.io/name': workload };
  const want = p.spec.selector?.matchLabels ?? {};
  return Object.entries(want).every(([k, v]) => labels[k] === v);
}

/** Istio's decision for a workload from its enforced (not dry-run) policies. */
export function istioAllows(manifests: Json[], workload: string, req: IstioRequest): boolean {
  const mine = manifests.filter(
    (m) => selects(m, workload) && m.metadata.annotations?.['istio.io/dry-run'] !== 'true',
  );
  if (mine.some((m) => m.spec.action === 'DENY' && policyMatches(m, req))) return false;
  const allows = mine.filter((m) => (m.spec.action ?? 'ALLOW') === 'ALLOW');
  return allows.length === 0 || allows.some((m) => policyMatches(m, req));
}

/** Whether any Istio rule exported from Ward rule `id` matches. */
export function exportedRuleMatches(
  manifests: Json[],
  workload: string,
  id: string,
  req: IstioRequest,
) {
  return manifests.some((m) => {
    if (!selects(m, workload) || !m.metadata.annotations?.['ward.dev/rules']) return false;
    const from = (m.metadata.annotations['ward.dev/rules'] as string).split(',');
    return (m.spec.rules as Json[]).some((r, i) => from[i] === id && ruleMatches(r, req));
  });
}

/**
 * Whether the NetworkPolicies let `caller` reach `dest` (both selected by
 * `app.kubernetes.io/name`): an ingress rule at dest with no `from` or a peer selecting caller,
 * and an egress rule at caller (its own or a namespace-wide one) to dest.
 */
export function l4Admits(manifests: Json[], caller: string, dest: string): boolean {
  const name = (sel: Json | undefined) => sel?.matchLabels?.['app.kubernetes.io/name'];
  const ingress = manifests.some(
    (m) =>
      name(m.spec.podSelector) === dest &&
      (m.spec.ingress as Json[] | undefined)?.some(
        (r) => !r.from || (r.from as Json[]).some((p) => name(p.podSelector) === caller),
      ),
  );
  const egress = manifests.some(
    (m) =>
      (name(m.spec.podSelector) === caller || Object.keys(m.spec.podSelector).length === 0) &&
      (m.spec.egress as Json[] | undefined)?.some((r) =>
        (r.to as Json[]).some((p) => name(p.podSelector) === dest),
      ),
  );
  return ingress && egress;
}
