/**
 * Revocation reaches open watch streams on every replica. The replica that revokes ends its own
 * streams at once; on PostgreSQL the revoking transaction also sends `NOTIFY ward_token_revoked`
 * (delivered only if it commits), on which the other replicas end theirs (see the follower). A
 * notification lost while a replica's LISTEN connection was down is covered by a slow sweep that
 * re-checks the tokens behind that replica's open streams.
 */
import { type Kysely, sql } from 'kysely';
import type { Database } from '../store/schema.ts';
import type { WatchHub } from '../watch/hub.ts';
import type { Authenticator } from './authenticator.ts';
import type { ServiceIdentities } from './service-identities.ts';

export const REVOKED_CHANNEL = 'ward_token_revoked';

/** Queues the notification in the revoking transaction (PostgreSQL only). */
export async function notifyRevoked(trx: Kysely<Database>, tokenId: string): Promise<void> {
  await sql`SELECT pg_notify(${REVOKED_CHANNEL}, ${tokenId})`.execute(trx);
}

/** Forgets cached lookups and ends the streams of a token revoked (here or on another replica). */
export function onTokenRevoked(hub: WatchHub, authenticator: Authenticator, tokenId: string): void {
  authenticator.invalidate();
  hub.closeHeldBy(tokenId);
}

/**
 * After a revision: ends the streams opened with a client SVID whose SPIFFE ID no longer names
 * the service it watches (its Service was deleted, or given another `spiffeId`). This is how an
 * identity is revoked before its certificate expires.
 */
export async function recheckSvidStreams(
  hub: WatchHub,
  identities: ServiceIdentities,
): Promise<void> {
  for (const id of hub.holders()) {
    if (!id.startsWith('spiffe://')) continue;
    const service = await identities.serviceOf(id);
    hub.closeWhere((w) => w.heldBy === id && w.service !== service);
  }
}

/** Ids among `ids` whose token is revoked. */
async function revokedAmong(db: Kysely<Database>, ids: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < ids.length; i += 400) {
    const rows = await db
      .selectFrom('tokens')
      .select('id')
      .where('id', 'in', ids.slice(i, i + 400))
      .where('revoked_at', 'is not', null)
      .execute();
    for (const r of rows) out.push(r.id);
  }
  return out;
}

/**
 * Every `intervalMs`, ends the streams whose token was revoked (the safety net behind NOTIFY).
 * One query per sweep for all of this replica's streams. Returns a function that stops it.
 */
export function startRevocationSweep(options: {
  db: Kysely<Database>;
  hub: WatchHub;
  authenticator: Authenticator;
  intervalMs: number;
  log?: (message: string) => void;
}): () => void {
  const { db, hub, authenticator } = options;
  let running = false;
  const sweep = async () => {
    if (running) return;
    running = true;
    try {
      const tokens = [...hub.holders()].filter((id) => id.startsWith('tok_'));
      if (tokens.length === 0) return;
      for (const id of await revokedAmong(db, tokens)) onTokenRevoked(hub, authenticator, id);
    } catch (error) {
      options.log?.(`revocation sweep: ${(error as Error).message}`);
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void sweep(), options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
