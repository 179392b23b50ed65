/** Which services need passport keys: decided on the parsed CEL, plus `spec.passport`. */
import { describe, expect, it } from 'vitest';
import {
  conditionReadsPassport,
  type IntentionDocument,
  passportUse,
  type ServiceDocument,
} from '../src/index.ts';

const intention = (...whens: (string | undefined)[]): IntentionDocument => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Intention',
  metadata: { name: 'orders' },
  spec: {
    destination: 'orders',
    rules: whens.map((when) => ({
      sources: ['web'],
      action: 'allow',
      ...(when !== undefined ? { when } : {}),
    })),
  },
});
const service = (passport?: ServiceDocument['spec']['passport']): ServiceDocument => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Service',
  metadata: { name: 'orders' },
  spec: passport ? { passport } : {},
});

describe('conditionReadsPassport', () => {
  it('finds the passport variable anywhere in the tree, and nothing else', () => {
    const reads = [
      'passport.present',
      'has(passport.sub)',
      'request.method == "GET" || passport.attrs.?role.orValue("") == "admin"',
      '[1, 2].exists(x, passport.exp > x)',
      '"admin" in passport.attrs.roles',
    ];
    const doesNot = [
      'request.headers["passport"] == "x"',
      'source.service == "passport"',
      'request.path.startsWith("/passport")',
      'request.method == "GET"',
    ];
    for (const w of reads) expect(conditionReadsPassport(w), w).toBe(true);
    for (const w of doesNot) expect(conditionReadsPassport(w), w).toBe(false);
  });
});

describe('passportUse', () => {
  it('gives keys only to readers, declared verifiers and minters, in their zone', () => {
    expect(passportUse(service(), [intention(undefined, 'request.method == "GET"')])).toEqual({
      zone: 'default',
      mint: false,
      verify: false,
      maxLifetimeSec: 3600,
    });
    expect(passportUse(undefined, [intention('passport.present')]).verify).toBe(true);
    expect(passportUse(service({ verify: true, zone: 'eu' }), [])).toMatchObject({
      zone: 'eu',
      verify: true,
      mint: false,
    });
    expect(passportUse(service({ mint: true, maxLifetimeSec: 60 }), [])).toEqual({
      zone: 'default',
      mint: true,
      verify: true,
      maxLifetimeSec: 60,
    });
  });
});
