/**
 * Ward's own `Service` documents (`apiVersion: ward.dev/v1`, `kind: Service`): the declared
 * dependencies, each `startup` or `runtime`, with SPIFFE ID, namespace, owner and labels.
 * Documents are parsed and schema-checked by `@ward/policy` (`parseDocuments`), so the graph
 * reads exactly what the control plane would accept; a file with errors is refused with the
 * first diagnostic's position. Intentions are skipped: they approve callers, they declare no
 * dependency.
 */
import { parseDocuments, type ServiceDocument } from '@ward/policy';
import { canonicalServiceKey, defaultSpiffeId, serviceKey } from '@ward/spiffe';
import { GraphError } from '../errors.ts';
import type { GraphBuilder } from '../model.ts';
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
  const { documents, diagnostics } = parseDocuments(text, file);
  const errors = diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) {
    const d = errors[0]!;
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
    throw new GraphError(
      'GRAPH_INPUT_MALFORMED',
      `${d.code} at ${d.path || '/'}: ${d.message}${more}`,
      {
        file,
        line: d.line,
        col: d.col,
        expected: 'valid Ward documents (apiVersion: ward.dev/v1)',
      },
    );
  }
  const services = documents.filter((d) => d.document.kind === 'Service');
  if (services.length === 0) return;
  // parseDocuments gives no positions for valid documents; a second, plain parse does.
  const positions = parseYamlDocuments(text, file, 'Ward documents');
  for (const { document, index } of services) {
    const doc = document as ServiceDocument;
    const { name: plain, namespace = 'default' } = doc.metadata;
    // The node is the service's key (`name`, or `namespace/name` outside the default
    // namespace), as decisions, traces from Ward's SDKs and the compiled policy name it.
    const name = serviceKey(namespace, plain);
    const labels = wardLabels(doc.metadata.labels ?? {}, doc.metadata.annotations ?? {});
    if (doc.spec.owner) labels.owner ??= doc.spec.owner;
    const spiffeId = doc.spec.spiffeId ?? defaultSpiffeId(trustDomain, namespace, plain);
    const sa = /\/sa\/([^/]+)$/.exec(spiffeId)?.[1];
    builder.service(
      name,
      { virtual: false, namespace, spiffeId, labels, ...(sa ? { serviceAccount: sa } : {}) },
      file,
    );
    const at = positions[index];
    for (const [i, dep] of (doc.spec.dependencies ?? []).entries()) {
      // Relative to the document's namespace: `orders` in a `shop` document is `shop/orders`.
      const to = canonicalServiceKey(dep.service, namespace) ?? dep.service;
      if (to === name) continue;
      builder.declare(name, to, dep.kind === 'startup' ? 'startup' : 'runtime', {
        type: 'ward',
        file,
        line: at?.lineOf(['spec', 'dependencies', i]) ?? 1,
      });
    }
  }
}
