/**
 * The shape of a secret's value (Vault KV v2's `data`): a map of string fields, a single-valued
 * secret using `value`. Limits keep one value small enough to push to every agent at once.
 */
import { SecretsError } from './errors.ts';

/** Most fields in one value. */
export const MAX_SECRET_FIELDS = 64;
/** Most bytes (UTF-8) of the field names and values together. */
export const MAX_SECRET_BYTES = 64 * 1024;
const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

function bad(message: string, field: string): never {
  throw new SecretsError('SECRETS_BAD_VALUE', message, { field });
}

/**
 * Checks an untrusted value and returns it as a fresh plain object. Throws SECRETS_BAD_VALUE
 * naming the field (`data.password`) — never the value.
 *
 * @example
 * ```ts
 * checkSecretData({ value: 'x' }); // { value: 'x' }
 * ```
 */
export function checkSecretData(data: unknown): Record<string, string> {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    bad('data must be an object of string fields', 'data');
  }
  const entries = Object.entries(data as object);
  if (entries.length === 0)
    bad('data needs at least one field (`value` for a single value)', 'data');
  if (entries.length > MAX_SECRET_FIELDS)
    bad(`data has more than ${MAX_SECRET_FIELDS} fields`, 'data');
  const out: Record<string, string> = Object.create(null);
  let bytes = 0;
  for (const [i, [name, value]] of entries.entries()) {
    // The position, not the name: a name that fails the pattern may be anything, a pasted
    // value included.
    if (!FIELD_NAME.test(name)) {
      bad(`data field #${i + 1}: its name must match ${FIELD_NAME.source}`, 'data');
    }
    if (typeof value !== 'string') bad(`data.${name} must be a string`, `data.${name}`);
    bytes += Buffer.byteLength(name, 'utf8') + Buffer.byteLength(value, 'utf8');
    if (bytes > MAX_SECRET_BYTES) {
      bad(`data is larger than ${MAX_SECRET_BYTES} bytes (at data.${name})`, `data.${name}`);
    }
    out[name] = value;
  }
  return { ...out };
}
