/**
 * Layering rules: an ordered list of layers read from a node label (top first), with a policy
 * (`same-or-lower`: a service may depend on its own layer or any layer below; `lower-only`:
 * strictly below), and explicit forbidden pairs (`from` selector → `to` selector). Services
 * without the layer label are not judged by the layer policy.
 *
 * @example rules file
 * layers:
 *   label: tier
 *   order: [frontend, backend, data]
 *   policy: same-or-lower
 * rules:
 *   - name: backend-not-frontend
 *     from: { tier: backend }
 *     to: { tier: frontend }
 */
import { GraphError } from '../errors.ts';
import type { DependencyGraph, ServiceNode } from '../model.ts';
import { namespaceOfNode } from '../namespaces.ts';
import { parseYamlDocuments } from '../readers/yaml-docs.ts';
import { isObject } from '../util.ts';

/**
 * Label values to match; a list matches any of its values. `name` (the node's key:
 * `shop/orders`, or `orders` in the default namespace) and `namespace` (the key's) are special.
 */
export type Selector = Record<string, string | string[]>;

export interface LayeringRules {
  layers?: { label: string; order: string[]; policy: 'same-or-lower' | 'lower-only' };
  rules: {
    name: string;
    description?: string;
    from: Selector;
    to: Selector;
    severity: 'error' | 'warning';
  }[];
}

export interface LayeringViolation {
  rule: string;
  from: string;
  to: string;
  severity: 'error' | 'warning';
  message: string;
}

/** Parses and validates a rules file (YAML or JSON); errors name the file, line and field. */
export function parseLayeringRules(text: string, file: string): LayeringRules {
  const [doc] = parseYamlDocuments(text, file, 'a layering rules document');
  const fail = (msg: string, path: (string | number)[]): never => {
    throw new GraphError('GRAPH_RULES_INVALID', msg, {
      file,
      line: doc?.lineOf(path),
      expected: 'layers: {label, order, policy} and/or rules: [{name, from, to}]',
    });
  };
  const d = doc?.data;
  if (!isObject(d)) return fail('rules file is not a mapping', []);
  const out: LayeringRules = { rules: [] };
  if (d.layers !== undefined) {
    const l = d.layers;
    if (
      !isObject(l) ||
      typeof l.label !== 'string' ||
      !Array.isArray(l.order) ||
      !l.order.every((x) => typeof x === 'string') ||
      l.order.length === 0
    ) {
      return fail(
        '"layers" needs "label" (string) and "order" (non-empty list of layer names, top first)',
        ['layers'],
      );
    }
    const policy = l.policy ?? 'same-or-lower';
    if (policy !== 'same-or-lower' && policy !== 'lower-only')
      return fail('"layers.policy" must be "same-or-lower" or "lower-only"', ['layers', 'policy']);
    out.layers = { label: l.label, order: l.order as string[], policy };
  }
  if (d.rules !== undefined) {
    if (!Array.isArray(d.rules)) return fail('"rules" must be a list', ['rules']);
    for (const [i, r] of (d.rules as unknown[]).entries()) {
      if (!isObject(r)) return fail(`rules[${i}] must be a mapping`, ['rules', i]);
      const sel = (key: 'from' | 'to'): Selector => {
        const s = r[key];
        if (!isObject(s) || Object.keys(s).length === 0)
          return fail(`rules[${i}].${key} must be a non-empty label selector`, ['rules', i, key]);
        for (const [k, v] of Object.entries(s)) {
          if (
            typeof v !== 'string' &&
            !(Array.isArray(v) && v.every((x) => typeof x === 'string'))
          ) {
            return fail(`rules[${i}].${key}.${k} must be a string or a list of strings`, [
              'rules',
              i,
              key,
              k,
            ]);
          }
        }
        return s as Selector;
      };
      const severity = r.severity ?? 'error';
      if (severity !== 'error' && severity !== 'warning')
        return fail(`rules[${i}].severity must be "error" or "warning"`, ['rules', i, 'severity']);
      out.rules.push({
        name: typeof r.name === 'string' ? r.name : `rule-${i + 1}`,
        ...(typeof r.description === 'string' ? { description: r.description } : {}),
        from: sel('from'),
        to: sel('to'),
        severity,
      });
    }
  }
  if (!out.layers && out.rules.length === 0)
    return fail('rules file has neither "layers" nor "rules"', []);
  return out;
}

function matches(node: ServiceNode | undefined, selector: Selector): boolean {
  if (!node) return false;
  return Object.entries(selector).every(([k, want]) => {
    const have =
      k === 'name'
        ? node.name
        : k === 'namespace'
          ? (namespaceOfNode(node) ?? undefined)
          : node.labels[k];
    return have !== undefined && (Array.isArray(want) ? want.includes(have) : want === have);
  });
}

export function checkLayering(graph: DependencyGraph, rules: LayeringRules): LayeringViolation[] {
  const nodes = new Map(graph.services.map((s) => [s.name, s]));
  const out: LayeringViolation[] = [];
  for (const e of graph.edges) {
    const a = nodes.get(e.from);
    const b = nodes.get(e.to);
    if (rules.layers && a && b) {
      const { label, order, policy } = rules.layers;
      const la = order.indexOf(a.labels[label] ?? '');
      const lb = order.indexOf(b.labels[label] ?? '');
      if (la >= 0 && lb >= 0 && (lb < la || (policy === 'lower-only' && lb === la))) {
        out.push({
          rule: `layers:${policy}`,
          from: e.from,
          to: e.to,
          severity: 'error',
          message: `${e.from} (${label} ${order[la]}) depends on ${e.to} (${label} ${order[lb]}): only ${policy === 'lower-only' ? 'lower' : 'same or lower'} layers are allowed (${order.join(' > ')})`,
        });
      }
    }
    for (const r of rules.rules) {
      if (matches(a, r.from) && matches(b, r.to)) {
        out.push({
          rule: r.name,
          from: e.from,
          to: e.to,
          severity: r.severity,
          message: `${e.from} → ${e.to} breaks rule ${r.name}${r.description ? `: ${r.description}` : ''}`,
        });
      }
    }
  }
  return out;
}
