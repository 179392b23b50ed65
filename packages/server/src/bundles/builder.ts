/**
 * Builds one destination's signed bundle from the store. The result is a pure function of the
 * store's content at the bundle's revision (issuedAt is that revision's commit time, documents
 * are in a fixed order), so every replica builds byte-identical payloads: the ETag is the same
 * whichever replica answers, and a PDP never sees two different bundles with one revision.
 */
import type { BundleV1, SignedBundleV1 } from '@ward/api-types';
import { signBundle } from '@ward/bundle';
import {
  documentKey,
  type IntentionDocument,
  type PolicyDocument,
  passportUse,
  type ServiceDocument,
} from '@ward/policy';
import { bundlePassportKeys } from '../store/passport-keys.ts';
import type { Store } from '../store/store.ts';
import { referencedServices, sourcesOf } from './references.ts';
import type { SigningKey } from './signing-key.ts';

export interface BuiltBundle {
  signed: SignedBundleV1;
  /** `"<hash>"`, the HTTP ETag. */
  etag: string;
  /** The JSON response body, serialised once and reused for every request. */
  body: string;
  revision: number;
}

/** Documents in key order (`shop/orders` and `team-a/orders` are two documents). */
const byKey = (a: PolicyDocument, b: PolicyDocument) => {
  const x = documentKey(a);
  const y = documentKey(b);
  return x < y ? -1 : x > y ? 1 : 0;
};

/**
 * Builds the bundle of `service` (a key: `orders`, or `shop/orders`), or undefined when no such
 * service or destination exists.
 */
export async function buildBundle(
  store: Store,
  service: string,
  key: SigningKey,
): Promise<BuiltBundle | undefined> {
  // One read transaction: on PostgreSQL, REPEATABLE READ gives one consistent snapshot.
  const tx = store.db.transaction();
  return (store.dialect === 'postgres' ? tx.setIsolationLevel('repeatable read') : tx).execute(
    async (trx) => {
      const intentions = (
        await store.listDocuments({ kind: 'Intention', destination: service }, trx)
      ).map((d) => d.document as IntentionDocument);
      const own = await store.getDocument('Service', service, trx);
      // A gateway's bundle carries its configuration: its Gateway and every Route on it (the
      // `destination` column of a Route is its gateway's key).
      const edge = [
        ...(await store.listDocuments({ kind: 'Gateway', destination: service }, trx)),
        ...(await store.listDocuments({ kind: 'Route', destination: service }, trx)),
      ].map((d) => d.document);
      if (!own && intentions.length === 0 && edge.length === 0) return undefined;
      // Passport keys only where they are used, and only of the service's zone.
      const passport = passportUse(own?.document as ServiceDocument | undefined, intentions);
      const sources = sourcesOf(intentions);
      // Without patterns only the named services can be referenced: fetch just those (by key,
      // each source resolved in its intention's namespace).
      const needAll = sources.some((s) => s.kind !== 'key' || s.glob);
      let q = trx.selectFrom('documents').select('body').where('kind', '=', 'Service');
      if (!needAll) {
        const named = sources.flatMap((s) => (s.kind === 'key' ? [s.text] : []));
        q = q.where('name', 'in', [service, ...named]);
      }
      const candidates = (await q.execute()).map((r) => JSON.parse(r.body) as ServiceDocument);
      const keys = referencedServices(service, intentions, candidates, store.trustDomain);
      const services = candidates.filter((s) => keys.has(documentKey(s))).sort(byKey);
      const { keysRevision } = await store.revision(trx);
      const revision = Math.max((await store.serviceRevision(service, trx)) ?? 0, keysRevision);
      const at = await trx
        .selectFrom('revisions')
        .select('at')
        .where('revision', '=', revision)
        .executeTakeFirst();
      const bundle: BundleV1 = {
        apiVersion: 'ward.dev/v1',
        kind: 'Bundle',
        service,
        revision,
        issuedAt: at?.at ?? new Date(0).toISOString(),
        trustDomain: store.trustDomain,
        documents: [...services, ...intentions.sort(byKey), ...edge],
        passportKeys: await bundlePassportKeys(trx, store.sealKey, passport),
        passport,
      };
      const signed = signBundle(bundle, key.privateKey);
      return { signed, etag: `"${signed.hash}"`, body: JSON.stringify(signed), revision };
    },
  );
}
