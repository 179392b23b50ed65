/**
 * The one-off data migration that keeps stored documents meaning what they meant before
 * namespaces (docs/namespaces.md).
 *
 * Before namespaces, service names were global and `metadata.namespace` only shaped a Service's
 * default SPIFFE ID (`spiffe://<td>/ns/<namespace>/sa/<name>`). Now it places the document: a
 * Service `payments` in namespace `shop` would become `shop/payments`, and every bare name in an
 * Intention of namespace `shop` would resolve in `shop`. So every stored document whose
 * `metadata.namespace` is set to anything but `default` is rewritten:
 * - a Service loses `metadata.namespace` and, when it had no `spec.spiffeId`, gains the one it
 *   had by convention, so its identity is unchanged;
 * - an Intention or AttributeSchema loses `metadata.namespace` (its references were global).
 *
 * All of it is one committed change set (its own revision, operation `migrate-namespaces`, actor
 * `system`, audited), in the state-row-locked transaction every writer takes, and runs once: the
 * `ward_state.namespaces_migrated` marker is set in the same transaction (also when there was
 * nothing to rewrite), so replicas starting together rewrite once and a restart does nothing.
 */
import { defaultSpiffeId, type PolicyDocument } from '@ward/policy';
import { appendAudit } from './audit.ts';
import type { Actor, PlannedChange, Store } from './store.ts';

/** The actor of changes Ward makes itself (not on anyone's request). */
export const SYSTEM_ACTOR: Actor = { id: 'system', name: 'system', scope: 'system' };

export const MIGRATE_NAMESPACES_OPERATION = 'migrate-namespaces';

/** The document rewritten to keep its pre-namespace meaning, or undefined when it needs none. */
export function withoutLegacyNamespace(
  doc: PolicyDocument,
  trustDomain: string,
): PolicyDocument | undefined {
  const namespace = doc.metadata?.namespace;
  if (namespace === undefined || namespace === 'default') return undefined;
  const { namespace: _dropped, ...metadata } = doc.metadata;
  if (doc.kind === 'Service') {
    const spec = doc.spec ?? {};
    return {
      ...doc,
      metadata,
      spec: {
        ...spec,
        spiffeId: spec.spiffeId ?? defaultSpiffeId(trustDomain, namespace, doc.metadata.name),
      },
    } as PolicyDocument;
  }
  return { ...doc, metadata } as PolicyDocument;
}

export interface NamespaceMigration {
  /** False when the marker was set already (another start, or another replica, did it). */
  ran: boolean;
  /** The migration's revision, when it rewrote anything. */
  revision?: number;
  /** `Kind/name` of each rewritten document. */
  rewritten: string[];
}

/** Runs the migration unless it ran already; see the file comment. */
export async function migrateNamespaces(store: Store): Promise<NamespaceMigration> {
  return store.transaction(async (trx) => {
    const state = await trx
      .selectFrom('ward_state')
      .select('namespaces_migrated')
      .where('id', '=', 1)
      .executeTakeFirstOrThrow();
    if (Number(state.namespaces_migrated) === 1) return { ran: false, rewritten: [] };
    const changes: PlannedChange[] = [];
    for (const d of await store.listDocuments({}, trx)) {
      const after = withoutLegacyNamespace(d.document, store.trustDomain);
      if (after === undefined) continue;
      changes.push({
        kind: d.kind,
        name: d.name,
        action: 'updated',
        before: d.document,
        after,
        file: '<migrate-namespaces>',
      });
    }
    let revision: number | undefined;
    if (changes.length > 0) {
      const commit = await store.commit(trx, changes, SYSTEM_ACTOR, MIGRATE_NAMESPACES_OPERATION);
      revision = commit.revision;
      await appendAudit(
        trx,
        SYSTEM_ACTOR,
        `documents.${MIGRATE_NAMESPACES_OPERATION}`,
        changes.length === 1
          ? `${changes[0]!.kind}/${changes[0]!.name}`
          : `${changes.length} documents`,
        {
          reason:
            'metadata.namespace now places a document; documents stored before namespaces keep their meaning (global names, same SPIFFE IDs)',
          changes: changes.map((c) => ({ kind: c.kind, name: c.name, action: c.action })),
          services: commit.services,
        },
        revision,
      );
    }
    await trx
      .updateTable('ward_state')
      .set({ namespaces_migrated: 1 })
      .where('id', '=', 1)
      .execute();
    return {
      ran: true,
      ...(revision !== undefined ? { revision } : {}),
      rewritten: changes.map((c) => `${c.kind}/${c.name}`),
    };
  }, true);
}
