import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { boundedBucket, bucketKey, MAX_BUCKET_LENGTH, type RateLimitRule } from '../src/index.ts';
import { rateLimitAddress } from '../src/server/rate-limit.ts';

const rule = (by: RateLimitRule['by']): RateLimitRule => ({ by, limit: 100, windowSec: 60 });

describe('bucketKey', () => {
  it('composes route, rule and the counted value', () => {
    const ctx = { ip: '203.0.113.7', user: 'alice', apiKeyId: 'ci-bot' };
    expect(bucketKey('shop/products', rule('ip'), ctx)).toBe(
      'shop/products|ip|100/60|ip:203.0.113.7',
    );
    expect(bucketKey('shop/products', rule('user'), ctx)).toBe(
      'shop/products|user|100/60|user:alice',
    );
    expect(bucketKey('shop/products', rule('apiKey'), ctx)).toBe(
      'shop/products|apiKey|100/60|key:ci-bot',
    );
    expect(bucketKey('shop/products', rule('route'), ctx)).toBe(
      'shop/products|route|100/60|route:',
    );
    expect(bucketKey('shop/products', { by: 'ip', limit: 5, windowSec: 1 }, ctx)).toBe(
      'shop/products|ip|5/1|ip:203.0.113.7',
    );
    expect(bucketKey('shop/a', rule('ip'), { ip: '2001:db8::1' })).toBe(
      'shop/a|ip|100/60|ip:2001:db8::1',
    );
  });

  it('counts an absent user or API key under the client IP, apart from by: ip', () => {
    const anonymous = { ip: '198.51.100.2' };
    const byUser = bucketKey('shop/a', rule('user'), anonymous);
    expect(byUser).toBe('shop/a|user|100/60|ip:198.51.100.2');
    expect(bucketKey('shop/a', rule('apiKey'), anonymous)).toBe(
      'shop/a|apiKey|100/60|ip:198.51.100.2',
    );
    expect(byUser).not.toBe(bucketKey('shop/a', rule('ip'), anonymous));
    // A user whose subject looks like the fallback does not share its bucket.
    expect(bucketKey('shop/a', rule('user'), { ip: 'x', user: 'ip:198.51.100.2' })).not.toBe(
      byUser,
    );
  });

  it('hashes values that are long or carry other characters', () => {
    const key = bucketKey('shop/a', rule('user'), { ip: 'x', user: 'eve|ip|1/1|ip:1.2.3.4' });
    expect(key).toMatch(/^shop\/a\|user\|100\/60\|user:~[A-Za-z0-9_-]{43}$/);
    const long = bucketKey('shop/a', rule('user'), { ip: 'x', user: 'a'.repeat(129) });
    expect(long).toMatch(/\|user:~[A-Za-z0-9_-]{43}$/);
    expect(bucketKey('shop/a', rule('user'), { ip: 'x', user: 'a'.repeat(128) })).toContain(
      'a'.repeat(128),
    );
  });

  it('refuses a rule outside its bounds (misuse)', () => {
    expect(() => bucketKey('r', { by: 'ip', limit: 1e10, windowSec: 1 }, { ip: 'x' })).toThrow(
      TypeError,
    );
    expect(() =>
      bucketKey('r', { by: 'header' as 'ip', limit: 1, windowSec: 1 }, { ip: 'x' }),
    ).toThrow(TypeError);
  });

  it('hostile values never make a key over the bound, never collide across kinds, never throw', () => {
    const hostile = fc.oneof(
      fc.string({ maxLength: 400 }),
      fc.string({ unit: 'binary', maxLength: 2000 }),
      fc.constantFrom('', '|', '~', 'ip:1.2.3.4', 'user:x', '\u0000', '../../etc', '{tag}'),
    );
    fc.assert(
      fc.property(
        hostile,
        fc.constantFrom<RateLimitRule['by']>('ip', 'user', 'apiKey', 'route'),
        fc.integer({ min: 1, max: 1e9 }),
        fc.integer({ min: 1, max: 86_400 }),
        hostile,
        fc.option(hostile, { nil: undefined }),
        fc.option(hostile, { nil: undefined }),
        (route, by, limit, windowSec, ip, user, apiKeyId) => {
          const key = bucketKey(route, { by, limit, windowSec }, { ip, user, apiKeyId });
          expect(key.length).toBeLessThanOrEqual(MAX_BUCKET_LENGTH);
          expect(key).toMatch(/^[A-Za-z0-9._:/@+=|~-]+$/);
          expect(key.split('|')).toHaveLength(4);
          expect(boundedBucket(key)).toBe(key);
          if (by === 'user' && user !== undefined && ip === user)
            expect(key).not.toBe(bucketKey(route, { by, limit, windowSec }, { ip }));
        },
      ),
    );
  });

  it('boundedBucket hashes any name over the bound', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 5000 }), (name) => {
        const bounded = boundedBucket(name);
        expect(bounded.length).toBeLessThanOrEqual(MAX_BUCKET_LENGTH);
        if (name.length > MAX_BUCKET_LENGTH) expect(bounded).toMatch(/^~[A-Za-z0-9_-]{43}$/);
      }),
    );
  });
});

describe('rateLimitAddress', () => {
  it('counts IPv6 callers by their /64 and IPv4-mapped ones by their IPv4 address', () => {
    expect(rateLimitAddress('203.0.113.7')).toBe('203.0.113.7');
    expect(rateLimitAddress('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(rateLimitAddress('2001:0db8:0001:0002:ffff::1')).toBe('2001:db8:1:2::/64');
    expect(rateLimitAddress('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(rateLimitAddress('2001:db8:a:b::1.2.3.4')).toBe('2001:db8:a:b::/64');
    expect(rateLimitAddress('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(rateLimitAddress('::ffff:198.51.100.9')).toBe('198.51.100.9');
    expect(rateLimitAddress('::ffff:c633:6409')).toBe('198.51.100.9');
    expect(rateLimitAddress('unknown')).toBe('unknown');
    // One bucket for the whole /64 under a by: ip rule.
    const a = bucketKey('r', rule('ip'), { ip: rateLimitAddress('2001:db8:1:2::a') });
    const b = bucketKey('r', rule('ip'), { ip: rateLimitAddress('2001:db8:1:2:ffff:0:0:b') });
    expect(a).toBe(b);
    expect(a).toBe('r|ip|100/60|ip:2001:db8:1:2::/64');
  });

  it('any IPv6 address maps to the /64 its first four groups name, and never throws (property)', () => {
    fc.assert(
      fc.property(fc.ipV6(), (ip) => {
        const out = rateLimitAddress(ip);
        const expanded = new URL(`http://[${ip}]/`).hostname; // WHATWG's canonical form
        if (out.includes('/')) {
          expect(out).toMatch(/^([0-9a-f]{1,4}:){4}:\/64$/);
          expect(rateLimitAddress(expanded.slice(1, -1))).toBe(out);
        } else {
          expect(expanded.startsWith('[::ffff:')).toBe(true);
        }
      }),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 64 }), (text) => {
        expect(typeof rateLimitAddress(text)).toBe('string');
      }),
    );
  });
});
