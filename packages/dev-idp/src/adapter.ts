/**
 * oidc-provider's storage, in memory and private to one dev IdP. The provider's own memory
 * adapter would do, but it announces itself on the console on every start (we keep the IdP
 * quiet) and shares one module-level store between providers of the same process (tests start
 * several IdPs). Bounded: expired entries are dropped as they are met and by a sweep on write,
 * and the store refuses to grow past MAX_ENTRIES (a dev IdP that leaks is a test bug).
 */
import type { Adapter, AdapterPayload } from 'oidc-provider';

const MAX_ENTRIES = 10_000;

interface Entry {
  payload: AdapterPayload;
  expiresAt: number;
}

/** A factory for oidc-provider's `adapter` option: one store per IdP, one namespace per model. */
export function createMemoryAdapterFactory(): (model: string) => Adapter {
  const store = new Map<string, Entry>();
  const uidIndex = new Map<string, string>();
  const userCodeIndex = new Map<string, string>();

  const live = (key: string | undefined): AdapterPayload | undefined => {
    if (key === undefined) return undefined;
    const entry = store.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= Date.now()) {
      store.delete(key);
      return undefined;
    }
    return entry.payload;
  };

  const sweep = (): void => {
    const now = Date.now();
    for (const [key, entry] of store) if (entry.expiresAt <= now) store.delete(key);
    for (const [uid, key] of uidIndex) if (!store.has(key)) uidIndex.delete(uid);
    for (const [code, key] of userCodeIndex) if (!store.has(key)) userCodeIndex.delete(code);
  };

  return (model: string): Adapter => {
    const keyOf = (id: string): string => `${model}:${id}`;
    return {
      async upsert(id, payload, expiresIn) {
        if (store.size >= MAX_ENTRIES) sweep();
        if (store.size >= MAX_ENTRIES) throw new Error('dev IdP storage is full');
        const key = keyOf(id);
        const ttlMs = typeof expiresIn === 'number' ? expiresIn * 1000 : Number.POSITIVE_INFINITY;
        store.set(key, { payload, expiresAt: Date.now() + ttlMs });
        if (model === 'Session' && typeof payload.uid === 'string') uidIndex.set(payload.uid, key);
        if (typeof payload.userCode === 'string') userCodeIndex.set(payload.userCode, key);
      },
      async find(id) {
        return live(keyOf(id));
      },
      async findByUid(uid) {
        return live(uidIndex.get(uid));
      },
      async findByUserCode(userCode) {
        return live(userCodeIndex.get(userCode));
      },
      async consume(id) {
        const payload = live(keyOf(id));
        if (payload !== undefined) payload.consumed = Math.floor(Date.now() / 1000);
      },
      async destroy(id) {
        store.delete(keyOf(id));
      },
      async revokeByGrantId(grantId) {
        for (const [key, entry] of store) if (entry.payload.grantId === grantId) store.delete(key);
      },
    };
  };
}
