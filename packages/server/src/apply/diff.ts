/** Field-level difference between two JSON values, for `apply --dry-run` and history. */

export interface FieldChange {
  /** JSON pointer of the field, e.g. `/spec/rules/0/action`. */
  path: string;
  op: 'add' | 'remove' | 'replace';
  before?: unknown;
  after?: unknown;
}

const MAX_CHANGES = 200;

/**
 * Lists the fields that differ. Arrays are compared element by element (a rule inserted at the
 * top shows as changes to every later index, like a line diff would); the list is capped so a
 * pathological document cannot produce a huge response.
 */
export function diffJson(before: unknown, after: unknown): FieldChange[] {
  const out: FieldChange[] = [];
  walk(before, after, '', out);
  return out;
}

function escapeKey(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function walk(a: unknown, b: unknown, path: string, out: FieldChange[]): void {
  if (out.length >= MAX_CHANGES) return;
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const p = `${path}/${i}`;
      if (i >= a.length) out.push({ path: p, op: 'add', after: b[i] });
      else if (i >= b.length) out.push({ path: p, op: 'remove', before: a[i] });
      else walk(a[i], b[i], p, out);
    }
    return;
  }
  if (isObject(a) && isObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const key of [...keys].sort()) {
      const p = `${path}/${escapeKey(key)}`;
      const inA = a[key] !== undefined;
      const inB = b[key] !== undefined;
      if (inA && !inB) out.push({ path: p, op: 'remove', before: a[key] });
      else if (!inA && inB) out.push({ path: p, op: 'add', after: b[key] });
      else if (inA && inB) walk(a[key], b[key], p, out);
    }
    return;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) {
    out.push({ path: path || '/', op: 'replace', before: a, after: b });
  }
}
