/**
 * Promote: switch a service's dry-run intentions to `enforce`. Refused while the window shows
 * calls those rules would deny (unless forced), because enforcing would break exactly those
 * calls. The change goes through the store's normal commit (one new revision, history, bundle
 * revision of the service, watch event) and the audit log, with the acting token's identity.
 */
import type { PromoteAnswerV1 as PromoteResult } from '@ward/api-types';
import type { IntentionDocument } from '@ward/policy';
import type { Kysely } from 'kysely';
import { owns, type Principal } from '../auth/tokens.ts';
import { ServerError } from '../errors.ts';
import { appendAudit } from '../store/audit.ts';
import type { PlannedChange, Store } from '../store/store.ts';
import { dryRunReport } from './reports.ts';
import type { IngestDatabase } from './tables.ts';

export interface PromoteRequest {
  service: string;
  force: boolean;
  /** Window start (epoch ms) and its text, for the audit entry. */
  since: number;
  window: string;
  now: number;
}

export async function promote(
  store: Store,
  ingestDb: Kysely<IngestDatabase>,
  principal: Principal,
  req: PromoteRequest,
): Promise<PromoteResult> {
  if (principal.scope === 'team' && !owns(principal, req.service)) {
    throw new ServerError(
      'API_FORBIDDEN',
      `token "${principal.name}" does not own service "${req.service}"`,
      {
        errors: [
          {
            field: 'params.service',
            message: "not one of this token's services",
            code: 'API_NOT_OWNER',
          },
        ],
      },
    );
  }
  const pending = await dryRunReport(ingestDb, {
    since: req.since,
    now: req.now,
    service: req.service,
  });
  return store.transaction(async (trx) => {
    const intentions = await store.listDocuments(
      { kind: 'Intention', destination: req.service },
      trx,
    );
    const service = await store.getDocument('Service', req.service, trx);
    if (!service && intentions.length === 0) {
      throw new ServerError('API_NOT_FOUND', `no service or intention names ${req.service}`, {
        errors: [{ field: 'params.service', message: 'unknown service' }],
      });
    }
    const dryRun = intentions.filter(
      (d) => (d.document as IntentionDocument).spec.mode === 'dry-run',
    );
    const { revision } = await store.revision(trx);
    if (dryRun.length === 0) {
      return {
        service: req.service,
        changed: false,
        revision,
        promoted: [],
        forced: false,
        denials: pending.items,
      };
    }
    const denied = pending.items.reduce((n, i) => n + i.count, 0);
    if (pending.items.length > 0 && !req.force) {
      throw new ServerError(
        'API_CONFLICT',
        `${denied} call(s) to ${req.service} in the last ${req.window} would be denied once enforced; fix them or approve them, or promote with force`,
        {
          errors: pending.items.map((i) => ({
            field: '/force',
            message: `${i.source} → ${i.destination}: ${i.count} call(s) denied in dry-run by ${i.rule}, last at ${i.lastSeen}`,
            code: 'API_PROMOTE_DRY_RUN_DENIALS',
          })),
        },
      );
    }
    const changes: PlannedChange[] = dryRun.map((d) => {
      const before = d.document as IntentionDocument;
      return {
        kind: 'Intention',
        name: d.name,
        action: 'updated',
        before,
        after: { ...before, spec: { ...before.spec, mode: 'enforce' } },
      };
    });
    const commit = await store.commit(trx, changes, principal, 'promote');
    await appendAudit(
      trx,
      principal,
      'service.promote',
      req.service,
      {
        intentions: dryRun.map((d) => d.name),
        force: req.force,
        window: req.window,
        dryRunDenials: denied,
        services: commit.services,
      },
      commit.revision,
    );
    return {
      service: req.service,
      changed: true,
      revision: commit.revision,
      promoted: dryRun.map((d) => d.name),
      forced: req.force && pending.items.length > 0,
      denials: pending.items,
    };
  }, true);
}
