/**
 * The templates file is operator input read at start: any text gives templates or an
 * AGENT_SECRET_TEMPLATE error naming file, field and line:column — never another exception.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { AgentError, parseSecretTemplates } from '../src/index.ts';

const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?$/);
const template = fc.record(
  {
    service: label,
    secret: label,
    destination: label.map((l) => `/dev/shm/${l}`),
    template: fc.constantFrom('{{ value }}', 'user={{user}} v{{ version }}', 'plain'),
    mode: fc.constantFrom(0o600, 0o400, 0o640),
    command: fc.array(label, { minLength: 1, maxLength: 3 }),
    allowDisk: fc.boolean(),
  },
  { requiredKeys: ['service', 'secret', 'destination'] },
);

describe('parseSecretTemplates', () => {
  it('never throws anything but a coded error', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.jsonValue().map((v) => JSON.stringify(v)),
          fc
            .array(
              fc.dictionary(
                fc.constantFrom(
                  'service',
                  'secret',
                  'destination',
                  'mode',
                  'command',
                  'signal',
                  'x',
                ),
                fc.jsonValue(),
              ),
            )
            .map((t) => stringify({ templates: t })),
        ),
        (text) => {
          try {
            parseSecretTemplates(text, 'ward.yaml');
          } catch (e) {
            expect(e).toBeInstanceOf(AgentError);
            expect((e as AgentError).code).toBe('AGENT_SECRET_TEMPLATE');
            expect((e as Error).message.startsWith('ward.yaml')).toBe(true);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('reads back what it is given, from YAML and from JSON', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(template, { selector: (t) => t.destination, maxLength: 4 }),
        (templates) => {
          const expected = templates.map((t) => ({ ...t, secret: t.secret }));
          expect(parseSecretTemplates(stringify({ templates }), 'a.yaml')).toEqual(expected);
          expect(parseSecretTemplates(JSON.stringify({ templates }), 'a.json')).toEqual(expected);
        },
      ),
    );
  });

  it('qualifies the secret by the service namespace and reads octal modes', () => {
    const [t] = parseSecretTemplates(
      'templates:\n  - service: shop/orders\n    secret: api-key\n    destination: /dev/shm/k\n    mode: 0o640\n',
      'f.yaml',
    );
    expect(t).toEqual({
      service: 'shop/orders',
      secret: 'shop/api-key',
      destination: '/dev/shm/k',
      mode: 0o640,
    });
    expect(
      parseSecretTemplates(
        '{"templates":[{"service":"a","secret":"b","destination":"/x","mode":"0600"}]}',
        'f',
      )[0]!.mode,
    ).toBe(0o600);
  });

  it('names file, field and line:column', () => {
    const base = 'templates:\n  - service: orders\n    secret: k\n';
    const cases: [string, RegExp][] = [
      [
        `${base}    destination: relative/path\n`,
        /^f\.yaml:4:18: templates\[0\]\.destination: must be an absolute/,
      ],
      [`${base}    destination: /a/../b\n`, /templates\[0\]\.destination/],
      [
        `${base}    destination: /x\n    mode: 0o644\n`,
        /^f\.yaml:5:11: templates\[0\]\.mode: must not give others/,
      ],
      [
        `${base}    destination: /x\n    colour: red\n`,
        /^f\.yaml:5:5: templates\[0\]\.colour: unknown field/,
      ],
      [
        `${base}    destination: /x\n    template: "{{ a b }}"\n`,
        /templates\[0\]\.template: "\{\{" at offset 0/,
      ],
      [`${base}    destination: /x\n    command: []\n`, /templates\[0\]\.command/],
      [
        `${base}    destination: /x\n    command: [a]\n    signal: { name: SIGHUP, pidFile: /p }\n`,
        /not both/,
      ],
      [`${base}    destination: /x\n    signal: { name: SIGNOPE, pidFile: /p }\n`, /signal\.name/],
      [`${base}`, /^f\.yaml:2:5: templates\[0\]\.destination: is required/],
      [
        `${base}    destination: /x\n  - service: b\n    secret: k\n    destination: /x\n`,
        /already the destination of templates\[0\]/,
      ],
      [
        'templates:\n  - service: Orders\n    secret: k\n    destination: /x\n',
        /^f\.yaml:2:14: templates\[0\]\.service/,
      ],
      ['templates: [\n', /^f\.yaml:\d+:\d+: \(file\): not valid YAML/],
      ['- a\n', /must be a mapping/],
    ];
    for (const [text, message] of cases) {
      expect(() => parseSecretTemplates(text, 'f.yaml'), text).toThrow(message);
    }
  });
});
