/**
 * Backstage catalog descriptors (`catalog-info.yaml`, multi-document). Components and Resources
 * are nodes; `dependsOn` gives edges from the entity, `dependencyOf` edges into it, and an API
 * is joined into service edges: every component that `consumesApis` an API depends on every
 * component that `providesApis` it.
 */
import type { GraphBuilder, NodeType, SourceRef } from '../model.ts';
import { isObject, stringMap } from '../util.ts';
import { wardLabels } from './labels.ts';
import { parseYamlDocuments } from './yaml-docs.ts';

interface EntityRef {
  kind: string;
  name: string;
}

/** `[kind:][namespace/]name`, lowercased as Backstage compares them. */
function parseRef(ref: string, defaultKind: string): EntityRef {
  let rest = ref.trim().toLowerCase();
  let kind = defaultKind;
  const colon = rest.indexOf(':');
  if (colon >= 0) {
    kind = rest.slice(0, colon);
    rest = rest.slice(colon + 1);
  }
  const slash = rest.indexOf('/');
  return { kind, name: slash >= 0 ? rest.slice(slash + 1) : rest };
}

export function readBackstage(text: string, file: string, builder: GraphBuilder): void {
  const providers = new Map<string, string[]>();
  const consumers: { component: string; api: string; source: SourceRef }[] = [];
  // Entity names keep their written case for node names; refs are compared lowercased.
  const names = new Map<string, string>();
  const nodeName = (ref: EntityRef): string => names.get(`${ref.kind}:${ref.name}`) ?? ref.name;
  const pending: (() => void)[] = [];

  for (const doc of parseYamlDocuments(text, file, 'Backstage catalog entities')) {
    const e = doc.data;
    if (!isObject(e) || !isObject(e.metadata) || typeof e.metadata.name !== 'string') continue;
    if (typeof e.apiVersion !== 'string' || !e.apiVersion.startsWith('backstage.io/')) continue;
    const kind = typeof e.kind === 'string' ? e.kind.toLowerCase() : '';
    if (kind !== 'component' && kind !== 'resource') continue;
    const name = e.metadata.name;
    names.set(`${kind}:${name.toLowerCase()}`, name);
    const spec = isObject(e.spec) ? e.spec : {};
    const type: NodeType =
      kind === 'resource' ? (spec.type === 'database' ? 'database' : 'resource') : 'service';
    const labels = wardLabels(stringMap(e.metadata.labels), stringMap(e.metadata.annotations));
    if (typeof spec.owner === 'string') labels.owner ??= spec.owner;
    if (typeof spec.lifecycle === 'string') labels.lifecycle ??= spec.lifecycle;
    if (typeof spec.system === 'string') labels.system ??= spec.system;
    builder.service(
      name,
      {
        type,
        virtual: false,
        namespace: typeof e.metadata.namespace === 'string' ? e.metadata.namespace : undefined,
        labels,
      },
      file,
    );
    const list = (field: string, fn: (ref: string, line: number) => void): void => {
      const v = spec[field];
      if (!Array.isArray(v)) return;
      for (const [i, r] of (v as unknown[]).entries()) {
        if (typeof r === 'string') fn(r, doc.lineOf(['spec', field, i]));
      }
    };
    const at = (line: number): SourceRef => ({ type: 'backstage', file, line });
    // Edges are added after all entities are known, so refs resolve to written names.
    list('dependsOn', (ref, line) =>
      pending.push(() => addEdge(name, nodeName(parseRef(ref, 'component')), at(line))),
    );
    list('dependencyOf', (ref, line) =>
      pending.push(() => addEdge(nodeName(parseRef(ref, 'component')), name, at(line))),
    );
    if (kind === 'component') {
      list('providesApis', (ref) => {
        const api = parseRef(ref, 'api').name;
        providers.set(api, [...(providers.get(api) ?? []), name]);
      });
      list('consumesApis', (ref, line) =>
        consumers.push({ component: name, api: parseRef(ref, 'api').name, source: at(line) }),
      );
    }
  }

  function addEdge(from: string, to: string, source: SourceRef): void {
    if (from !== to) builder.declare(from, to, 'runtime', source);
  }
  for (const fn of pending) fn();
  for (const c of consumers)
    for (const p of providers.get(c.api) ?? []) addEdge(c.component, p, c.source);
}
