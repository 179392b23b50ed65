/**
 * Runs a synchronous module load that would change globals, and undoes the changes: the CA must
 * not alter the host service's globals when imported (a library that polyfills `Reflect` or
 * sets helpers on `globalThis` changes behaviour for everything else in the process).
 */

// Only the set of keys is compared: reading a descriptor of one of Node's lazy globals
// (`FormData`, …) would itself load Node's fetch and change `globalThis`.
const keysOf = (o: object): Set<PropertyKey> => new Set(Reflect.ownKeys(o));

function deleteAdded(o: object, before: Set<PropertyKey>): void {
  for (const key of Reflect.ownKeys(o)) if (!before.has(key)) Reflect.deleteProperty(o, key);
}

/**
 * The `Reflect` metadata API that tsyringe checks for and calls while classes are decorated, over
 * a private store, for the methods the host has no polyfill of its own for.
 */
function metadataShim(): Record<string, (...args: never[]) => unknown> {
  const store = new WeakMap<object, Map<unknown, unknown>>();
  const own = (key: unknown, target: object) => store.get(target)?.get(key);
  return {
    getOwnMetadata: own,
    getMetadata(key: unknown, target: object): unknown {
      for (let t: object | null = target; t !== null; t = Object.getPrototypeOf(t)) {
        const v = own(key, t);
        if (v !== undefined) return v;
      }
      return undefined;
    },
    defineMetadata(key: unknown, value: unknown, target: object): void {
      let m = store.get(target);
      if (m === undefined) {
        m = new Map();
        store.set(target, m);
      }
      m.set(key, value);
    },
  };
}

/** Calls `load` with a `Reflect` metadata API available, then restores `globalThis` and `Reflect`. */
export function withGlobalsRestored<T>(load: () => T): T {
  const globals = keysOf(globalThis);
  const reflect = keysOf(Reflect);
  // Only what the host lacks: a host's own polyfill stays in charge.
  for (const [k, fn] of Object.entries(metadataShim())) {
    if (!reflect.has(k)) {
      Object.defineProperty(Reflect, k, { value: fn, configurable: true, writable: true });
    }
  }
  try {
    return load();
  } finally {
    deleteAdded(Reflect, reflect);
    deleteAdded(globalThis, globals);
  }
}
