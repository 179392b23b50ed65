/**
 * The SQL of dynamic PostgreSQL credentials (the database secrets engine of Vault): a role per
 * lease, created with `LOGIN PASSWORD … VALID UNTIL …`, granted what the secret's template says,
 * renewed by moving `VALID UNTIL`, and revoked by ending its sessions and dropping it. Pure text:
 * the server runs it. Every name and value is quoted here by PostgreSQL's own rules, so a hostile
 * service name or password cannot end the literal or identifier it sits in.
 */
import { SecretsError } from './errors.ts';

/** PostgreSQL's identifier limit (NAMEDATALEN − 1): longer names are silently truncated. */
export const PG_MAX_IDENTIFIER_BYTES = 63;
/** Bounds of a secret's grant statements (the `Secret` document allows 1..32). */
export const MAX_GRANTS = 32;
export const MAX_GRANT_LENGTH = 4096;

const encoder = new TextEncoder();

function checkText(text: string, what: string): void {
  if (typeof text !== 'string') throw new TypeError(`${what} must be a string`);
  if (text.includes('\0')) {
    throw new SecretsError('SECRETS_BAD_TEMPLATE', `${what} contains a NUL character`);
  }
  if (!text.isWellFormed()) {
    throw new SecretsError('SECRETS_BAD_TEMPLATE', `${what} contains a lone surrogate`);
  }
}

/**
 * `name` as a delimited identifier: in double quotes, each `"` doubled (SQL standard; the only
 * escape inside a quoted identifier). Refuses NUL, the empty name and names over 63 UTF-8 bytes
 * (PostgreSQL would truncate them, so two roles could end up one).
 *
 * @example quoteIdent('ward_orders_x') // '"ward_orders_x"'
 */
export function quoteIdent(name: string): string {
  checkText(name, 'an identifier');
  if (name.length === 0) throw new SecretsError('SECRETS_BAD_TEMPLATE', 'an identifier is empty');
  if (encoder.encode(name).length > PG_MAX_IDENTIFIER_BYTES) {
    throw new SecretsError(
      'SECRETS_BAD_TEMPLATE',
      `an identifier is longer than ${PG_MAX_IDENTIFIER_BYTES} bytes`,
    );
  }
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * `text` as a string literal, as libpq's `PQescapeLiteral` writes it: `'` doubled, and when it
 * holds a backslash the `E'…'` form with backslashes doubled, so the result means the same
 * whatever `standard_conforming_strings` is. Refuses NUL (a literal cannot hold one).
 *
 * @example quoteLiteral("it's") // "'it''s'"
 */
export function quoteLiteral(text: string): string {
  checkText(text, 'a literal');
  const body = text.replaceAll("'", "''");
  if (!text.includes('\\')) return `'${body}'`;
  return `E'${body.replaceAll('\\', '\\\\')}'`;
}

const hex = (bytes: Uint8Array): string =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/**
 * A fresh role name for a lease of `service`: `ward_<service>_<time>_<random>`, lowercase
 * `[a-z0-9_]` only (the service key's other characters become `_`), at most 63 bytes. The
 * service part is for people reading `pg_roles`; uniqueness comes from the 64 random bits
 * (`random`, at least 8 bytes) and the time (base 36 ms).
 *
 * @example leaseRoleName('shop/orders', Date.now(), crypto.getRandomValues(new Uint8Array(8)))
 */
export function leaseRoleName(service: string, now: number, random: Uint8Array): string {
  if (!(random instanceof Uint8Array) || random.length < 8) {
    throw new TypeError('leaseRoleName: random must be at least 8 bytes');
  }
  if (!Number.isSafeInteger(now) || now < 0) throw new TypeError('leaseRoleName: bad time');
  const suffix = `_${now.toString(36)}_${hex(random.subarray(0, 8))}`;
  const room = PG_MAX_IDENTIFIER_BYTES - 'ward_'.length - suffix.length;
  const label = String(service)
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, room)
    .replace(/_+$/, '');
  return `ward_${label || 'svc'}${suffix}`;
}

const PLACEHOLDER = '{{name}}';

/**
 * The grant statements of a lease: each template with every `{{name}}` replaced by the quoted
 * role. A template holding `;` (a second statement), another `{{…}}` placeholder, NUL, or
 * nothing is refused with `SECRETS_BAD_TEMPLATE` naming it (`grants[2]`).
 *
 * @example renderGrants(['GRANT SELECT ON t TO {{name}}'], 'ward_a_1_00') // ['GRANT SELECT ON t TO "ward_a_1_00"']
 */
export function renderGrants(templates: readonly string[], roleName: string): string[] {
  if (!Array.isArray(templates)) throw new TypeError('renderGrants: templates must be an array');
  if (templates.length > MAX_GRANTS) {
    throw new SecretsError('SECRETS_BAD_TEMPLATE', `more than ${MAX_GRANTS} grant statements`, {
      field: 'grants',
    });
  }
  const role = quoteIdent(roleName);
  return templates.map((template, i) => {
    const field = `grants[${i}]`;
    const bad = (why: string) =>
      new SecretsError('SECRETS_BAD_TEMPLATE', `${field} ${why}`, { field });
    if (typeof template !== 'string') throw bad('is not a string');
    try {
      checkText(template, field);
    } catch (error) {
      throw bad((error as Error).message.replace(`${field} `, ''));
    }
    if (template.trim().length === 0) throw bad('is empty');
    if (template.length > MAX_GRANT_LENGTH) throw bad(`is longer than ${MAX_GRANT_LENGTH}`);
    if (template.includes(';')) throw bad("contains ';': one statement per entry");
    const rest = template.replaceAll(PLACEHOLDER, '');
    if (rest.includes('{{') || rest.includes('}}')) {
      throw bad('has a placeholder other than {{name}}');
    }
    // split/join, not replaceAll: a replacement string gives `$$`, `$&`… a meaning.
    return template.split(PLACEHOLDER).join(role);
  });
}

const timestamp = (at: number | Date): string => {
  const d = at instanceof Date ? at : new Date(at);
  if (Number.isNaN(d.getTime())) throw new TypeError('not a valid time');
  return quoteLiteral(d.toISOString());
};

/**
 * The statement creating a lease's role: `CREATE ROLE "r" WITH LOGIN PASSWORD '…' VALID UNTIL
 * '<ISO time>'`. `password` may be the cleartext or (better: it then never reaches the server's
 * statement log) a SCRAM-SHA-256 verifier, which PostgreSQL stores as given.
 */
export function creationStatements(options: {
  role: string;
  password: string;
  validUntil: number | Date;
}): string[] {
  return [
    `CREATE ROLE ${quoteIdent(options.role)} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE ` +
      `NOREPLICATION PASSWORD ${quoteLiteral(options.password)} VALID UNTIL ${timestamp(options.validUntil)}`,
  ];
}

/** Moves a lease role's `VALID UNTIL` (renewal). */
export function renewStatement(role: string, validUntil: number | Date): string {
  return `ALTER ROLE ${quoteIdent(role)} VALID UNTIL ${timestamp(validUntil)}`;
}

/**
 * Revocation, in order: no new login (`NOLOGIN`, which holds whatever the server's
 * authentication method), its open sessions terminated, what it owns handed to the revoking
 * role and its privileges dropped in the connected database (and on shared objects), then the
 * role dropped. With `database`, its privileges on that database are revoked first by name.
 */
export function revocationStatements(role: string, options: { database?: string } = {}): string[] {
  const ident = quoteIdent(role);
  return [
    `ALTER ROLE ${ident} NOLOGIN`,
    ...(options.database === undefined
      ? []
      : [`REVOKE ALL PRIVILEGES ON DATABASE ${quoteIdent(options.database)} FROM ${ident}`]),
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ${quoteLiteral(role)} AND pid <> pg_backend_pid()`,
    `REASSIGN OWNED BY ${ident} TO CURRENT_USER`,
    `DROP OWNED BY ${ident}`,
    `DROP ROLE IF EXISTS ${ident}`,
  ];
}
