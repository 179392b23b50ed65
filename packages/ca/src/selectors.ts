import { CaError } from './errors.ts';

/**
 * A selector names one attested property of a workload: `unix:uid:1000`, `unix:gid:100`,
 * `unix:path:/usr/bin/node`, `unix:supplementary_gid:27`. A registration entry applies to a
 * workload when every selector of the entry is among the workload's selectors.
 */
export type Selector = string;

const UNIX_KEYS = new Set(['uid', 'gid', 'path', 'supplementary_gid']);
const MAX_SELECTORS = 32;

/** Validates one selector; throws `CA_BAD_SELECTOR` naming `field`. */
export function parseSelector(value: unknown, field = 'selector'): Selector {
  const fail = (why: string): never => {
    throw new CaError('CA_BAD_SELECTOR', `${field}: ${why}`, { field });
  };
  if (typeof value !== 'string') return fail('must be a string like "unix:uid:1000"');
  const first = value.indexOf(':');
  const second = first < 0 ? -1 : value.indexOf(':', first + 1);
  if (second < 0) return fail(`"${value.slice(0, 64)}" is not TYPE:KEY:VALUE`);
  const type = value.slice(0, first);
  const key = value.slice(first + 1, second);
  const v = value.slice(second + 1);
  if (type !== 'unix')
    return fail(`unknown selector type "${type.slice(0, 32)}" (supported: unix)`);
  if (!UNIX_KEYS.has(key)) {
    return fail(`unknown unix selector "${key.slice(0, 32)}" (uid, gid, path, supplementary_gid)`);
  }
  if (key === 'path') {
    if (!v.startsWith('/') || v.length > 4096 || v.includes('\0')) {
      return fail('unix:path needs an absolute path');
    }
  } else if (!/^(0|[1-9][0-9]{0,9})$/.test(v) || Number(v) > 0xffffffff) {
    return fail(`unix:${key} needs a decimal id from 0 to 4294967295`);
  }
  return value;
}

/** Validates a non-empty list of selectors (deduplicated, sorted). */
export function parseSelectors(value: unknown, field = 'selectors'): Selector[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new CaError('CA_BAD_SELECTOR', `${field}: at least one selector is required`, { field });
  }
  if (value.length > MAX_SELECTORS) {
    throw new CaError('CA_BAD_SELECTOR', `${field}: at most ${MAX_SELECTORS} selectors`, { field });
  }
  const out = value.map((s, i) => parseSelector(s, `${field}[${i}]`));
  return [...new Set(out)].sort();
}

/** The unix selectors of a process attested on the node. */
export function unixSelectors(process: {
  uid: number;
  gid: number;
  path?: string;
  supplementaryGids?: readonly number[];
}): Selector[] {
  const out = [`unix:uid:${process.uid}`, `unix:gid:${process.gid}`];
  if (process.path) out.push(`unix:path:${process.path}`);
  for (const g of process.supplementaryGids ?? []) out.push(`unix:supplementary_gid:${g}`);
  return out;
}

/** True when every selector of `entry` is among `workload` (and the entry has any). */
export function selectorsMatch(
  entry: readonly Selector[],
  workload: ReadonlySet<Selector>,
): boolean {
  if (entry.length === 0) return false;
  for (const s of entry) if (!workload.has(s)) return false;
  return true;
}
