/**
 * Property tests of the fleet report screens (untrusted input): any JSON value gets an answer,
 * never an exception; what passes holds no control character and respects every bound; one bad
 * character anywhere in a string field is refused naming that field.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  isProblem,
  MAX_AGENT_ITEMS,
  screenAgentReport,
  screenPdpReport,
} from '../src/fleet/reports.ts';

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const good = {
  instance: 'i-1',
  service: 'orders',
  revision: 4,
  bundleAt: '2026-01-01T00:00:00.000Z',
  connected: true,
  version: '1.0.0',
  startedAt: '2026-01-01T00:00:00Z',
  label: 'host/1',
  decisions: { allowed: 1, denied: 2, dryRunDenied: 3 },
};
const agent = {
  node: 'n1',
  version: '1',
  workloads: [{ spiffeId: 'spiffe://td/x', serial: 'ab12', notAfter: '2026-01-01T00:00:00Z' }],
  bundles: [{ service: 'orders', revision: 3 }],
};

const badChar = fc.oneof(
  fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)),
  fc.integer({ min: 0x7f, max: 0x9f }).map((c) => String.fromCharCode(c)),
  fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
);

function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

describe('fleet report screens', () => {
  it('accept the reports the SDK and agent send', () => {
    expect(screenPdpReport(good)).toMatchObject({ instance: 'i-1', revision: 4 });
    expect(screenAgentReport(agent)).toMatchObject({ node: 'n1' });
  });

  it('answer any JSON without throwing; what passes is clean and bounded', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        for (const out of [
          screenPdpReport(a),
          screenAgentReport(b),
          screenPdpReport({ ...good, label: a, decisions: b }),
          screenAgentReport({ ...agent, workloads: [a], bundles: b }),
        ]) {
          if (isProblem(out)) {
            expect(out.field).toMatch(/^body/);
            continue;
          }
          for (const s of strings(out)) {
            expect(CONTROL.test(s)).toBe(false);
            expect(s.isWellFormed()).toBe(true);
            expect(s.length).toBeLessThanOrEqual(2048);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('refuse one bad character in any string field, naming it', () => {
    const fields = ['instance', 'service', 'version', 'label', 'startedAt'] as const;
    fc.assert(
      fc.property(
        fc.constantFrom(...fields),
        fc.string({ maxLength: 5 }),
        badChar,
        (field, prefix, bad) => {
          const out = screenPdpReport({ ...good, [field]: `${prefix}${bad}` });
          expect(isProblem(out) && out.field).toBe(`body.${field}`);
        },
      ),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 5 }), badChar, (prefix, bad) => {
        const out = screenAgentReport({
          ...agent,
          workloads: [{ ...agent.workloads[0], spiffeId: `spiffe://td/${prefix}${bad}` }],
        });
        expect(isProblem(out) && out.field).toBe('body.workloads[0].spiffeId');
      }),
    );
  });

  it('read a service as its key: namespace/name kept, the default namespace elided, the rest refused', () => {
    const pdp = (service: string) => screenPdpReport({ ...good, service });
    expect(pdp('team-a/payments')).toMatchObject({ service: 'team-a/payments' });
    expect(pdp('default/payments')).toMatchObject({ service: 'payments' });
    const bundles = (service: string) =>
      screenAgentReport({ ...agent, bundles: [{ service, revision: 1 }] });
    expect(bundles('default/orders')).toMatchObject({ bundles: [{ service: 'orders' }] });
    for (const bad of ['Team-A/payments', 'team-a/', '/payments', 'a/b/c', 'x'.repeat(318)]) {
      const out = pdp(bad);
      expect(isProblem(out) && out.field, bad).toBe('body.service');
      const listed = bundles(bad);
      expect(isProblem(listed) && listed.field, bad).toBe('body.bundles[0].service');
    }
  });

  it('bound the lists of an agent report', () => {
    const many = Array.from({ length: MAX_AGENT_ITEMS + 1 }, () => agent.bundles[0]);
    const out = screenAgentReport({ ...agent, bundles: many });
    expect(isProblem(out) && out.field).toBe('body.bundles');
  });
});
