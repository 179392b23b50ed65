/**
 * The audit log's hash chain: canonical serialisation, hashing and verification. Pure — no I/O —
 * so the server, the CLI and an auditor's own script compute the same thing.
 *
 * Each entry at sequence number `seq` (1, 2, 3, … with no gaps) stores `prevHash` (the previous
 * entry's `hash`, or GENESIS_HASH for seq 1) and
 *
 *   hash = hex(SHA-256(UTF-8(JSON.stringify(
 *            ["ward-audit-v1", seq, prevHash, at, actorId, actorName, action, target, revision, detail]))))
 *
 * where `revision` is an integer or null and `detail` is the stored detail text exactly as stored
 * (a JSON object serialised once at append time; it carries the actor's scope). JSON.stringify of
 * an array of strings, integers and null is deterministic, so this is the whole definition.
 * The database row id is not hashed: it is a storage key, `seq` is the position in the chain.
 */
import { createHash } from 'node:crypto';

/** `prevHash` of the first entry. */
export const GENESIS_HASH = '0'.repeat(64);
export const CHAIN_VERSION = 'ward-audit-v1';

/** The hashed fields of one entry, as stored. */
export interface ChainFields {
  seq: number;
  prevHash: string;
  at: string;
  actorId: string;
  actorName: string;
  action: string;
  target: string;
  revision: number | null;
  /** The stored detail text (not re-serialised). */
  detail: string;
}

export interface ChainEntry extends ChainFields {
  /** The database row id (reported, not hashed). */
  id: number;
  hash: string;
}

export type BreakKind =
  /** The stored hash does not match the entry's contents: edited, or moved from elsewhere. */
  | 'hash-mismatch'
  /** A sequence number is missing: an entry was deleted (or the first ones were). */
  | 'sequence-gap'
  /** A sequence number repeats or goes backwards. */
  | 'sequence-disorder'
  /** The entry does not commit to the previous entry's hash: deleted, inserted or reordered. */
  | 'prev-hash-mismatch'
  /** The store's recorded chain head is not the last entry: the tail was removed or rewritten. */
  | 'head-mismatch'
  /** An operator-recorded head hash is not in the chain (truncated or rewritten history). */
  | 'anchor-not-found'
  /** A row has no place in the chain (no sequence number): inserted behind the chain's back. */
  | 'unchained-entry';

export interface ChainBreak {
  kind: BreakKind;
  /** The sequence number at which the chain breaks (the expected one for a gap). */
  seq: number;
  /** The row id of the offending entry, when there is one. */
  id?: number;
  message: string;
}

export interface ChainResult {
  ok: boolean;
  /** How many entries were walked. */
  entries: number;
  /** The hash of the last valid entry walked (GENESIS_HASH for an empty log). */
  head: string;
  /** Its sequence number (0 for an empty log). */
  headSeq: number;
  firstBreak?: ChainBreak;
}

export function canonicalEntry(f: ChainFields): string {
  return JSON.stringify([
    CHAIN_VERSION,
    f.seq,
    f.prevHash,
    f.at,
    f.actorId,
    f.actorName,
    f.action,
    f.target,
    f.revision,
    f.detail,
  ]);
}

export function entryHash(f: ChainFields): string {
  return createHash('sha256').update(canonicalEntry(f), 'utf8').digest('hex');
}

/**
 * Walks entries in ascending `seq` order one at a time (so a long log can be streamed from the
 * database in pages) and remembers the first break. After a break it stops judging.
 */
export class ChainVerifier {
  private count = 0;
  private lastSeq = 0;
  private lastHash = GENESIS_HASH;
  private broken: ChainBreak | undefined;
  private readonly anchor: string | undefined;
  private anchorSeen = false;

  /** `anchor`: a head hash recorded earlier that must appear in the chain. */
  constructor(anchor?: string) {
    this.anchor = anchor?.toLowerCase();
  }

  get ok(): boolean {
    return this.broken === undefined;
  }

  /** Feeds the next entry; returns false once the chain is broken (the caller may stop). */
  push(e: ChainEntry): boolean {
    if (this.broken) return false;
    this.count++;
    const expected = this.lastSeq + 1;
    if (e.seq !== expected) {
      return this.fail(
        e.seq > expected
          ? {
              kind: 'sequence-gap',
              seq: expected,
              id: e.id,
              message: `audit entries ${expected}..${e.seq - 1} are missing (deleted)`,
            }
          : {
              kind: 'sequence-disorder',
              seq: e.seq,
              id: e.id,
              message: `audit entry ${e.seq} (row ${e.id}) repeats or goes backwards after ${this.lastSeq}`,
            },
      );
    }
    if (entryHash(e) !== e.hash) {
      return this.fail({
        kind: 'hash-mismatch',
        seq: e.seq,
        id: e.id,
        message: `audit entry ${e.seq} (row ${e.id}) does not match its hash: edited or moved`,
      });
    }
    if (e.prevHash !== this.lastHash) {
      return this.fail({
        kind: 'prev-hash-mismatch',
        seq: e.seq,
        id: e.id,
        message: `audit entry ${e.seq} (row ${e.id}) does not follow entry ${this.lastSeq}: an entry before it was deleted, inserted or reordered`,
      });
    }
    this.lastSeq = e.seq;
    this.lastHash = e.hash;
    if (this.anchor !== undefined && e.hash === this.anchor) this.anchorSeen = true;
    return true;
  }

  /**
   * The result. `storedHead`: the chain head the store recorded with its last append (a removed
   * tail leaves it pointing past the last entry).
   */
  result(storedHead?: { seq: number; hash: string }, totalRows?: number): ChainResult {
    if (!this.broken && totalRows !== undefined && totalRows > this.count) {
      this.fail({
        kind: 'unchained-entry',
        seq: this.lastSeq,
        message: `${totalRows - this.count} audit row(s) have no sequence number: inserted outside the chain`,
      });
    }
    if (
      !this.broken &&
      storedHead &&
      (storedHead.seq !== this.lastSeq || storedHead.hash !== this.lastHash)
    ) {
      this.fail({
        kind: 'head-mismatch',
        seq: storedHead.seq,
        message: `the store's chain head is entry ${storedHead.seq} but the log ends at entry ${this.lastSeq}: entries at the end were removed or rewritten`,
      });
    }
    if (!this.broken && this.anchor !== undefined && !this.anchorSeen) {
      this.fail({
        kind: 'anchor-not-found',
        seq: this.lastSeq,
        message: `the recorded head ${this.anchor} is not in the audit chain: history was truncated or rewritten`,
      });
    }
    return {
      ok: !this.broken,
      entries: this.count,
      head: this.lastHash,
      headSeq: this.lastSeq,
      ...(this.broken ? { firstBreak: this.broken } : {}),
    };
  }

  private fail(b: ChainBreak): false {
    this.broken = b;
    return false;
  }
}

/** Verifies a whole chain held in memory (ascending `seq`). */
export function verifyChain(
  entries: Iterable<ChainEntry>,
  opts: { anchor?: string; storedHead?: { seq: number; hash: string }; totalRows?: number } = {},
): ChainResult {
  const v = new ChainVerifier(opts.anchor);
  for (const e of entries) if (!v.push(e)) break;
  return v.result(opts.storedHead, opts.totalRows);
}
