/**
 * Ward's own `Service` documents (`apiVersion: ward.dev/v1`, `kind: Service`): the declared
 * dependencies, each `startup` or `runtime`, with SPIFFE ID, namespace, owner and labels.
 * Other kinds (Intention) are skipped: an intention approves callers, it declares no dependency.
 *
 * Read with `yaml` directly: `@ward/policy` has no `parseDocuments` yet. When it lands, this
 * reader should take its parsed, schema-validated documents instead.
 */
import type { GraphBuilder } from '../model.ts';
import { isObject, stringMap } from '../util.ts';
import { wardLabels } from './labels.ts';
import { parseYamlDocuments } from './yaml-docs.ts';

export interface WardReadOptions {
  /** Trust domain for the default SPIFFE ID. Default `cluster.local`. */
  trustDomain?: string;
}

export function readWardServices(
  text: string,
  file: string,
  builder: GraphBuilder,
  options: WardReadOptions = {},
): void {
  const trustDomain = options.trustDomain ?? 'cluster.local';
  for (const doc of parseYamlDocuments(text, file, 'Ward documents (apiVersion: ward.dev/v1)')) {
    const d = doc.data;
    if (!isObject(d) || d.kind !== 'Service' || !isObject(d.metadata)) continue;
    if (typeof d.apiVersion !== 'string' || !d.apiVersion.startsWith('ward.dev/')) continue;
    const name = d.metadata.name;
    if (typeof name !== 'string' || name === '') continue;
    const namespace = typeof d.metadata.namespace === 'string' ? d.metadata.namespace : 'default';
    const spec = isObject(d.spec) ? d.spec : {};
    const labels = wardLabels(stringMap(d.metadata.labels), stringMap(d.metadata.annotations));
    if (typeof spec.owner === 'string') labels.owner ??= spec.owner;
    const spiffeId =
      typeof spec.spiffeId === 'string'
        ? spec.spiffeId
        : `spiffe://${trustDomain}/ns/${namespace}/sa/${name}`;
    const sa = /\/sa\/([^/]+)$/.exec(spiffeId)?.[1];
    builder.service(
      name,
      { virtual: false, namespace, spiffeId, labels, ...(sa ? { serviceAccount: sa } : {}) },
      file,
    );
    if (!Array.isArray(spec.dependencies)) continue;
    spec.dependencies.forEach((dep: unknown, i: number) => {
      if (!isObject(dep) || typeof dep.service !== 'string' || dep.service === name) return;
      const kind = dep.kind === 'startup' ? 'startup' : 'runtime';
      builder.declare(name, dep.service, kind, {
        type: 'ward',
        file,
        line: doc.lineOf(['spec', 'dependencies', i]),
      });
    });
  }
}
