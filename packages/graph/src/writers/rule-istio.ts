/**
 * Istio AuthorizationPolicies from Ward's rules (issue 14): per destination an ALLOW policy for
 * its enforced allow rules and a DENY policy for its enforced deny rules, the same two again with
 * `istio.io/dry-run: "true"` for dry-run intentions, and per namespace the `allow-nothing` policy
 * that makes the default deny. Istio evaluates DENY before ALLOW and denies what no ALLOW matches
 * once any ALLOW policy selects a workload — Ward's "any deny wins, then an allow, else deny".
 *
 * Each Ward rule becomes Istio rules with the same sources (`from.source.principals`) and one
 * `to.operation` per permission (methods; paths in Istio's exact/prefix/suffix syntax; gRPC as
 * its HTTP/2 path `/package.Service/Method`; the destination's pod ports when the graph knows
 * them). Header matches go to `when` conditions on `request.headers[…]`, so a permission with
 * headers gets an Istio rule of its own. The annotation `ward.dev/rules` lists, in order, the Ward
 * rule (`policy#index`) each Istio rule came from.
 *
 * What Istio cannot say (CEL conditions — passport ones included —, globs outside
 * exact/prefix/suffix, header absence, gRPC `*`): an ALLOW drops that match, or is left out
 * when nothing of it remains; a DENY drops the constraint, so it denies more. Every case is in
 * `unexpressed`.
 *
 * A destination whose intentions are all dry-run is soft-applied by Ward (nothing enforced): it
 * gets an enforced allow-all policy beside its dry-run ones, and a warning.
 */
import type { HttpPermission, Permission, PolicySet, RuleInfo } from '@ward/policy';
import type { DependencyGraph, ServiceNode } from '../model.ts';
import { istioPath, istioString, widen } from './istio-match.ts';
import {
  type ExportOptions,
  entryAnnotation,
  entryPorts,
  MANAGED,
  plainName,
  podSelector,
  resourceName,
  sharedIdentities,
  uniqueNames,
} from './policy-export.ts';
import {
  destinationPorts,
  idOf,
  principalsOf,
  type RuleContext,
  type RuleExportResult,
  refuseUnexplained,
  ruleContext,
} from './rule-context.ts';

type Json = Record<string, unknown>;

/** One Istio rule and the Ward rule it came from. */
interface IstioRule {
  from: string;
  rule: Json;
}

/** One permission: operations (any may match) and `when` conditions (all must hold). */
interface Operation {
  ops: Json[];
  when: Json[];
}

/** An HTTP permission as operations, or undefined when an ALLOW must leave it out. */
function httpOperation(c: RuleContext, rule: RuleInfo, h: HttpPermission): Operation | undefined {
  const deny = rule.ref.action === 'deny';
  const report = (what: string, why: string) => c.unexpressed.push({ rule: idOf(rule), what, why });
  const base: Json = {};
  if (h.methods) {
    // Ward decides HEAD as GET (the router runs the GET handler); Istio sees HEAD as sent.
    const methods = new Set(h.methods.filter((m) => m !== 'HEAD'));
    if (methods.has('GET')) methods.add('HEAD');
    if (methods.size === 0) {
      report(
        'method HEAD',
        'Ward decides HEAD requests as GET, so a permission naming only HEAD matches nothing; left out',
      );
      return undefined;
    }
    base.methods = [...methods];
  }
  const ops: Json[] = [];
  const when: Json[] = [];
  if (h.paths) {
    const paths: string[] = [];
    let any = false;
    for (const m of h.paths) {
      const exact = istioPath(m);
      if (exact?.notPaths) ops.push({ ...base, ...exact });
      else if (exact) paths.push(...exact.paths);
      if (exact !== undefined) continue;
      const what = `path ${JSON.stringify(m.exact ?? m.prefix ?? m.glob)}`;
      if (!deny) {
        report(
          what,
          'no Istio path form (exact, `/x/*` prefix, `*/x` suffix); left out of the allow',
        );
        continue;
      }
      const wide = widen(m);
      if (wide === undefined) any = true;
      else paths.push(wide);
      report(
        what,
        `no Istio path form; widened to ${wide === undefined ? 'any path' : JSON.stringify(wide)} (the deny covers more)`,
      );
    }
    if (any) ops.splice(0, ops.length, { ...base });
    else if (paths.length > 0) ops.unshift({ ...base, paths: [...new Set(paths)] });
    if (ops.length === 0) return undefined; // an allow none of whose paths Istio can say
  } else ops.push(base);
  for (const header of h.headers ?? []) {
    const key = `request.headers[${header.name.toLowerCase()}]`;
    const what = `header ${header.name.toLowerCase()}`;
    if (header.present === true) {
      when.push({ key, values: ['*'] });
      continue;
    }
    const exact = header.present === false ? undefined : istioString(header);
    if (exact !== undefined && header.ignoreCase) {
      // Istio compares header values case-sensitively: the allow keeps the spelling written
      // (it lets fewer requests through); a deny cannot be made case-blind, so it drops the
      // condition and covers more.
      if (!deny) {
        when.push({ key, values: [exact] });
        report(
          what,
          'Istio compares header values case-sensitively; the allow matches the spelling written only',
        );
      } else {
        report(
          what,
          'Istio compares header values case-sensitively; the header condition is dropped (the deny covers more)',
        );
      }
      continue;
    }
    if (exact !== undefined) {
      when.push({ key, values: [exact] });
      continue;
    }
    const why =
      header.present === false
        ? 'Istio cannot require a header to be absent'
        : 'no Istio form for this value (exact, prefix `x*`, suffix `*x`; no `*` inside, not empty)';
    if (!deny) {
      report(what, `${why}; the permission is left out of the allow`);
      return undefined;
    }
    const wide = header.present === false ? undefined : widen(header);
    if (wide !== undefined) when.push({ key, values: [wide] });
    report(
      what,
      `${why}; ${wide === undefined ? 'the header condition is dropped' : `widened to ${JSON.stringify(wide)}`} (the deny covers more)`,
    );
  }
  // AuthorizationPolicy has no query-parameter match: an allow that requires one is left out
  // (exported without it, it would let more through); a deny drops it and covers more.
  for (const q of h.query ?? []) {
    const what = `query parameter ${JSON.stringify(q.name)}`;
    const why = 'Istio AuthorizationPolicy cannot match query parameters';
    if (!deny) {
      report(what, `${why}; the permission is left out of the allow`);
      return undefined;
    }
    report(what, `${why}; the condition is dropped (the deny covers more)`);
  }
  return { ops, when };
}

/** One permission as operations (undefined: an ALLOW leaves it out). */
function operation(c: RuleContext, rule: RuleInfo, p: Permission): Operation | undefined {
  if (p.http) return httpOperation(c, rule, p.http);
  const g = p.grpc!;
  if (g.service.includes('*')) {
    const deny = rule.ref.action === 'deny';
    c.unexpressed.push({
      rule: idOf(rule),
      what: `gRPC service ${JSON.stringify(g.service)}`,
      why: deny
        ? 'Istio cannot tell a gRPC call from other HTTP by path alone; widened to any request (the deny covers more)'
        : 'Istio cannot tell a gRPC call from other HTTP by path alone; the permission is left out of the allow',
    });
    return deny ? { ops: [{}], when: [] } : undefined;
  }
  // gRPC over HTTP/2 is a POST to /package.Service/Method: the path Istio matches.
  const paths = g.methods ? g.methods.map((m) => `/${g.service}/${m}`) : [`/${g.service}/*`];
  return { ops: [{ paths }], when: [] };
}

/**
 * The Istio rules of one Ward rule (none: an ALLOW left out entirely), and the workloads its
 * sources name (the callers an exported ALLOW explains).
 */
function istioRules(
  c: RuleContext,
  rule: RuleInfo,
  ports: string[] | undefined,
): { rules: IstioRule[]; callers: ServiceNode[] } {
  const deny = rule.ref.action === 'deny';
  const id = idOf(rule);
  if (rule.when !== undefined && !deny) {
    c.unexpressed.push({
      rule: id,
      what: `when: ${rule.when}`,
      why: 'Istio cannot evaluate CEL conditions (nor read passports); the rule is left out, so the callers it admits are denied',
    });
    return { rules: [], callers: [] };
  }
  if (rule.when !== undefined)
    c.unexpressed.push({
      rule: id,
      what: `when: ${rule.when}`,
      why: 'Istio cannot evaluate CEL conditions (nor read passports); the condition is dropped (the deny covers more)',
    });
  const src = principalsOf(c, rule);
  const result = (rules: IstioRule[]) => ({ rules, callers: src.workloads });
  if (!src.any && src.principals.length === 0 && src.namespaces.length === 0) {
    c.unexpressed.push({
      rule: id,
      what: 'sources',
      why: 'match no known workload; the rule is left out',
    });
    return result([]);
  }
  // Istio ORs the `from` entries and ANDs the fields of one source.
  const sources: Json[] = [];
  if (src.principals.length > 0) sources.push({ source: { principals: src.principals } });
  if (src.namespaces.length > 0)
    sources.push({
      source: {
        namespaces: src.namespaces,
        ...(src.notPrincipals.length > 0 && !deny ? { notPrincipals: src.notPrincipals } : {}),
      },
    });
  const from = src.any ? {} : { from: sources };
  let ops: Operation[] | undefined;
  if (rule.permissions) {
    ops = [];
    for (const p of rule.permissions) {
      const o = operation(c, rule, p);
      if (o) ops.push(o);
    }
    if (ops.length === 0) return result([]); // an ALLOW none of whose permissions Istio can say
    // A deny permission widened to "any request" makes the whole rule any request.
    if (
      deny &&
      ops.some((o) => o.when.length === 0 && o.ops.some((x) => Object.keys(x).length === 0))
    )
      ops = undefined;
  }
  const withPorts = (op: Json): Json => (ports && !deny ? { ...op, ports } : op);
  const to = (list: Json[]) => {
    const filled = list.map(withPorts).filter((op) => Object.keys(op).length > 0);
    return filled.length > 0 && filled.length === list.length
      ? { to: filled.map((operation) => ({ operation })) }
      : {};
  };
  if (!ops) return result([{ from: id, rule: { ...from, ...to([{}]) } }]);
  const out: IstioRule[] = [];
  const plain = ops.filter((o) => o.when.length === 0);
  if (plain.length > 0)
    out.push({ from: id, rule: { ...from, ...to(plain.flatMap((o) => o.ops)) } });
  for (const o of ops.filter((x) => x.when.length > 0))
    out.push({ from: id, rule: { ...from, ...to(o.ops), when: o.when } });
  return result(out);
}

export function toIstioPoliciesFromRules(
  graph: DependencyGraph,
  policy: PolicySet,
  options: ExportOptions = {},
): RuleExportResult {
  const c = ruleContext(graph, policy, options);
  const { workloads } = c;
  const manifests: Json[] = [];
  const emit = (
    s: ServiceNode,
    suffix: string[],
    action: string,
    rules: IstioRule[],
    ann: Json,
  ) => {
    if (rules.length === 0) return;
    manifests.push({
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: {
        name: resourceName('ward', action.toLowerCase(), plainName(s), ...suffix),
        namespace: c.ns(s),
        labels: { ...MANAGED },
        annotations: { ...ann, 'ward.dev/rules': rules.map((r) => r.from).join(',') },
      },
      spec: {
        selector: { matchLabels: { ...podSelector(s) } },
        action,
        rules: rules.map((r) => r.rule),
      },
    });
  };
  const explained = new Set<string>();
  let anyCaller = false;
  for (const s of workloads) {
    const rules = c.rules.get(s.name) ?? [];
    const known = destinationPorts(graph, s);
    const ports = known ? [...new Set(known.map((p) => String(p.port)))] : undefined;
    if (!known && rules.some((r) => r.ref.action === 'allow'))
      c.warnings.push(
        `${c.where(s)}: its pod ports are unknown (no Service port resolved), so its allow rules admit every port`,
      );
    const groups = new Map<string, IstioRule[]>();
    for (const r of rules) {
      const { rules: made, callers } = istioRules(c, r, ports);
      if (r.ref.action === 'allow' && made.length > 0) {
        explained.add(s.name);
        for (const p of callers) explained.add(p.name);
        if (r.sources.includes('*')) anyCaller = true;
      }
      const key = `${r.ref.action}/${r.ref.mode}`;
      groups.set(key, [...(groups.get(key) ?? []), ...made]);
    }
    const allow = groups.get('allow/enforce') ?? [];
    let ann: Json = {};
    if (s.entryPoints?.length) {
      // From outside, as the edge export does: any source on the entry's pod ports.
      const entry = entryPorts(s);
      allow.push({
        from: 'entry-points',
        rule: entry ? { to: [{ operation: { ports: entry.map((p) => String(p.port)) } }] } : {},
      });
      ann = entryAnnotation(s);
      explained.add(s.name);
    }
    emit(s, [], 'DENY', groups.get('deny/enforce') ?? [], {});
    emit(s, [], 'ALLOW', allow, ann);
    const dry = { 'istio.io/dry-run': 'true' };
    emit(s, ['dry-run'], 'DENY', groups.get('deny/dry-run') ?? [], dry);
    emit(s, ['dry-run'], 'ALLOW', groups.get('allow/dry-run') ?? [], dry);
    if (c.softApply.has(s.name)) {
      explained.add(s.name);
      anyCaller = true; // everyone may call it
      c.warnings.push(
        `${c.where(s)}: every intention is dry-run, so Ward enforces nothing there (soft apply); exported as an enforced allow-all beside the dry-run policies`,
      );
      emit(s, ['soft-apply'], 'ALLOW', [{ from: 'soft-apply', rule: {} }], {
        'ward.dev/soft-apply': 'true',
      });
    }
  }
  refuseUnexplained(c, workloads, explained, anyCaller, options);
  const nothing = c.namespaces.map((namespace) => ({
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'ward-allow-nothing', namespace, labels: { ...MANAGED } },
    spec: {},
  }));
  const all = [...nothing, ...manifests];
  uniqueNames(all);
  return {
    manifests: all,
    skipped: c.skipped,
    warnings: [...sharedIdentities(workloads, c.principal), ...c.warnings],
    unexpressed: c.unexpressed,
  };
}
