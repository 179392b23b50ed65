/**
 * Path templates for proposed rules: from the paths observed on an edge, the fewest globs (in the
 * policy language's own syntax: `*` within a segment, `**` across) that match every one of them
 * and nothing that differs from them in a literal segment.
 *
 * A segment becomes `*` when it names an instance rather than an endpoint: a route parameter a
 * framework or the SDK's log templating already wrote (`:id`, `{id}`), a number, a UUID, a hex
 * string, a long opaque token; or when one position holds more than `distinctLimit` distinct
 * values under the same prefix (user names, SKUs). Every other segment stays literal. A router's
 * catch-all (`*`, `*rest`) and the SDK's truncation mark (`…`) in the last segment become `**`,
 * since the call went deeper than the log shows.
 *
 * Observed paths come from decision logs, i.e. from the destination's own PDP: untrusted text.
 * Nothing here backtracks; work is linear in the total length of the paths.
 */

/** Default: more than this many distinct values at one position collapse to `*`. */
export const DEFAULT_DISTINCT_LIMIT = 16;

const NUMBER = /^[+-]?\d+(?:[.,]\d+)*$/;
const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const HEX = /^(?:0x)?[0-9a-f]{12,}$/i;
const OPAQUE = /^[A-Za-z0-9_~.+-]{16,}$/;
const TAGGED = /^[A-Za-z]{1,12}[-_]([A-Za-z0-9]{6,})$/;
const PARAM = /^(?::[A-Za-z_$][\w$]*|\{[^{}/]*\})$/;

/** The wildcard a segment stands for: `*` (an instance), `**` (a catch-all), or undefined. */
export function segmentWildcard(segment: string, last: boolean): '*' | '**' | undefined {
  if (segment === '') return undefined;
  if (last && (segment.includes('…') || segment.startsWith('*'))) return '**';
  // Any `*` left in a segment would be read as a glob: it can only be a router's wildcard.
  if (segment.includes('*') || segment.includes('…')) return '*';
  if (PARAM.test(segment)) return '*';
  if (segment.length >= 40) return '*';
  if (NUMBER.test(segment) || UUID.test(segment) || HEX.test(segment)) return '*';
  if (segment.includes('@') || segment.includes('=')) return '*';
  if (OPAQUE.test(segment) && /\d/.test(segment) && /[A-Za-z]/.test(segment)) return '*';
  let digits = 0;
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
  }
  if (digits >= 4 && digits * 2 >= segment.length) return '*';
  // A prefixed identifier (`ord-1a2b3c4d`, `cus_8x7y6z5w`): a tag, a separator, then a run of at
  // least 6 letters and digits holding 2 digits or more. Names (`sku-lamp`, `v2beta1`) stay.
  const tagged = TAGGED.exec(segment);
  if (tagged && (tagged[1]!.match(/\d/g)?.length ?? 0) >= 2) return '*';
  return undefined;
}

interface Node {
  /** Children by literal segment, or by `*` / `**` for wildcards. */
  children: Map<string, Node>;
  /** Observed paths that end here. */
  ends: string[];
}

const node = (): Node => ({ children: new Map(), ends: [] });

function merge(into: Node, from: Node): void {
  into.ends.push(...from.ends);
  for (const [k, child] of from.children) {
    const existing = into.children.get(k);
    if (existing === undefined) into.children.set(k, child);
    else merge(existing, child);
  }
}

/** Collapses positions with too many distinct literal values, top down. */
function collapse(n: Node, limit: number): void {
  let literals = 0;
  for (const k of n.children.keys()) if (k !== '*' && k !== '**') literals++;
  if (literals > limit) {
    const star = n.children.get('*') ?? node();
    for (const [k, child] of [...n.children]) {
      if (k === '*' || k === '**') continue;
      merge(star, child);
      n.children.delete(k);
    }
    n.children.set('*', star);
  }
  for (const child of n.children.values()) collapse(child, limit);
}

/** One inferred template and the observed paths it stands for. */
export interface PathTemplate {
  /** The pattern: a literal path when `glob` is false, else a policy glob. */
  pattern: string;
  glob: boolean;
  /** The observed paths it covers, sorted, without duplicates. */
  paths: string[];
}

/**
 * The templates of `paths` (each must start with `/`), sorted by pattern. Every path is covered
 * by exactly one template; a template's literal segments are segments some covered path has at
 * the same position.
 */
export function inferPathTemplates(
  paths: readonly string[],
  options: { distinctLimit?: number } = {},
): PathTemplate[] {
  const limit = options.distinctLimit ?? DEFAULT_DISTINCT_LIMIT;
  const root = node();
  for (const path of new Set(paths)) {
    if (!path.startsWith('/')) throw new TypeError(`not a path: ${JSON.stringify(path)}`);
    const segments = path.slice(1).split('/');
    let n = root;
    for (let i = 0; i < segments.length; i++) {
      const s = segments[i]!;
      const key = segmentWildcard(s, i === segments.length - 1) ?? s;
      let next = n.children.get(key);
      if (next === undefined) {
        next = node();
        n.children.set(key, next);
      }
      n = next;
      // A catch-all covers whatever followed it: nothing deeper is kept apart.
      if (key === '**') break;
    }
    n.ends.push(path);
  }
  collapse(root, limit);
  const out: PathTemplate[] = [];
  const walk = (n: Node, prefix: string[]) => {
    if (n.ends.length > 0) {
      const pattern = `/${prefix.join('/')}`;
      const glob = prefix.some((s) => s === '*' || s === '**');
      out.push({ pattern, glob, paths: [...new Set(n.ends)].sort() });
    }
    for (const [k, child] of n.children) walk(child, [...prefix, k]);
  };
  walk(root, []);
  return out.sort((a, b) => (a.pattern < b.pattern ? -1 : a.pattern > b.pattern ? 1 : 0));
}
