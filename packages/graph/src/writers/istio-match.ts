/**
 * Ward string matches (exact, prefix, glob) as Istio string matches. Istio matches paths,
 * principals and header values with one syntax: `abc` exact, `abc*` prefix, `*abc` suffix, `*`
 * any (presence) — a `*` anywhere else is a literal in some fields and an error in others, so a
 * value containing `*` is never written literally.
 *
 * A Ward glob's `*` stops at `/` and `**` does not, so:
 * - `/api/**` (head, then `**`) is the Istio prefix `/api/*`;
 * - `**` + tail (`**\/health`) is the Istio suffix `*\/health`;
 * - `**` alone is `*`;
 * - anything else (`/api/*`, `/a/**\/b`, `*.json`) has no Istio form.
 *
 * When there is no Istio form, `widen` gives one that matches at least everything the Ward match
 * does (the literal text before the first wildcard, as a prefix; or undefined for "anything"),
 * which is what a DENY may use: denying more is stricter. An ALLOW never widens; it drops the
 * match instead (see rule-export.ts).
 */
import type { StringMatch } from '@ward/policy';

/** The Istio form matching exactly what `m` matches, or undefined when there is none. */
export function istioString(m: StringMatch): string | undefined {
  if (m.exact !== undefined) return m.exact !== '' && !m.exact.includes('*') ? m.exact : undefined;
  if (m.prefix !== undefined) return m.prefix.includes('*') ? undefined : `${m.prefix}*`;
  return istioGlob(m.glob ?? '');
}

/** A Ward glob as an Istio string match, or undefined when Istio cannot say it exactly. */
export function istioGlob(glob: string): string | undefined {
  const first = glob.indexOf('*');
  if (first === -1) return glob === '' ? undefined : glob;
  if (glob === '**') return '*';
  // `head**`: one `**` at the end, nothing else wild.
  if (glob.endsWith('**') && first === glob.length - 2) return `${glob.slice(0, first)}*`;
  // `**tail`: one `**` at the start, nothing else wild.
  if (glob.startsWith('**') && glob.indexOf('*', 2) === -1) return `*${glob.slice(2)}`;
  return undefined;
}

/**
 * An Istio prefix matching at least what `m` matches: the literal text before its first `*`, or
 * undefined when that is empty (then only "any value" is wider).
 */
export function widen(m: StringMatch): string | undefined {
  const text = m.exact ?? m.prefix ?? m.glob ?? '';
  const head = text.slice(0, text.includes('*') ? text.indexOf('*') : text.length);
  return head === '' ? undefined : `${head}*`;
}

/** How Istio matches a value against one of its string matches (exact, prefix, suffix, `*`). */
export function istioMatches(pattern: string, value: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1));
  return value === pattern;
}

/** An Istio operation's path match: any of `paths`, none of `notPaths`. */
export interface IstioPathMatch {
  paths: string[];
  notPaths?: string[];
}

/**
 * A Ward path match in Istio, for request paths (which start with `/`). Beyond `istioString`:
 * `/**\/tail` is the suffix `*\/tail` except the path `/tail` itself (Ward's `/**\/` needs a `/`
 * before the tail's), which Istio says with `notPaths` — so it needs an operation of its own.
 */
export function istioPath(m: StringMatch): IstioPathMatch | undefined {
  const plain = istioString(m);
  if (plain !== undefined) return { paths: [plain] };
  const tail = m.glob?.startsWith('/**/') ? m.glob.slice(3) : undefined;
  if (tail === undefined || tail.includes('*')) return undefined;
  return { paths: [`*${tail}`], notPaths: [tail] };
}
