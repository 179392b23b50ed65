/**
 * `connectSecrets`: a service's secrets from the local node agent. One gRPC client over the
 * agent's Unix socket, one `ward.agent.v1.Secrets/WatchSecret` stream per secret; each reply
 * replaces the secret's versions. Values live in this process's memory only.
 *
 * - A broken stream (agent restarting) is reopened with jittered backoff; meanwhile the last
 *   values keep being served — rotation's grace period covers the gap.
 * - PERMISSION_DENIED (the workload's registration or the grant was withdrawn) drops the value
 *   at once: `get` then throws SECRETS_ACCESS_WITHDRAWN. A revoked workload loses access.
 */
import * as grpc from '@grpc/grpc-js';
import { AGENT_SECRETS_SERVICE, type SecretWatchRequestV1 } from '@ward/api-types';
import { secretKeyOf } from '@ward/secrets';
import { canonicalServiceKey, namespaceOfKey } from '@ward/spiffe';
import { agentClient, watchAgentStream } from '../agent/stream.ts';
import { workloadSocketPath } from '../identity/endpoint.ts';
import { SecretsClientError } from './errors.ts';
import { MAX_DATA_BYTES, MAX_VERSIONS, parseSecretReply, type SecretValue } from './reply.ts';
import { SecretSlot, type SecretWatcher } from './slot.ts';

/** Where the secrets client reports (a pino logger fits). */
export interface SecretsLogger {
  warn(fields: object, message: string): void;
  info?(fields: object, message: string): void;
}

/** Options of {@link connectSecrets}. */
export interface SecretsOptions {
  /** The agent's socket; default `SPIFFE_ENDPOINT_SOCKET` (as the Workload API client). */
  socketPath?: string;
  /** This workload's service key (`orders`, `shop/orders`). */
  service: string;
  /** The secrets to hold: `name` (in the service's namespace) or `namespace/name`. */
  names: readonly string[];
  /** How long `connectSecrets` waits for every secret's first value. Default 10 s. */
  timeoutMs?: number;
  logger?: SecretsLogger;
  /** Reconnection backoff (full jitter). Default 100 ms doubling up to 5 s. */
  backoff?: { initialMs?: number; maxMs?: number };
}

/** A service's secrets, kept current by the node agent. */
export interface SecretsClient {
  /**
   * The version to use now (frozen, the same object until the next change). Synchronous and
   * allocation-free. Throws SECRETS_ACCESS_WITHDRAWN, SECRETS_NOT_LOADED or SECRETS_CLOSED;
   * TypeError for a name not given to `connectSecrets`.
   */
  get(name: string): SecretValue;
  /** Every version accepted now, newest first — what a verifier checks against (frozen). */
  valid(name: string): readonly SecretValue[];
  /**
   * Calls `fn` whenever the current version changes (a new value, an activation or an expiry),
   * with `undefined` when the value is dropped (access withdrawn). Returns the unsubscribe.
   */
  watch(name: string, fn: (value: SecretValue | undefined) => void): () => void;
  /** Closes the streams and drops every value. */
  close(): void;
}

type SecretsStub = {
  WatchSecret(
    request: SecretWatchRequestV1,
    metadata: grpc.Metadata,
  ): grpc.ClientReadableStream<unknown>;
};

const consoleLogger: SecretsLogger = {
  warn(fields, message) {
    console.warn(`ward secrets: ${message}`, fields);
  },
};

/**
 * Connects to the node agent and resolves once every secret in `names` has its first value.
 * Rejects with SECRETS_TIMEOUT (naming the missing secrets and the agent's last answer for each)
 * after `timeoutMs`.
 *
 * @example
 * const secrets = await connectSecrets({ service: 'shop/orders', names: ['inventory-api-key'] });
 * fetch(url, { headers: { 'x-api-key': secrets.get('inventory-api-key').value! } });
 */
export async function connectSecrets(options: SecretsOptions): Promise<SecretsClient> {
  const service = canonicalServiceKey(String(options.service ?? ''));
  if (service === undefined) throw new TypeError('service must be a service key (name or ns/name)');
  if (!Array.isArray(options.names) || options.names.length === 0) {
    throw new TypeError('names must list at least one secret');
  }
  const timeoutMs = options.timeoutMs ?? 10_000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new TypeError('timeoutMs must be > 0');
  const socket = workloadSocketPath(options.socketPath);
  const client = new Secrets(socket, service, options);
  try {
    await client.ready(timeoutMs);
  } catch (e) {
    client.close();
    throw e;
  }
  return client;
}

class Secrets implements SecretsClient {
  /** By the name as given and by its canonical key: both read the same slot. */
  readonly #slots = new Map<string, SecretSlot>();
  readonly #log: SecretsLogger;
  readonly #abort = new AbortController();
  readonly #grpc: grpc.Client & SecretsStub;
  readonly #socket: string;
  #closed = false;
  #pending: number;
  #onLoaded: (() => void) | undefined;

  constructor(socket: string, service: string, options: SecretsOptions) {
    this.#socket = socket;
    this.#log = options.logger ?? consoleLogger;
    const namespace = namespaceOfKey(service);
    const keys = new Set<string>();
    for (const name of options.names) {
      const key = secretKeyOf(String(name), namespace);
      let slot = this.#slots.get(key);
      if (slot === undefined) {
        slot = new SecretSlot(key, (s, v) => this.#notify(s, v));
        this.#slots.set(key, slot);
        keys.add(key);
      }
      this.#slots.set(name, slot);
    }
    this.#pending = keys.size;
    // Room for the largest valid reply: every version at the value limit, JSON-escaped.
    this.#grpc = agentClient<SecretsStub>(AGENT_SECRETS_SERVICE, 'ward.agent.v1.Secrets', socket, {
      maxReceiveBytes: MAX_VERSIONS * MAX_DATA_BYTES * 2 + 64 * 1024,
    });
    const backoff = {
      initialMs: options.backoff?.initialMs ?? 100,
      maxMs: options.backoff?.maxMs ?? 5_000,
    };
    for (const key of keys) this.#watch(this.#slots.get(key)!, service, backoff);
  }

  get(name: string): SecretValue {
    const slot = this.#slots.get(name);
    if (slot !== undefined) {
      const current = slot.current;
      if (current !== undefined) return current;
    }
    throw this.#unavailable(name, slot);
  }

  valid(name: string): readonly SecretValue[] {
    const slot = this.#slots.get(name);
    if (slot !== undefined && slot.current !== undefined) return slot.valid;
    throw this.#unavailable(name, slot);
  }

  watch(name: string, fn: SecretWatcher): () => void {
    const slot = this.#slotOf(name);
    if (typeof fn !== 'function') throw new TypeError('watch needs a function');
    // A wrapper per registration, so the same fn registered twice is two subscriptions.
    const entry: SecretWatcher = (v) => fn(v);
    slot.watchers.add(entry);
    return () => {
      slot.watchers.delete(entry);
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    for (const slot of new Set(this.#slots.values())) {
      slot.drop(undefined);
      slot.watchers.clear();
    }
    this.#grpc.close();
  }

  /** Resolves when every secret has a first value; rejects after `timeoutMs`. */
  ready(timeoutMs: number): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#onLoaded = undefined;
        const missing = [...new Set(this.#slots.values())]
          .filter((s) => !s.loaded)
          .map((s) => `${s.key} (${s.lastProblem ?? 'no answer from the agent'})`);
        reject(
          new SecretsClientError(
            'SECRETS_TIMEOUT',
            `no value within ${timeoutMs} ms from the agent at ${this.#socket} for ${missing.join(', ')}`,
          ),
        );
      }, timeoutMs);
      this.#onLoaded = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  #watch(slot: SecretSlot, service: string, backoff: { initialMs: number; maxMs: number }): void {
    const key = slot.key;
    void watchAgentStream({
      signal: this.#abort.signal,
      backoff,
      open: (md) => this.#grpc.WatchSecret({ service, secret: key }, md),
      onMessage: (message) => {
        if (this.#closed) return;
        let versions: readonly SecretValue[];
        try {
          versions = parseSecretReply(message, key).versions;
        } catch (e) {
          const error = e as SecretsClientError;
          slot.lastProblem = `reply refused: ${error.message}`;
          this.#log.warn({ code: error.code, secret: key }, error.message);
          return;
        }
        const first = !slot.loaded;
        slot.accept(versions);
        if (first) this.#loaded();
      },
      onEnd: ({ error }) => {
        if (this.#closed) return;
        const status = error ? (grpc.status[error.code] ?? String(error.code)) : 'OK';
        const details = error ? describe(error.details) : 'the agent ended the stream';
        slot.lastProblem = `${status}: ${details}`;
        if (error?.code === grpc.status.PERMISSION_DENIED) {
          const withdrawn = new SecretsClientError(
            'SECRETS_ACCESS_WITHDRAWN',
            `the agent withdrew this workload's access to ${key}: ${details}`,
            { secret: key },
          );
          const held = slot.current !== undefined;
          slot.drop(withdrawn);
          if (held) this.#log.warn({ code: withdrawn.code, secret: key }, withdrawn.message);
          return;
        }
        this.#log.warn(
          { code: 'SECRETS_AGENT_UNAVAILABLE', secret: key, status },
          `stream for ${key} from the agent at ${this.#socket} ended (${status}: ${details}); reconnecting${slot.current ? ', serving the last value' : ''}`,
        );
      },
    });
  }

  #loaded(): void {
    this.#pending--;
    if (this.#pending === 0) this.#onLoaded?.();
  }

  #notify(slot: SecretSlot, value: SecretValue | undefined): void {
    for (const fn of [...slot.watchers]) {
      try {
        fn(value);
      } catch (e) {
        this.#log.warn(
          { secret: slot.key, err: e instanceof Error ? e.message : String(e) },
          `a watcher of ${slot.key} threw`,
        );
      }
    }
  }

  #slotOf(name: string): SecretSlot {
    const slot = this.#slots.get(name);
    if (slot === undefined) throw this.#unavailable(name, undefined);
    return slot;
  }

  #unavailable(name: string, slot: SecretSlot | undefined): Error {
    if (slot === undefined) {
      return new TypeError(
        `${JSON.stringify(name)} is not among the names given to connectSecrets`,
      );
    }
    if (this.#closed) {
      return new SecretsClientError('SECRETS_CLOSED', `${slot.key}: the secrets client is closed`, {
        secret: slot.key,
      });
    }
    if (slot.withdrawn) return slot.withdrawn;
    return new SecretsClientError(
      'SECRETS_NOT_LOADED',
      `${slot.key}: no version is valid now${slot.lastProblem ? ` (agent: ${slot.lastProblem})` : ''}`,
      { secret: slot.key },
    );
  }
}

/** The agent's status details, bounded and quoted for a log line. */
function describe(details: string | undefined): string {
  if (!details) return 'no details';
  return JSON.stringify(details.length > 200 ? `${details.slice(0, 200)}…` : details);
}
