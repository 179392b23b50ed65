/**
 * Which store failures answer 503 STORE_UNREACHABLE (retry elsewhere or later) rather than 500.
 * A replica frozen mid-write has its session ended by PostgreSQL's idle-in-transaction timeout
 * (SQLSTATE 25P03): whether its next statement sees that error itself or a dead client depends on
 * timing, and both must be 503 (the chaos test "a replica frozen mid-write" relies on it).
 */
import { describe, expect, it } from 'vitest';
import { storeUnreachable } from '../src/http/problem.ts';

const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('storeUnreachable', () => {
  it('counts sessions the server ended and lost connections', () => {
    for (const code of ['25P03', '57P05', '57P01', '57014', '08006', 'ECONNRESET']) {
      expect(storeUnreachable(pgError(code)), code).toBe(true);
    }
    expect(
      storeUnreachable(new Error('Client has encountered a connection error and is not queryable')),
    ).toBe(true);
  });

  it('does not count errors of the request itself', () => {
    for (const code of ['23505', '22P02', '42P01', '40001']) {
      expect(storeUnreachable(pgError(code)), code).toBe(false);
    }
    expect(storeUnreachable(new Error('boom'))).toBe(false);
  });
});
