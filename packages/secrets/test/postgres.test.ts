/**
 * The SQL text of dynamic PostgreSQL credentials: quoting (properties: the output holds no quote
 * that ends it early and reads back as the input; a hostile service name never leaves the role
 * name's alphabet), grant templates, and a few hostile names through a real PostgreSQL parse.
 */
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  creationStatements,
  leaseRoleName,
  quoteIdent,
  quoteLiteral,
  renderGrants,
  renewStatement,
  revocationStatements,
} from '../src/index.ts';

const PG_URL = process.env.WARD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const bytes = (s: string) => new TextEncoder().encode(s).length;

/**
 * Reads a quoted token as PostgreSQL's lexer does: the body between the delimiters, where the
 * delimiter appears only doubled (and, in an E'' literal, `\\` stands for one backslash and a
 * backslash never precedes a quote). Returns undefined if the token ends before its last char.
 */
function unquote(token: string, q: '"' | "'"): string | undefined {
  let eForm = false;
  let i = 0;
  if (q === "'" && token.startsWith("E'")) {
    eForm = true;
    i = 1;
  }
  if (token[i] !== q || token[token.length - 1] !== q) return undefined;
  let out = '';
  for (i = i + 1; i < token.length - 1; i++) {
    const c = token[i]!;
    if (c === q) {
      if (token[i + 1] !== q || i + 1 >= token.length - 1) return undefined; // ends early
      out += q;
      i++;
    } else if (eForm && c === '\\') {
      if (token[i + 1] !== '\\' || i + 1 >= token.length - 1) return undefined;
      out += '\\';
      i++;
    } else out += c;
  }
  return out;
}

const text = fc.string({ unit: 'binary', maxLength: 80 }).filter((s) => !s.includes('\0'));
const nasty = fc.oneof(
  text,
  fc.constantFrom(
    '"',
    "'",
    '\\',
    "'; DROP TABLE x; --",
    '"; DROP ROLE postgres; --',
    "\\'); SELECT 1; --",
    '$$',
    '/*',
    '{{name}}',
  ),
  fc
    .array(fc.constantFrom('"', "'", '\\', ';', '-', '$', 'a', ' ', '\n', 'é', '😀'), {
      maxLength: 40,
    })
    .map((a) => a.join('')),
);

describe('quoting', () => {
  it('quoteLiteral: no quote ends the literal early and it reads back as the input', () => {
    fc.assert(
      fc.property(nasty, (s) => {
        if (!s.isWellFormed()) return;
        expect(unquote(quoteLiteral(s), "'")).toBe(s);
      }),
      { numRuns: 2000 },
    );
  });

  it('quoteIdent: no quote ends the identifier early and it reads back as the input', () => {
    fc.assert(
      fc.property(nasty, (s) => {
        if (!s.isWellFormed() || s.length === 0 || bytes(s) > 63) return;
        expect(unquote(quoteIdent(s), '"')).toBe(s);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses NUL, lone surrogates, empty and over-long identifiers', () => {
    for (const bad of ['a\0b', '\uD800', '', 'x'.repeat(64), 'é'.repeat(32)]) {
      expect(() => quoteIdent(bad), JSON.stringify(bad)).toThrow(
        expect.objectContaining({ code: 'SECRETS_BAD_TEMPLATE' }),
      );
    }
    expect(quoteIdent('x'.repeat(63))).toBe(`"${'x'.repeat(63)}"`);
    expect(() => quoteLiteral('a\0')).toThrow(
      expect.objectContaining({ code: 'SECRETS_BAD_TEMPLATE' }),
    );
    expect(quoteLiteral("it's")).toBe("'it''s'");
    expect(quoteLiteral('a\\b')).toBe("E'a\\\\b'");
    expect(quoteIdent('a"b')).toBe('"a""b"');
  });
});

describe('leaseRoleName', () => {
  it('a hostile service name never leaves [a-z0-9_], 63 bytes, the ward_ prefix', () => {
    fc.assert(
      fc.property(
        nasty,
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.uint8Array({ minLength: 8, maxLength: 32 }),
        (service, now, random) => {
          const name = leaseRoleName(service, now, random);
          expect(name).toMatch(/^ward_[a-z0-9_]+$/);
          expect(bytes(name)).toBeLessThanOrEqual(63);
          expect(name.endsWith(Buffer.from(random.subarray(0, 8)).toString('hex'))).toBe(true);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('keeps a readable service part and differs by the random part', () => {
    const a = leaseRoleName('shop/Orders-API', 1_700_000_000_000, new Uint8Array(8));
    expect(a).toBe(`ward_shop_orders_api_${(1_700_000_000_000).toString(36)}_0000000000000000`);
    const b = leaseRoleName('shop/Orders-API', 1_700_000_000_000, new Uint8Array(8).fill(1));
    expect(b).not.toBe(a);
    expect(leaseRoleName('x'.repeat(200), Date.now(), new Uint8Array(8)).length).toBe(63);
    expect(() => leaseRoleName('a', 1, new Uint8Array(4))).toThrow(TypeError);
  });
});

describe('renderGrants', () => {
  it('replaces every {{name}} by the quoted role', () => {
    expect(
      renderGrants(
        ['GRANT SELECT ON t TO {{name}}', 'GRANT USAGE ON SCHEMA s TO {{name}}, {{name}}'],
        'ward_a',
      ),
    ).toEqual(['GRANT SELECT ON t TO "ward_a"', 'GRANT USAGE ON SCHEMA s TO "ward_a", "ward_a"']);
  });

  it('inserts the role verbatim, $ patterns included', () => {
    const role = '$$ $& $` $1';
    expect(renderGrants(['GRANT x TO {{name}}'], role)).toEqual([`GRANT x TO "${role}"`]);
  });

  it('refuses a second statement, another placeholder, NUL, empty', () => {
    for (const [template, field] of [
      ['GRANT SELECT ON t TO {{name}}; DROP TABLE t', 'grants[0]'],
      ['GRANT SELECT ON t TO {{ name }}', 'grants[0]'],
      ['GRANT SELECT ON t TO {{password}}', 'grants[0]'],
      ['GRANT SELECT ON t TO {{name}', 'grants[0]'],
      ['GRANT SELECT ON t TO x\0', 'grants[0]'],
      ['  ', 'grants[0]'],
    ] as const) {
      expect(() => renderGrants([template], 'ward_a'), template).toThrow(
        expect.objectContaining({ code: 'SECRETS_BAD_TEMPLATE', field }),
      );
    }
    expect(() => renderGrants(Array(33).fill('GRANT x TO {{name}}'), 'ward_a')).toThrow(
      expect.objectContaining({ code: 'SECRETS_BAD_TEMPLATE' }),
    );
  });

  it('no rendered grant ever holds a ; whatever the template', () => {
    fc.assert(
      fc.property(fc.array(nasty, { maxLength: 4 }), (templates) => {
        let out: string[];
        try {
          out = renderGrants(templates, 'ward_a');
        } catch (error) {
          expect((error as { code?: string }).code).toBe('SECRETS_BAD_TEMPLATE');
          return;
        }
        for (const s of out) expect(s).not.toContain(';');
      }),
    );
  });
});

describe('statements', () => {
  it('quote the role, the password and the time', () => {
    const [create] = creationStatements({
      role: 'ward_a',
      password: "p'w\\d",
      validUntil: Date.UTC(2030, 0, 1),
    });
    expect(create).toBe(
      `CREATE ROLE "ward_a" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD E'p''w\\\\d' VALID UNTIL '2030-01-01T00:00:00.000Z'`,
    );
    expect(renewStatement('ward_a', Date.UTC(2030, 0, 1))).toBe(
      `ALTER ROLE "ward_a" VALID UNTIL '2030-01-01T00:00:00.000Z'`,
    );
    const revoke = revocationStatements('ward_a', { database: 'shop' });
    expect(revoke[0]).toBe('ALTER ROLE "ward_a" NOLOGIN');
    expect(revoke).toContain('REVOKE ALL PRIVILEGES ON DATABASE "shop" FROM "ward_a"');
    expect(revoke.at(-1)).toBe('DROP ROLE IF EXISTS "ward_a"');
  });
});

describe('through a real PostgreSQL parse', () => {
  let client: pg.Client | undefined;
  const created: string[] = [];
  beforeAll(async () => {
    const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
    try {
      await c.connect();
      client = c;
    } catch (error) {
      console.warn(`*** SKIPPING the PostgreSQL checks: ${(error as Error).message} ***`);
    }
  });
  afterAll(async () => {
    for (const role of created) await client?.query(`DROP ROLE IF EXISTS ${quoteIdent(role)}`);
    await client?.end();
  });

  const NASTY = [
    "'; DROP TABLE x; --",
    '"; DROP ROLE postgres; --',
    "\\'); SELECT 1; --",
    "a\\\\\"''\\",
    '$$ $x$ /* -- */',
    'é😀\n\t\r',
    "E'x'",
  ];

  it('literals read back as the input, with and without standard_conforming_strings', async (ctx) => {
    if (!client) return ctx.skip();
    for (const conforming of ['on', 'off']) {
      await client.query(`SET standard_conforming_strings = ${conforming}`);
      for (const s of NASTY) {
        const r = await client.query(`SELECT ${quoteLiteral(s)} AS v`);
        expect(r.rows[0].v, `${conforming}: ${JSON.stringify(s)}`).toBe(s);
      }
    }
    await client.query('RESET standard_conforming_strings');
  });

  it('role names with hostile text create exactly that role; statements run', async (ctx) => {
    if (!client) return ctx.skip();
    const suffix = Math.random().toString(36).slice(2, 8);
    for (const s of NASTY) {
      const role = `${s.slice(0, 40)}${suffix}`;
      created.push(role);
      for (const statement of creationStatements({
        role,
        password: s,
        validUntil: Date.now() + 60_000,
      })) {
        await client.query(statement);
      }
      const r = await client.query('SELECT rolname FROM pg_roles WHERE rolname = $1', [role]);
      expect(r.rows).toEqual([{ rolname: role }]);
      await client.query(renewStatement(role, Date.now() + 120_000));
      for (const g of renderGrants(['GRANT pg_read_all_settings TO {{name}}'], role)) {
        await client.query(g);
      }
      for (const statement of revocationStatements(role)) await client.query(statement);
      const gone = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
      expect(gone.rowCount).toBe(0);
    }
  });
});
