import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  heartbeatRevision,
  parseRetryAfter,
  RETRY_AFTER_MAX_MS,
  watchIdleTimeout,
} from '../src/pdp/control-plane.ts';
import { nextPlane } from '../src/pdp/sync.ts';

/**
 * The parsers of what a control plane says about itself — `Retry-After` and the heartbeat's
 * revision — take any input without throwing and never yield a wait beyond the cap or a
 * revision that is not a non-negative integer. `nextPlane` skips control planes waiting out
 * their `Retry-After` while another is free.
 */
describe('Retry-After and heartbeat parsing', () => {
  it('reads delay-seconds and HTTP dates, capped at 60 s', () => {
    const now = Date.parse('2026-11-30T06:00:00Z');
    expect(parseRetryAfter('2', now)).toBe(2000);
    expect(parseRetryAfter(['3'], now)).toBe(3000);
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter('86400', now)).toBe(RETRY_AFTER_MAX_MS);
    expect(parseRetryAfter('Mon, 30 Nov 2026 06:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Mon, 30 Nov 2026 05:00:00 GMT', now)).toBe(0);
    for (const bad of [undefined, '', ' ', '-1', '1.5', '2 s', 'soon', '12345678901', '1e3']) {
      expect(parseRetryAfter(bad, now)).toBeUndefined();
    }
  });

  it('never throws and stays within [0, cap] on any input (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.nat().map(String),
          fc.date().map((d) => d.toUTCString()),
        ),
        (text) => {
          const ms = parseRetryAfter(text);
          if (ms !== undefined) {
            expect(Number.isFinite(ms)).toBe(true);
            expect(ms).toBeGreaterThanOrEqual(0);
            expect(ms).toBeLessThanOrEqual(RETRY_AFTER_MAX_MS);
          }
        },
      ),
    );
  });

  it('takes the revision of a heartbeat comment and nothing else (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999_999_999_999_999 }), (revision) => {
        expect(heartbeatRevision(`heartbeat ${revision}`)).toBe(revision);
      }),
    );
    fc.assert(
      fc.property(fc.string(), (text) => {
        const r = heartbeatRevision(text);
        if (r !== undefined) {
          expect(Number.isSafeInteger(r) && r >= 0).toBe(true);
          expect(text).toBe(`heartbeat ${text.slice(10)}`);
        }
      }),
    );
    for (const bad of ['heartbeat', 'heartbeat ', 'heartbeat -1', 'heartbeat 1 2', 'connected']) {
      expect(heartbeatRevision(bad)).toBeUndefined();
    }
  });
});

describe('nextPlane', () => {
  it('goes round in order, skipping planes that wait out a Retry-After', () => {
    expect(nextPlane(0, [0, 0, 0], 100)).toBe(1);
    expect(nextPlane(2, [0, 0, 0], 100)).toBe(0);
    expect(nextPlane(0, [0, 500, 0], 100)).toBe(2);
    expect(nextPlane(0, [0], 100)).toBe(0);
    // All waiting: the one free soonest.
    expect(nextPlane(0, [900, 500, 700], 100)).toBe(1);
  });

  it('returns a free plane whenever one exists (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 6 }),
        fc.nat(),
        fc.integer({ min: 0, max: 1000 }),
        (notBefore, i, now) => {
          const index = i % notBefore.length;
          const next = nextPlane(index, notBefore, now);
          expect(next).toBeGreaterThanOrEqual(0);
          expect(next).toBeLessThan(notBefore.length);
          if (notBefore.some((t) => t <= now)) expect(notBefore[next]).toBeLessThanOrEqual(now);
          else expect(notBefore[next]).toBe(Math.min(...notBefore));
        },
      ),
    );
  });
});

describe('watch idle timeout', () => {
  it('is three announced heartbeats at most and two at least, readTimeoutMs in between', () => {
    // Defaults: 5 s heartbeats, 15 s read timeout.
    expect(watchIdleTimeout('5000', 15_000)).toBe(15_000);
    expect(watchIdleTimeout('200', 15_000)).toBe(600);
    // A control plane on the former 15 s heartbeat is not dropped between two heartbeats.
    expect(watchIdleTimeout('15000', 15_000)).toBe(30_000);
    expect(watchIdleTimeout('5000', 12_000)).toBe(12_000);
    expect(watchIdleTimeout(undefined, 15_000)).toBe(15_000);
    expect(watchIdleTimeout('-5', 15_000)).toBe(15_000);
    expect(watchIdleTimeout(['1000'], 15_000)).toBe(3000);
  });
});
