/**
 * How Ward names a service: `namespace/name`, the Kubernetes way. Two teams may each own a
 * `payments`, in namespaces `team-a` and `team-b`.
 *
 * One canonical text form, the service *key*, is what every store row, token, bundle, PDP name,
 * decision log and graph node carries: `name` for a service in the default namespace and
 * `namespace/name` for any other. Writing the default namespace out (`default/payments`) is
 * accepted as input and always canonicalised to `payments`. Eliding it is deliberate: every key
 * written before namespaces existed is already the canonical key of its service, so existing
 * data, tokens and bundles keep their meaning without a data migration (docs/namespaces.md).
 *
 * Pure: no I/O, no globals.
 */

/** The namespace of a document or reference that names none. */
export const DEFAULT_NAMESPACE = 'default';

/** A namespace: an RFC 1123 DNS label, as Kubernetes namespaces are (1 to 63 characters). */
export const NAMESPACE_PATTERN = '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$';

/**
 * A service name within its namespace: a DNS label (lower-case letters, digits and inner hyphens,
 * 1 to 63 characters), as `metadata.name` of a Service document is.
 */
export const SERVICE_NAME_PATTERN = '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$';

/** The longest key: a 63-character namespace, `/`, a 63-character name. */
export const MAX_SERVICE_KEY_LENGTH = 127;

/**
 * A service reference as input (JSON Schema `pattern`): `name` or `namespace/name`. The default
 * namespace may be written out; `canonicalServiceKey` removes it.
 */
export const SERVICE_REF_PATTERN =
  '^(?:[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?/)?[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$';

const NAMESPACE_RE = new RegExp(NAMESPACE_PATTERN);
const NAME_RE = new RegExp(SERVICE_NAME_PATTERN);

/** A service's namespace and name. */
export interface ServiceRef {
  namespace: string;
  name: string;
}

export function isNamespace(text: string): boolean {
  return NAMESPACE_RE.test(text);
}

export function isServiceName(text: string): boolean {
  return NAME_RE.test(text);
}

/** The canonical key of a (valid) namespace and name: the default namespace is left out. */
export function serviceKey(namespace: string, name: string): string {
  return namespace === DEFAULT_NAMESPACE ? name : `${namespace}/${name}`;
}

/**
 * Parses `name` or `namespace/name`; a bare name is in `namespace` (the referring document's).
 * Undefined when either part is invalid or there is more than one `/`.
 */
export function parseServiceRef(
  text: string,
  namespace: string = DEFAULT_NAMESPACE,
): ServiceRef | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) {
    return NAME_RE.test(text) && NAMESPACE_RE.test(namespace)
      ? { namespace, name: text }
      : undefined;
  }
  const ns = text.slice(0, slash);
  const name = text.slice(slash + 1);
  return NAMESPACE_RE.test(ns) && NAME_RE.test(name) ? { namespace: ns, name } : undefined;
}

/** The canonical key of a reference (relative to `namespace`), or undefined when invalid. */
export function canonicalServiceKey(
  text: string,
  namespace: string = DEFAULT_NAMESPACE,
): string | undefined {
  const ref = parseServiceRef(text, namespace);
  return ref === undefined ? undefined : serviceKey(ref.namespace, ref.name);
}

/** True when `text` is a canonical key (valid, and the default namespace not written out). */
export function isServiceKey(text: string): boolean {
  return canonicalServiceKey(text) === text;
}

/** Namespace and name of a canonical key. No validation: for keys already checked. */
export function splitServiceKey(key: string): ServiceRef {
  const slash = key.indexOf('/');
  return slash < 0
    ? { namespace: DEFAULT_NAMESPACE, name: key }
    : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** The namespace of a canonical key. */
export function namespaceOfKey(key: string): string {
  const slash = key.indexOf('/');
  return slash < 0 ? DEFAULT_NAMESPACE : key.slice(0, slash);
}
