/**
 * Secret names. A secret is keyed like a service (`@ward/spiffe` service keys): `name` in the
 * default namespace, `namespace/name` elsewhere, DNS-label characters only — so a key is safe in
 * a URL segment (percent-encoded `/`), a file name and a log line, and one canonical form names
 * it everywhere.
 */
import { canonicalServiceKey, isServiceKey } from '@ward/spiffe';
import { SecretsError } from './errors.ts';

/** Whether `text` is a canonical secret key. */
export function isSecretKey(text: string): boolean {
  return isServiceKey(text);
}

/**
 * The canonical key of `ref`, read relative to `namespace` when it has no namespace of its own
 * (`api-key` from a service of `shop` is `shop/api-key`). Throws SECRETS_BAD_NAME.
 */
export function secretKeyOf(ref: string, namespace = 'default'): string {
  const qualified = ref.includes('/') ? ref : namespace === 'default' ? ref : `${namespace}/${ref}`;
  const key = canonicalServiceKey(qualified);
  if (key === undefined) {
    throw new SecretsError(
      'SECRETS_BAD_NAME',
      `${JSON.stringify(ref.slice(0, 140))} is not a secret name (lowercase DNS labels: name or namespace/name)`,
      { field: 'name' },
    );
  }
  return key;
}
