import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SecretsClientError } from '../src/index.ts';
import { MAX_DATA_BYTES, parseSecretReply } from '../src/secrets/reply.ts';

const KEY = 'shop/api-key';
const FIELD = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
const fieldName = fc.stringMatching(FIELD);
const time = fc.integer({ min: 0, max: 2 ** 45 });
const data = fc.dictionary(fieldName, fc.string({ maxLength: 200 }), { minKeys: 1, maxKeys: 8 });
const goodReply = fc
  .uniqueArray(
    fc.record({
      version: fc.integer({ min: 1, max: 1_000_000 }),
      data,
      notBefore: time,
      notAfter: fc.option(time, { nil: null }),
    }),
    { selector: (v) => v.version, maxLength: 10 },
  )
  .chain((versions) =>
    fc.record({
      secret: fc.constant(KEY),
      type: fc.constantFrom('static', 'random', 'keypair', 'postgres'),
      versions: fc.constant(versions),
      lease: fc.option(
        fc.record({ id: fc.string({ minLength: 1, maxLength: 40 }), expiresAt: time }),
        {
          nil: undefined,
        },
      ),
    }),
  )
  .map((r) => (r.lease === undefined ? { ...r, lease: undefined } : r))
  .map((r) => JSON.parse(JSON.stringify(r)) as Record<string, unknown>);

/** Only a coded SECRETS_BAD_REPLY may come out of a refused reply. */
function outcome(message: unknown): 'accepted' | 'refused' {
  try {
    parseSecretReply(message, KEY);
    return 'accepted';
  } catch (e) {
    expect(e).toBeInstanceOf(SecretsClientError);
    expect((e as SecretsClientError).code).toBe('SECRETS_BAD_REPLY');
    return 'refused';
  }
}

describe('parseSecretReply (untrusted agent replies)', () => {
  it('accepts every well-formed reply and serves exactly its versions, newest first, frozen', () => {
    fc.assert(
      fc.property(goodReply, (reply) => {
        const parsed = parseSecretReply(reply, KEY);
        const sent = reply.versions as { version: number; data: Record<string, string> }[];
        expect(parsed.versions.map((v) => v.version)).toEqual(
          sent.map((v) => v.version).sort((a, b) => b - a),
        );
        for (const v of parsed.versions) {
          expect(Object.isFrozen(v) && Object.isFrozen(v.data)).toBe(true);
          const original = sent.find((s) => s.version === v.version)!;
          expect({ ...v.data }).toEqual(original.data);
          expect(v.value).toBe(
            Object.hasOwn(original.data, 'value') ? original.data.value : undefined,
          );
          expect(v.secret).toBe(KEY);
        }
      }),
    );
  });

  it('never throws anything but SECRETS_BAD_REPLY, whatever arrives', () => {
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.jsonValue(), goodReply), (message) => {
        outcome(message);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a well-formed reply with one field broken', () => {
    const breakages: [string, (r: Record<string, unknown>) => void][] = [
      ['other secret', (r) => (r.secret = 'shop/other')],
      ['unknown type', (r) => (r.type = 'vault')],
      ['versions not an array', (r) => (r.versions = {})],
      ['version 0', (r) => ((r.versions as { version: number }[])[0]!.version = 0)],
      ['version float', (r) => ((r.versions as { version: number }[])[0]!.version = 1.5)],
      ['negative notBefore', (r) => ((r.versions as { notBefore: number }[])[0]!.notBefore = -1)],
      ['string notAfter', (r) => ((r.versions as { notAfter: unknown }[])[0]!.notAfter = '1')],
      ['no data', (r) => ((r.versions as { data: unknown }[])[0]!.data = {})],
      ['array data', (r) => ((r.versions as { data: unknown }[])[0]!.data = ['x'])],
      ['numeric value', (r) => ((r.versions as { data: unknown }[])[0]!.data = { value: 1 })],
      ['bad field name', (r) => ((r.versions as { data: unknown }[])[0]!.data = { 'a b': 'x' })],
      [
        'too many fields',
        (r) =>
          ((r.versions as { data: unknown }[])[0]!.data = Object.fromEntries(
            Array.from({ length: 65 }, (_, i) => [`f${i}`, 'x']),
          )),
      ],
      [
        'too large',
        (r) =>
          ((r.versions as { data: unknown }[])[0]!.data = { value: 'x'.repeat(MAX_DATA_BYTES) }),
      ],
      [
        'repeated version',
        (r) => {
          const vs = r.versions as unknown[];
          vs.push(structuredClone(vs[0]));
        },
      ],
      ['bad lease', (r) => (r.lease = { id: '', expiresAt: 1 })],
    ];
    fc.assert(
      fc.property(
        goodReply.filter((r) => (r.versions as unknown[]).length > 0),
        fc.constantFrom(...breakages),
        (reply, [, breakIt]) => {
          breakIt(reply);
          expect(outcome(reply)).toBe('refused');
        },
      ),
    );
  });

  it('keeps a field named __proto__ a field and names no value in a refusal', () => {
    const parsed = parseSecretReply(
      JSON.parse(
        `{"secret":"${KEY}","type":"static","versions":[{"version":1,"notBefore":0,"notAfter":null,"data":{"__proto__":"p","value":"v"}}]}`,
      ),
      KEY,
    );
    const v = parsed.versions[0]!;
    expect(Object.getPrototypeOf(v.data)).toBe(Object.prototype);
    expect(Object.keys(v.data).sort()).toEqual(['__proto__', 'value']);
    const e = (() => {
      try {
        parseSecretReply(
          {
            secret: KEY,
            type: 'static',
            versions: [
              {
                version: 1,
                notBefore: 0,
                notAfter: null,
                data: { 'bad name': 'sup3r-secret', value: 7 },
              },
            ],
          },
          KEY,
        );
      } catch (err) {
        return err as Error;
      }
    })();
    expect(e?.message).toBeDefined();
    expect(e!.message).not.toContain('sup3r-secret');
    expect(e!.message).not.toContain('bad name');
  });
});
