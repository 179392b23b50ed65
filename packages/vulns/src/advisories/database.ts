/**
 * The set of npm advisories, merged across records that are the same vulnerability (OSV
 * `aliases`: GHSA ↔ CVE), indexed by package name for matching.
 */

import { unzipSync } from 'fflate';
import { VulnsError } from '../errors.ts';
import type { Advisory, InstalledPackage } from '../types.ts';
import { parseOsvRecordFull } from './osv.ts';
import {
  type CompiledAffected,
  compileAffected,
  isAffected,
  parseRangeVersion,
} from './version.ts';

const SEVERITY_ORDER = ['LOW', 'MODERATE', 'HIGH', 'CRITICAL'] as const;

/** A record refused while building the database (`strict: false`). */
export interface SkippedRecord {
  file: string;
  code: string;
  message: string;
}

export interface DatabaseOptions {
  /** Throw on the first bad record (default) or skip it and list it in `skipped`. */
  strict?: boolean;
}

class UnionFind {
  private readonly parent = new Map<string, string>();
  find(x: string): string {
    let root = x;
    for (let p = this.parent.get(root); p !== undefined && p !== root; p = this.parent.get(root))
      root = p;
    if (!this.parent.has(x)) this.parent.set(x, x);
    // Path compression.
    let cur = x;
    while (cur !== root) {
      const next = this.parent.get(cur) as string;
      this.parent.set(cur, root);
      cur = next;
    }
    return root;
  }
  union(a: string, b: string): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent.set(ra < rb ? rb : ra, ra < rb ? ra : rb);
  }
}

function primaryOf(ids: string[]): string {
  const sorted = [...ids].sort();
  return sorted.find((id) => id.startsWith('GHSA-')) ?? (sorted[0] as string);
}

function merge(group: Advisory[]): Advisory {
  const ids = new Set<string>();
  for (const a of group) {
    ids.add(a.id);
    for (const x of a.aliases) ids.add(x);
  }
  const id = primaryOf([...ids]);
  const main = group.find((a) => a.id === id) ?? group[0];
  if (main === undefined) throw new Error('empty advisory group');
  const cvss: string[] = [];
  let severity: Advisory['severity'];
  let modified = main.modified;
  for (const a of group) {
    for (const v of a.cvss) if (!cvss.includes(v)) cvss.push(v);
    if (
      a.severity !== undefined &&
      (severity === undefined ||
        SEVERITY_ORDER.indexOf(a.severity) > SEVERITY_ORDER.indexOf(severity))
    ) {
      severity = a.severity;
    }
    if (a.modified > modified) modified = a.modified;
  }
  ids.delete(id);
  const out: Advisory = {
    id,
    aliases: [...ids].sort(),
    summary: main.summary || (group.find((a) => a.summary !== '')?.summary ?? ''),
    cvss,
    affected: group.flatMap((a) => a.affected),
    modified,
  };
  if (severity !== undefined) out.severity = severity;
  return out;
}

interface IndexEntry {
  advisory: Advisory;
  compiled: CompiledAffected;
}

/**
 * npm advisories from OSV records, merged by alias and indexed by package name.
 *
 * @example
 * const db = AdvisoryDatabase.fromZip(bytesOfNpmAllZip);
 * db.match({ name: 'lodash', version: '4.17.20', path: 'node_modules/lodash' });
 */
export class AdvisoryDatabase {
  /** Every advisory, one per vulnerability, sorted by id. */
  readonly advisories: readonly Advisory[];
  /** Records refused when built with `strict: false`. */
  readonly skipped: readonly SkippedRecord[];
  /** Withdrawn records dropped at load. */
  readonly withdrawn: number;
  private readonly byName: Map<string, IndexEntry[]>;

  private constructor(advisories: Advisory[], skipped: SkippedRecord[], withdrawn: number) {
    this.advisories = advisories;
    this.skipped = skipped;
    this.withdrawn = withdrawn;
    this.byName = new Map();
    for (const advisory of advisories) {
      for (const affected of advisory.affected) {
        let list = this.byName.get(affected.name);
        if (list === undefined) {
          list = [];
          this.byName.set(affected.name, list);
        }
        list.push({ advisory, compiled: compileAffected(affected) });
      }
    }
  }

  /** Builds the database from OSV record texts. */
  static fromRecords(
    records: Iterable<{ file: string; text: string }>,
    options: DatabaseOptions = {},
  ): AdvisoryDatabase {
    const strict = options.strict ?? true;
    const parsed: Advisory[] = [];
    const skipped: SkippedRecord[] = [];
    let withdrawn = 0;
    for (const { file, text } of records) {
      try {
        const r = parseOsvRecordFull(text, file);
        if (r.withdrawn !== undefined) withdrawn++;
        else if (r.advisory.affected.length > 0) parsed.push(r.advisory);
      } catch (err) {
        if (strict || !(err instanceof VulnsError)) throw err;
        skipped.push({ file, code: err.code, message: err.message });
      }
    }
    const uf = new UnionFind();
    for (const a of parsed) {
      uf.find(a.id);
      for (const x of a.aliases) uf.union(a.id, x);
    }
    const groups = new Map<string, Advisory[]>();
    for (const a of parsed) {
      const root = uf.find(a.id);
      const g = groups.get(root);
      if (g === undefined) groups.set(root, [a]);
      else g.push(a);
    }
    const merged = [...groups.values()].map((g) =>
      g.length === 1 ? (g[0] as Advisory) : merge(g),
    );
    // The primary id of every advisory, merged or not: the smallest GHSA id, else the smallest id.
    const normalized = merged.map((a) => {
      const primary = primaryOf([a.id, ...a.aliases]);
      if (primary === a.id) return a;
      return {
        ...a,
        id: primary,
        aliases: [a.id, ...a.aliases.filter((x) => x !== primary)].sort(),
      };
    });
    normalized.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
    return new AdvisoryDatabase(normalized, skipped, withdrawn);
  }

  /** Builds the database from OSV's ecosystem zip (`npm/all.zip`): every `*.json` entry is a record. */
  static fromZip(bytes: Uint8Array, options: DatabaseOptions = {}): AdvisoryDatabase {
    let files: Record<string, Uint8Array>;
    try {
      files = unzipSync(bytes, { filter: (f) => f.name.endsWith('.json') });
    } catch (cause) {
      throw new VulnsError(
        'VULNS_BAD_OSV',
        `OSV zip: not a readable zip archive (${(cause as Error).message})`,
        {
          file: 'OSV zip',
          cause,
        },
      );
    }
    const decoder = new TextDecoder('utf-8', { fatal: false });
    const names = Object.keys(files).sort();
    return AdvisoryDatabase.fromRecords(
      names.map((name) => ({ file: name, text: decoder.decode(files[name]) })),
      options,
    );
  }

  /** The advisories that affect this installed package (OSV evaluation), sorted by id. */
  match(pkg: InstalledPackage): Advisory[] {
    const entries = this.byName.get(pkg.name);
    if (entries === undefined) return [];
    const parsed = parseRangeVersion(pkg.version);
    const out: Advisory[] = [];
    for (const e of entries) {
      if (out.includes(e.advisory)) continue;
      if (isAffected(e.compiled, pkg.version, parsed)) out.push(e.advisory);
    }
    return out;
  }

  /** Looks an advisory up by its primary id or any alias. */
  get(id: string): Advisory | undefined {
    return this.advisories.find((a) => a.id === id || a.aliases.includes(id));
  }
}
