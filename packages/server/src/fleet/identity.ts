/**
 * The identity view: the trust bundle's roots and where root rotation stands, as the CA's stored
 * state says (certificates only: sealed keys are never read here, only whether a root has one),
 * and every registered workload with the SVID its agent last reported holding.
 */
import { X509Certificate } from 'node:crypto';
import type {
  TrustRootV1 as RootInfo,
  TrustBundleInfoV1 as TrustBundleInfo,
} from '@ward/api-types';
import type { AuthorityStateV1 } from '@ward/ca';
import type { Kysely } from 'kysely';
import type { CaDatabase } from '../ca/tables.ts';

function iso(text: string): string {
  return new Date(text).toISOString();
}

/** Reads the roots and rotation state of `trustDomain`'s CA; undefined when it has none yet. */
export async function trustBundleInfo(
  db: Kysely<CaDatabase>,
  trustDomain: string,
): Promise<TrustBundleInfo | undefined> {
  const row = await db
    .selectFrom('ca_authority')
    .select('state')
    .where('trust_domain', '=', trustDomain)
    .executeTakeFirst();
  if (!row) return undefined;
  const state = JSON.parse(row.state) as AuthorityStateV1;
  return describeAuthority(state);
}

/** The roots and rotation of a CA state (pure; exported for tests). */
export function describeAuthority(state: AuthorityStateV1): TrustBundleInfo {
  const signing = state.roots.findIndex((r) => !r.pending && r.key !== undefined);
  const roots: RootInfo[] = state.roots.map((r, i) => {
    const cert = new X509Certificate(r.cert);
    return {
      subject: cert.subject.replaceAll('\n', ', '),
      serial: cert.serialNumber,
      fingerprint: cert.fingerprint256,
      notBefore: iso(cert.validFrom),
      notAfter: iso(cert.validTo),
      state: r.pending ? 'prepared' : i === signing ? 'active' : 'retiring',
      activatedAt: r.activatedAt === undefined ? null : new Date(r.activatedAt).toISOString(),
    };
  });
  const last = state.intermediates.at(-1);
  const inter = last ? new X509Certificate(last.cert) : undefined;
  const prepared = roots.some((r) => r.state === 'prepared');
  const retiring = roots.some((r) => r.state === 'retiring');
  return {
    roots,
    rotation: {
      state: prepared ? 'prepared' : retiring ? 'activated' : 'idle',
      next: prepared ? 'activate' : retiring ? 'retire' : null,
      intermediate: inter ? { serial: inter.serialNumber, notAfter: iso(inter.validTo) } : null,
    },
  };
}
