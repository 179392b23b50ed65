/**
 * The secrets the agent holds for the services of its node, in memory only. They arrive as
 * `event: secret` on the agent's one control-plane stream (`bundle-feed.ts`) and leave when the
 * control plane says `removed`, when a newer revision replaces them, or when the node's
 * registration entries no longer name the service (`forgetService`). Nothing here touches a
 * disk: a copy of the node's filesystem reveals no value the agent held.
 *
 * The stream is untrusted input like the bundles beside it: every event is shape-checked and
 * bounded, and per (service, secret) the revision only rises, so a replayed or reordered event
 * cannot put an older value back.
 */
import { EventEmitter } from 'node:events';
import type { AgentSecretEventV1, SecretTypeV1, SecretVersionV1 } from '@ward/api-types';
import { checkSecretData, isSecretKey, SecretsError } from '@ward/secrets';
import { isServiceKey } from '@ward/spiffe';

/** A secret held for one service (an {@link AgentSecretEventV1} that passed the checks). */
export interface HeldSecret extends AgentSecretEventV1 {
  /** Absent for `postgres` (leased on demand) and when `removed`. */
  versions?: SecretVersionV1[];
}

/** Versions valid at once: the control plane keeps 10 values; room for pending ones. */
const MAX_VERSIONS = 32;
const TYPES: readonly SecretTypeV1[] = ['static', 'random', 'keypair', 'postgres'];

/**
 * Checks a secret value's fields with the control plane's own limits (`checkSecretData`).
 * Returns a fresh object (a field named `__proto__` stays a field) or a reason naming the field,
 * never the value.
 */
export function parseSecretData(data: unknown, where: string): Record<string, string> | string {
  try {
    return checkSecretData(data);
  } catch (error) {
    if (error instanceof SecretsError) return `${where}: ${error.message}`;
    throw error;
  }
}

const isTime = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** Checks the shape of a `secret` event's data; returns the held form, or a reason to drop it. */
export function parseSecretEvent(data: unknown): HeldSecret | string {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return 'not an object';
  const d = data as Record<string, unknown>;
  if (typeof d.service !== 'string' || !isServiceKey(d.service))
    return 'service: not a service key';
  if (
    typeof d.spiffeId !== 'string' ||
    !d.spiffeId.startsWith('spiffe://') ||
    d.spiffeId.length > 2048
  )
    return 'spiffeId: not a SPIFFE ID';
  if (typeof d.secret !== 'string' || !isSecretKey(d.secret)) return 'secret: not a secret key';
  if (!isTime(d.revision)) return 'revision: not a revision';
  if (typeof d.type !== 'string' || !TYPES.includes(d.type as SecretTypeV1))
    return 'type: not a secret type';
  const base = {
    service: d.service,
    spiffeId: d.spiffeId,
    secret: d.secret,
    revision: d.revision,
    type: d.type as SecretTypeV1,
  };
  if (d.removed !== undefined) {
    if (d.removed !== true) return 'removed: not true';
    return { ...base, removed: true };
  }
  if (d.type === 'postgres') {
    if (d.versions !== undefined) return 'versions: a postgres secret carries none (leased)';
    return base;
  }
  if (!Array.isArray(d.versions)) return 'versions: not an array';
  if (d.versions.length > MAX_VERSIONS) return `versions: more than ${MAX_VERSIONS}`;
  const versions: SecretVersionV1[] = [];
  const seen = new Set<number>();
  for (const [i, raw] of d.versions.entries()) {
    const where = `versions[${i}]`;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
      return `${where}: not an object`;
    const v = raw as Record<string, unknown>;
    if (!Number.isSafeInteger(v.version) || (v.version as number) < 1)
      return `${where}.version: not a version number`;
    if (seen.has(v.version as number)) return `${where}.version: repeated`;
    seen.add(v.version as number);
    if (!isTime(v.notBefore)) return `${where}.notBefore: not a time`;
    if (v.notAfter !== null && !isTime(v.notAfter)) return `${where}.notAfter: not a time or null`;
    const parsed = parseSecretData(v.data, `${where}.data`);
    if (typeof parsed === 'string') return parsed;
    versions.push({
      version: v.version as number,
      data: parsed,
      notBefore: v.notBefore,
      notAfter: v.notAfter as number | null,
    });
  }
  return { ...base, versions };
}

const keyOf = (service: string, secret: string) => `${service}\n${secret}`;

/**
 * Holds the newest state of each (service, secret) and emits `secret` (service, secret) when it
 * changes (a new revision, a removal, a forgotten service).
 */
export class SecretStore extends EventEmitter {
  readonly #held = new Map<string, HeldSecret>();
  #synced = false;
  /**
   * The highest revision seen per (service, secret) still held. A removal clears it: the stream
   * is ordered, and a service that leaves the node and joins again gets the secret at its own
   * (older) revision, which must not be refused. Cleared with `forgetService`.
   */
  readonly #revisions = new Map<string, number>();

  constructor() {
    super();
    this.setMaxListeners(0);
  }

  /** The secret held for `service`, if any. */
  get(service: string, secret: string): HeldSecret | undefined {
    return this.#held.get(keyOf(service, secret));
  }

  /** Some held secret of `service` (to learn the service's SPIFFE ID), if any. */
  anyOf(service: string): HeldSecret | undefined {
    for (const h of this.#held.values()) if (h.service === service) return h;
    return undefined;
  }

  /** The services with at least one held secret. */
  services(): Set<string> {
    return new Set([...this.#held.values()].map((h) => h.service));
  }

  /** How many secrets are held (metrics, tests). */
  get size(): number {
    return this.#held.size;
  }

  /**
   * Takes an event: kept when its revision is above every one seen for its (service, secret)
   * (a removal drops what is held). Returns whether anything changed.
   */
  accept(event: HeldSecret): boolean {
    const key = keyOf(event.service, event.secret);
    const seen = this.#revisions.get(key);
    if (seen !== undefined && event.revision <= seen) return false;
    if (event.removed) {
      this.#revisions.delete(key);
      if (!this.#held.delete(key)) return false;
    } else {
      this.#revisions.set(key, event.revision);
      this.#held.set(key, event);
    }
    this.emit('secret', event.service, event.secret);
    return true;
  }

  /** Every (service, secret) held now. */
  pairs(): [service: string, secret: string][] {
    return [...this.#held.values()].map((h) => [h.service, h.secret]);
  }

  /**
   * Drops what is held for (service, secret) as a removal would: the connect snapshot after a
   * reconnect no longer carries it (its `removed` was sent while this agent was away).
   */
  /**
   * Whether a connect snapshot has been read whole since the agent started: until then, a secret
   * not held may simply not have arrived yet; after, it is not this node's to hold.
   */
  get synced(): boolean {
    return this.#synced;
  }

  /** The feed read a whole connect snapshot: emits `synced` the first time. */
  markSynced(): void {
    if (this.#synced) return;
    this.#synced = true;
    this.emit('synced');
  }

  withdraw(service: string, secret: string): void {
    const key = keyOf(service, secret);
    this.#revisions.delete(key);
    if (this.#held.delete(key)) this.emit('secret', service, secret);
  }

  /** Drops every secret of `service` (its workloads left the node). */
  forgetService(service: string): void {
    const gone: string[] = [];
    for (const [key, h] of this.#held) {
      if (h.service === service) {
        this.#held.delete(key);
        gone.push(h.secret);
      }
    }
    for (const key of this.#revisions.keys()) {
      if (key.startsWith(`${service}\n`)) this.#revisions.delete(key);
    }
    for (const secret of gone) this.emit('secret', service, secret);
  }
}
