/**
 * One watched secret in the SDK: its versions from the last accepted reply and, precomputed from
 * them, the version current now and the versions valid now. Both are recomputed only when a reply
 * arrives or at the next activation/expiry instant (one timer at `nextTransition`), so reading
 * them is a field load: `get()` allocates nothing and computes nothing.
 */
import { currentVersion, nextTransition, validVersions } from '@ward/secrets';
import type { SecretsClientError } from './errors.ts';
import type { SecretValue } from './reply.ts';

export type SecretWatcher = (value: SecretValue | undefined) => void;

const EMPTY: readonly SecretValue[] = Object.freeze([]);
/** setTimeout's longest delay; a later transition is re-armed from there. */
const MAX_DELAY = 2 ** 31 - 1;

export class SecretSlot {
  readonly key: string;
  /** The version callers use now; undefined when none is held. */
  current: SecretValue | undefined;
  /** Every version accepted now, newest first (frozen). */
  valid: readonly SecretValue[] = EMPTY;
  /** Whether a reply was ever accepted (connectSecrets waits for it). */
  loaded = false;
  /** Set when the agent refused this workload the secret: values dropped. */
  withdrawn: SecretsClientError | undefined;
  /** The agent's last status or the last refused reply, for errors and timeouts. */
  lastProblem: string | undefined;
  readonly watchers = new Set<SecretWatcher>();
  #versions: readonly SecretValue[] = EMPTY;
  #timer: NodeJS.Timeout | undefined;
  readonly #notify: (slot: SecretSlot, value: SecretValue | undefined) => void;

  constructor(key: string, notify: (slot: SecretSlot, value: SecretValue | undefined) => void) {
    this.key = key;
    this.#notify = notify;
  }

  /** Takes the versions of an accepted reply. */
  accept(versions: readonly SecretValue[]): void {
    this.#versions = versions;
    this.loaded = true;
    this.withdrawn = undefined;
    this.lastProblem = undefined;
    this.refresh();
  }

  /** Drops every value (access withdrawn, or the client closed). */
  drop(reason: SecretsClientError | undefined): void {
    this.#clearTimer();
    this.#versions = EMPTY;
    this.valid = EMPTY;
    this.withdrawn = reason;
    const had = this.current;
    this.current = undefined;
    if (had !== undefined && reason !== undefined) this.#notify(this, undefined);
  }

  /** Recomputes current and valid at now and arms the timer for the next transition. */
  refresh(): void {
    this.#clearTimer();
    const now = Date.now();
    const versions = this.#versions;
    const previous = this.current;
    this.current = currentVersion(versions, now);
    this.valid = Object.freeze(validVersions(versions, now));
    const next = nextTransition(versions, now);
    if (next !== undefined) {
      this.#timer = setTimeout(() => this.refresh(), Math.min(next - now, MAX_DELAY));
      this.#timer.unref();
    }
    if (changed(previous, this.current)) this.#notify(this, this.current);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** Whether callers must switch: another version, or the same one with other fields or lease. */
function changed(a: SecretValue | undefined, b: SecretValue | undefined): boolean {
  if (a === b) return false;
  if (a === undefined || b === undefined) return true;
  if (a.version !== b.version || a.lease?.id !== b.lease?.id) return true;
  const fields = Object.keys(a.data);
  if (fields.length !== Object.keys(b.data).length) return true;
  return fields.some((f) => !Object.hasOwn(b.data, f) || a.data[f] !== b.data[f]);
}
