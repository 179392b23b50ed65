import { isSpiffeId as caIsSpiffeId, parseTrustDomain as caParseTrustDomain } from '@ward/ca';
import { spiffeIdProblem as policySpiffeIdProblem } from '@ward/policy';
import { isSpiffeId as sdkIsSpiffeId } from '@ward/sdk';
import { describe, expect, it } from 'vitest';
import { vectors } from '../packages/spiffe/test/vectors.ts';

/**
 * Issue 9 item 7: every package that checks a SPIFFE ID must give the same answer, the one the
 * SPIFFE-ID standard gives. Before one module did the check, the CA and the policy engine
 * accepted a 256-byte trust domain that the SDK refused, and so on.
 */
const checks: Record<string, (id: string) => boolean> = {
  '@ward/ca isSpiffeId': (id) => caIsSpiffeId(id),
  '@ward/policy spiffeIdProblem': (id) => policySpiffeIdProblem(id) === undefined,
  '@ward/sdk isSpiffeId': (id) => sdkIsSpiffeId(id),
};

describe('one SPIFFE ID check across packages', () => {
  for (const [name, check] of Object.entries(checks)) {
    it(`${name} agrees with the conformance vectors`, () => {
      const wrong = [
        ...vectors.validIds.filter((id) => !check(id)).map((id) => `refused valid ${id}`),
        ...vectors.invalidIds.filter((id) => check(id)).map((id) => `accepted invalid ${id}`),
      ];
      expect(wrong.map((w) => (w.length > 80 ? `${w.slice(0, 80)}…` : w))).toEqual([]);
    });
  }

  it('@ward/ca parseTrustDomain agrees with the trust-domain vectors', () => {
    for (const td of vectors.validTrustDomains) expect(caParseTrustDomain(td)).toBe(td);
    for (const td of vectors.invalidTrustDomains) expect(() => caParseTrustDomain(td)).toThrow();
  });
});
