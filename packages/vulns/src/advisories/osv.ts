/**
 * One OSV record (schema 1.x) to an {@link Advisory}: npm entries only, withdrawn records dropped.
 * https://ossf.github.io/osv-schema/
 */

import { VulnsError } from '../errors.ts';
import type { Advisory, AffectedPackage, OsvEvent } from '../types.ts';
import { parseRangeVersion } from './version.ts';

const EVENT_KINDS = ['introduced', 'fixed', 'last_affected', 'limit'] as const;
const SEVERITIES = new Set(['LOW', 'MODERATE', 'HIGH', 'CRITICAL']);

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(file: string, at: string, why: string): VulnsError<'VULNS_BAD_OSV'> {
  return new VulnsError('VULNS_BAD_OSV', `${file}: ${at}: ${why}`, { file, at });
}

function stringArray(value: unknown, file: string, at: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw bad(file, at, 'expected an array of strings');
  return value.map((v, i) => {
    if (typeof v !== 'string') throw bad(file, `${at}[${i}]`, 'expected a string');
    return v;
  });
}

/** CVSS vectors of a `severity` array (types CVSS_V3 and CVSS_V4; other types are ignored). */
function cvssVectors(value: unknown, file: string, at: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw bad(file, at, 'expected an array');
  const out: string[] = [];
  value.forEach((s, i) => {
    if (!isObject(s)) throw bad(file, `${at}[${i}]`, 'expected an object');
    if (typeof s.type !== 'string') throw bad(file, `${at}[${i}].type`, 'expected a string');
    if (typeof s.score !== 'string') throw bad(file, `${at}[${i}].score`, 'expected a string');
    if ((s.type === 'CVSS_V3' || s.type === 'CVSS_V4') && s.score.startsWith('CVSS:'))
      out.push(s.score);
  });
  return out;
}

/** Symbols an advisory names: GitHub's `affected_functions`, Go-style `imports[].path/symbols`, `symbols`. */
function symbolsOf(entry: Json, file: string, at: string): string[] {
  const out: string[] = [];
  for (const key of ['ecosystem_specific', 'database_specific'] as const) {
    const block = entry[key];
    if (block === undefined || block === null) continue;
    if (!isObject(block)) throw bad(file, `${at}.${key}`, 'expected an object');
    for (const field of ['affected_functions', 'symbols'] as const) {
      if (block[field] !== undefined)
        out.push(...stringArray(block[field], file, `${at}.${key}.${field}`));
    }
    const imports = block.imports;
    if (imports !== undefined) {
      if (!Array.isArray(imports)) throw bad(file, `${at}.${key}.imports`, 'expected an array');
      imports.forEach((imp, i) => {
        const where = `${at}.${key}.imports[${i}]`;
        if (!isObject(imp)) throw bad(file, where, 'expected an object');
        if (imp.path !== undefined) {
          if (typeof imp.path !== 'string') throw bad(file, `${where}.path`, 'expected a string');
          out.push(imp.path);
        }
        out.push(...stringArray(imp.symbols, file, `${where}.symbols`));
      });
    }
  }
  return [...new Set(out)];
}

function parseEvents(value: unknown, file: string, at: string, checkVersions: boolean): OsvEvent[] {
  if (!Array.isArray(value) || value.length === 0)
    throw bad(file, at, 'expected a non-empty array of events');
  let introduced = false;
  const events = value.map((e, i): OsvEvent => {
    const where = `${at}[${i}]`;
    if (!isObject(e)) throw bad(file, where, 'expected an event object');
    const keys = Object.keys(e);
    if (keys.length !== 1)
      throw bad(
        file,
        where,
        'an event holds exactly one of introduced, fixed, last_affected, limit',
      );
    const kind = keys[0] as string;
    if (!(EVENT_KINDS as readonly string[]).includes(kind))
      throw bad(file, `${where}.${kind}`, 'unknown event kind');
    const version = e[kind];
    if (typeof version !== 'string' || version === '')
      throw bad(file, `${where}.${kind}`, 'expected a version string');
    if (checkVersions) {
      const special =
        (kind === 'introduced' && version === '0') || (kind === 'limit' && version.includes('*'));
      if (!special && parseRangeVersion(version) === undefined) {
        throw bad(file, `${where}.${kind}`, `"${version}" is not a semantic version`);
      }
    }
    if (kind === 'introduced') introduced = true;
    return { [kind]: version } as OsvEvent;
  });
  if (!introduced) throw bad(file, at, 'a range needs at least one introduced event');
  return events;
}

function parseAffected(entry: unknown, file: string, at: string): AffectedPackage | undefined {
  if (!isObject(entry)) throw bad(file, at, 'expected an object');
  const pkg = entry.package;
  // Schema 1.x allows an entry without a package (GIT ranges only): nothing to match for npm.
  if (pkg === undefined) return undefined;
  if (!isObject(pkg)) throw bad(file, `${at}.package`, 'expected an object');
  if (typeof pkg.ecosystem !== 'string')
    throw bad(file, `${at}.package.ecosystem`, 'expected a string');
  if (pkg.ecosystem !== 'npm') return undefined;
  if (typeof pkg.name !== 'string' || pkg.name === '')
    throw bad(file, `${at}.package.name`, 'expected a package name');
  const ranges: AffectedPackage['ranges'] = [];
  const rawRanges = entry.ranges ?? [];
  if (!Array.isArray(rawRanges)) throw bad(file, `${at}.ranges`, 'expected an array');
  rawRanges.forEach((r, i) => {
    const where = `${at}.ranges[${i}]`;
    if (!isObject(r)) throw bad(file, where, 'expected an object');
    if (typeof r.type !== 'string') throw bad(file, `${where}.type`, 'expected a string');
    const usable = r.type === 'SEMVER' || r.type === 'ECOSYSTEM';
    const events = parseEvents(r.events, file, `${where}.events`, usable);
    // GIT ranges cannot be evaluated against npm versions; OSV says to use `versions` for them.
    if (usable) ranges.push({ type: r.type as 'SEMVER' | 'ECOSYSTEM', events });
  });
  const versions = stringArray(entry.versions, file, `${at}.versions`);
  const symbols = symbolsOf(entry, file, at);
  const out: AffectedPackage = { name: pkg.name, ranges, versions };
  if (symbols.length > 0) out.symbols = symbols;
  return out;
}

/** An advisory with the record's own per-package CVSS vectors folded in. */
export interface ParsedOsv {
  advisory: Advisory;
  /** Set when the record is withdrawn (the advisory is then not to be used). */
  withdrawn?: string;
}

/**
 * Parses one OSV record. Returns `undefined` for a withdrawn record; entries of other ecosystems
 * are left out (the result may have no `affected` entry). Throws `VulnsError` (`VULNS_BAD_OSV`)
 * naming the file and the field.
 *
 * @example parseOsvRecord(text, 'GHSA-35jh-r3h4-6jhm.json')?.affected[0]?.name // 'lodash'
 */
export function parseOsvRecord(text: string, file: string): Advisory | undefined {
  const parsed = parseOsvRecordFull(text, file);
  return parsed.withdrawn === undefined ? parsed.advisory : undefined;
}

/** {@link parseOsvRecord}, keeping withdrawn records (flagged). */
export function parseOsvRecordFull(text: string, file: string): ParsedOsv {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw new VulnsError('VULNS_BAD_OSV', `${file}: not JSON (${(cause as Error).message})`, {
      file,
      cause,
    });
  }
  if (!isObject(doc)) throw bad(file, '$', 'expected an OSV object');
  if (typeof doc.id !== 'string' || doc.id === '')
    throw bad(file, 'id', 'expected a non-empty string');
  if (typeof doc.modified !== 'string') throw bad(file, 'modified', 'expected an ISO time string');
  if (doc.withdrawn !== undefined && typeof doc.withdrawn !== 'string')
    throw bad(file, 'withdrawn', 'expected a string');
  const aliases = stringArray(doc.aliases, file, 'aliases');
  const summary = doc.summary === undefined ? '' : doc.summary;
  if (typeof summary !== 'string') throw bad(file, 'summary', 'expected a string');
  const cvss = cvssVectors(doc.severity, file, 'severity');
  const rawAffected = doc.affected ?? [];
  if (!Array.isArray(rawAffected)) throw bad(file, 'affected', 'expected an array');
  const affected: AffectedPackage[] = [];
  rawAffected.forEach((entry, i) => {
    const a = parseAffected(entry, file, `affected[${i}]`);
    if (a === undefined) return;
    affected.push(a);
    for (const v of cvssVectors((entry as Json).severity, file, `affected[${i}].severity`)) {
      if (!cvss.includes(v)) cvss.push(v);
    }
  });
  let severity: Advisory['severity'];
  const dbs = doc.database_specific;
  if (dbs !== undefined && dbs !== null) {
    if (!isObject(dbs)) throw bad(file, 'database_specific', 'expected an object');
    if (dbs.severity !== undefined && dbs.severity !== null) {
      if (typeof dbs.severity !== 'string' || !SEVERITIES.has(dbs.severity.toUpperCase())) {
        throw bad(file, 'database_specific.severity', 'expected LOW, MODERATE, HIGH or CRITICAL');
      }
      severity = dbs.severity.toUpperCase() as Advisory['severity'];
    }
  }
  const advisory: Advisory = {
    id: doc.id,
    aliases: [...new Set(aliases.filter((a) => a !== doc.id))],
    summary,
    cvss,
    affected,
    modified: doc.modified,
  };
  if (severity !== undefined) advisory.severity = severity;
  const out: ParsedOsv = { advisory };
  if (typeof doc.withdrawn === 'string') out.withdrawn = doc.withdrawn;
  return out;
}
