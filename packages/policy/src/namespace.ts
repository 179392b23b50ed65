/**
 * Namespaces in the policy model. A document lives in `metadata.namespace` (default `default`);
 * its key — the name the store, bundles and decisions use — is `name` in the default namespace
 * and `namespace/name` in any other (`@ward/spiffe` defines the form, one place for all
 * packages). References inside a document (destination, dependencies, sources) are relative to
 * the document's namespace unless they name one.
 */
import { canonicalServiceKey, DEFAULT_NAMESPACE, serviceKey, splitServiceKey } from '@ward/spiffe';
import type { DecisionInput, Metadata } from './types.ts';

export {
  canonicalServiceKey,
  DEFAULT_NAMESPACE,
  isNamespace,
  isServiceKey,
  NAMESPACE_PATTERN,
  namespaceOfKey,
  parseServiceRef,
  SERVICE_REF_PATTERN,
  type ServiceRef,
  serviceKey,
  splitServiceKey,
} from '@ward/spiffe';

/** The namespace a document lives in. */
export function documentNamespace(doc: { metadata: Pick<Metadata, 'namespace'> }): string {
  return doc.metadata.namespace ?? DEFAULT_NAMESPACE;
}

/** The key of a document (`name`, or `namespace/name` outside the default namespace). */
export function documentKey(doc: { metadata: Pick<Metadata, 'name' | 'namespace'> }): string {
  return serviceKey(documentNamespace(doc), doc.metadata.name);
}

/**
 * How a document in `namespace` refers to the service `key`: its bare name when it is in the same
 * namespace, else `namespace/name` — with the default namespace written out, because a bare name
 * in another namespace's document would mean that namespace's service.
 */
export function serviceRefFrom(key: string, namespace: string): string {
  const ref = splitServiceKey(key);
  return ref.namespace === namespace ? ref.name : `${ref.namespace}/${ref.name}`;
}

/**
 * The input with its service references in canonical form (`default/payments` → `payments`),
 * for inputs people write (policy tests, `ward policy eval`). The decision engine itself compares
 * keys and does no such work on the hot path.
 */
export function canonicalInputNames<I extends DecisionInput>(input: I): I {
  const destination = canonicalServiceKey(input.destination) ?? input.destination;
  const service = input.source?.service;
  const source =
    service === undefined
      ? input.source
      : { ...input.source, service: canonicalServiceKey(service) ?? service };
  return destination === input.destination && source === input.source
    ? input
    : { ...input, destination, ...(source !== undefined ? { source } : {}) };
}
