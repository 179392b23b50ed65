import { createHash, randomBytes } from 'node:crypto';
import { CaError } from './errors.ts';

const PREFIX = 'wjt_';

/** A new one-time join token (shown once) and the hash that is stored. */
export function generateJoinToken(): { token: string; hash: string } {
  const token = `${PREFIX}${randomBytes(32).toString('base64url')}`;
  return { token, hash: hashJoinToken(token) };
}

/**
 * The stored form of a join token: SHA-256, hex. Tokens carry 256 random bits, so a fast hash is
 * enough (no password stretching needed) and lookups stay indexable.
 */
export function hashJoinToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Validates the shape of a presented join token; throws `CA_JOIN_TOKEN_INVALID`. */
export function parseJoinToken(value: unknown, field = 'joinToken'): string {
  if (typeof value !== 'string' || !/^wjt_[A-Za-z0-9_-]{43}$/.test(value)) {
    throw new CaError('CA_JOIN_TOKEN_INVALID', `${field}: not a Ward join token`, { field });
  }
  return value;
}
