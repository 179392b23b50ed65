/**
 * A small model of Istio AuthorizationPolicy and Kubernetes NetworkPolicy semantics, for comparing
 * exported manifests with Ward's decisions (rule-export tests): Istio rules match on principals,
 * methods, paths and `notPaths` (exact, `x*` prefix, `*x` suffix, `*`), ports and `when` on
 * request headers; DENY policies before ALLOW; deny when an ALLOW selects the workload and none
 * matches. Workloads are selected by `app.kubernetes.io/name`.
 */
import { namespaceOfKey, splitServiceKey } from '@ward/spiffe';
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

/** The namespace Istio reads from a principal (`td/ns/<ns>/sa/<sa>`). */
const principalNs = (p: string | undefined) =>
  p ? /^[^/]+\/ns\/([^/]+)\//.exec(p)?.[1] : undefined;

/**
 * One `from.source`: every field given must hold (principals: any matches; namespaces: the
 * principal's namespace is listed; notPrincipals: none matches). mTLS is assumed, so a caller
 * without a principal matches no source.
 */
function sourceMatches(src: Json, req: IstioRequest): boolean {
  const p = req.principal;
  if (p === undefined) return false;
  if (src.principals && !(src.principals as string[]).some((x) => istioMatches(x, p))) return false;
  if (
    src.namespaces &&
    !(src.namespaces as string[]).some((n) => istioMatches(n, principalNs(p) ?? ''))
  )
    return false;
  if ((src.notPrincipals as string[] | undefined)?.some((x) => istioMatches(x, p))) return false;
  return true;
}

/** Istio's rule semantics: any `from`, any `to`, every `when`; absent parts match all. */
function ruleMatches(rule: Json, req: IstioRequest): boolean {
  const from = (rule.from as Json[] | undefined)?.some((f) => sourceMatches(f.source, req));
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

/** Whether a policy selects the workload of a service key: in its namespace, by its label. */
function selects(p: Json, workload: string): boolean {
  const { namespace, name } = splitServiceKey(workload);
  if ((p.metadata.namespace ?? 'default') !== namespace) return false;
  const labels: Record<string, string> = { 'app.kubernetes.io/name': name };
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
 * Whether the NetworkPolicies let `caller` reach `dest` (service keys; pods labelled
 * `app.kubernetes.io/name` with the plain name, in the key's namespace): an ingress rule at dest
 * with no `from` or a peer selecting caller, and an egress rule at caller (its own or a
 * namespace-wide one) to dest. A peer selects pods in the namespaces its `namespaceSelector`
 * names (none: the policy's own), with its `podSelector` (none: every pod).
 */
export function l4Admits(manifests: Json[], caller: string, dest: string): boolean {
  const name = (sel: Json | undefined) => sel?.matchLabels?.['app.kubernetes.io/name'];
  const peerSelects = (peer: Json, home: string, key: string) => {
    const { namespace, name: plain } = splitServiceKey(key);
    const ns = peer.namespaceSelector
      ? peer.namespaceSelector.matchLabels?.['kubernetes.io/metadata.name'] === namespace
      : home === namespace;
    const pod = peer.podSelector === undefined || name(peer.podSelector) === plain;
    return ns && pod;
  };
  const selected = (m: Json, key: string) =>
    m.metadata.namespace === namespaceOfKey(key) &&
    (Object.keys(m.spec.podSelector).length === 0 ||
      name(m.spec.podSelector) === splitServiceKey(key).name);
  const ingress = manifests.some(
    (m) =>
      selected(m, dest) &&
      Object.keys(m.spec.podSelector).length > 0 &&
      (m.spec.ingress as Json[] | undefined)?.some(
        (r) =>
          !r.from || (r.from as Json[]).some((p) => peerSelects(p, m.metadata.namespace, caller)),
      ),
  );
  const egress = manifests.some(
    (m) =>
      selected(m, caller) &&
      (m.spec.egress as Json[] | undefined)?.some((r) =>
        (r.to as Json[]).some((p) => peerSelects(p, m.metadata.namespace, dest)),
      ),
  );
  return ingress && egress;
}
