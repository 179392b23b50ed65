/**
 * Root rotation in three steps, so no live identity ever meets a verifier that does not trust it:
 *
 * 1. prepare: a new root joins the trust bundle but signs nothing yet. Agents pick the bundle up
 *    at their next sync and stream it to workloads, which then trust both roots.
 * 2. activate (once the new bundle has spread, e.g. after one agent sync interval plus a
 *    margin): a new intermediate under the new root becomes the signer. SVIDs issued before keep
 *    chaining to the old root, which is still in every bundle.
 * 3. retire (once every SVID chained to the old root has expired): the old root, its key and its
 *    intermediates leave the state and the bundle.
 */
import { X509Certificate as NodeX509 } from 'node:crypto';
import {
  type AuthorityLifetimes,
  type AuthorityStateV1,
  makeRoot,
  purposeRoot,
  withNewIntermediate,
} from './authority.ts';
import { CaError } from './errors.ts';
import { exportPrivateKey, generateKeyPair } from './keys.ts';
import { type SealKey, seal } from './seal.ts';
import { pemOf } from './x509.ts';

const ROOT_TTL_SECONDS = 10 * 365 * 86400;

/** Step 1: adds a new, not yet signing root to the trust bundle. */
export async function withPreparedRoot(
  state: AuthorityStateV1,
  sealKey: SealKey,
  options: { now: number; lifetimes?: AuthorityLifetimes | undefined },
): Promise<AuthorityStateV1> {
  if (state.roots.some((r) => r.pending)) {
    throw new CaError('CA_CONFLICT', 'a new root is already prepared: activate it first');
  }
  const keys = await generateKeyPair();
  const root = await makeRoot(
    state.trustDomain,
    keys,
    options.now,
    options.lifetimes?.rootTtlSeconds ?? ROOT_TTL_SECONDS,
  );
  const key = seal(
    sealKey,
    await exportPrivateKey(keys.privateKey),
    purposeRoot(state.trustDomain, root.serialNumber),
  );
  return { ...state, roots: [{ cert: pemOf(root), key, pending: true }, ...state.roots] };
}

/** Step 2: the prepared root starts signing, through a new intermediate. */
export async function withActivatedRoot(
  state: AuthorityStateV1,
  sealKey: SealKey,
  options: { now: number; lifetimes?: AuthorityLifetimes | undefined },
): Promise<AuthorityStateV1> {
  if (!state.roots.some((r) => r.pending)) {
    throw new CaError('CA_CONFLICT', 'no prepared root to activate: prepare one first');
  }
  const roots = state.roots.map((r) =>
    r.pending ? { cert: r.cert, ...(r.key ? { key: r.key } : {}), activatedAt: options.now } : r,
  );
  return withNewIntermediate({ ...state, roots }, sealKey, options);
}

/**
 * Step 3: drops every root but the signing one, with the intermediates they issued. Refused
 * (`CA_CONFLICT`) while an SVID chained to an old root may still be alive: `maxLeafTtlSeconds`
 * after the activation, plus a minute for clock skew.
 */
export function withoutRetiredRoots(
  state: AuthorityStateV1,
  options: { now: number; maxLeafTtlSeconds: number },
): AuthorityStateV1 {
  if (state.roots.some((r) => r.pending)) {
    throw new CaError('CA_CONFLICT', 'a prepared root is not active yet: activate it first');
  }
  const active = state.roots.find((r) => r.key !== undefined);
  if (!active || state.roots.length === 1) {
    throw new CaError('CA_CONFLICT', 'there is no old root to retire');
  }
  const safeAt = (active.activatedAt ?? 0) + options.maxLeafTtlSeconds * 1000 + 60_000;
  if (options.now < safeAt) {
    throw new CaError(
      'CA_CONFLICT',
      `SVIDs chained to the old root may live until ${new Date(safeAt).toISOString()}; retire it after that`,
    );
  }
  const activeCert = new NodeX509(active.cert);
  const intermediates = state.intermediates.filter((i) => {
    const c = new NodeX509(i.cert);
    return c.checkIssued(activeCert) && c.verify(activeCert.publicKey);
  });
  return { ...state, roots: [active], intermediates };
}
