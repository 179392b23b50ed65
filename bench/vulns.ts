/**
 * `npm run bench -- vulns APPS_DIR [runs]`: `ward vulns` on real open-source Node services
 * (bench/vulns-apps/*.json say which, at which commit, with which entry points). Per app: the
 * naive count (every advisory × installed entry, what `npm audit` reports), the findings after
 * deduplication, Ward's prioritised count (unsuppressed findings), what each suppression reason
 * hides, the reachability verdicts, and the time to scan with reachability (p50 of `runs`).
 *
 * APPS_DIR holds one checkout per app file, under its `dir`, with its node_modules installed
 * (`npm ci --ignore-scripts`); check them out outside this repository, their code is never
 * committed here. The advisory set is bench/vulns-advisories plus the OSV fixtures of
 * packages/vulns (real GitHub Advisory Database records), loaded once; EPSS is the real
 * 2026-09-29 slice, KEV the real slice.
 *
 * Peer, same run: a naive matcher that tests every package entry against every advisory record
 * with the `semver` package (no index, no cache, no deduplication): its count must equal Ward's
 * naive count, and its time is the cost of the plain join without reachability.
 *
 * `PROF=1` profiles the scans of the largest lockfile (bench/_profile.ts).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import type { AdvisoryDatabase, Finding, ReachabilityIndex, Suppression } from '@ward/vulns';
import semver from 'semver';
import { diskFileSystem } from '../packages/cli/src/commands/vulns.ts';
import { type ProfileSummary, startProfile, stopProfile } from './_profile.ts';
import { percentile, progress, round } from './_stats.ts';

interface App {
  app: string;
  repo: string;
  commit: string;
  dir: string;
  lockfile: string;
  /** The service's source root, relative to `dir` (its node_modules sit there). */
  source: string;
  /** Entry files relative to `source`; absent: from package.json, as `ward vulns` finds them. */
  entries?: string[];
  /** Suppressions file under bench/vulns-apps, if the app has one. */
  suppressions?: string;
}

const here = import.meta.dirname;
const appsSpec = join(here, 'vulns-apps');
const fixtures = join(here, '..', 'packages', 'vulns', 'test', 'fixtures', 'advisories');
const advisoryDirs = [join(here, 'vulns-advisories'), join(fixtures, 'osv')];
/** Fixed so the suppressions' expiry is judged the same in every run. */
const NOW = Date.parse('2026-12-01T00:00:00Z');

let V: typeof import('@ward/vulns');

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const appsDir = args[0];
  if (!appsDir) throw new Error('usage: npm run bench -- vulns APPS_DIR [runs]');
  const runs = Number(args[1] ?? 5);
  V = await import('@ward/vulns'); // loaded before the clock starts, as in a warm CLI

  const records = advisoryDirs.flatMap((d) =>
    readdirSync(d)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => ({ file: join(d, f), text: readFileSync(join(d, f), 'utf8') })),
  );
  const l0 = performance.now();
  const db = V.AdvisoryDatabase.fromRecords(records, { strict: false });
  const epss = V.parseEpssCsv(
    readFileSync(join(fixtures, 'epss-2026-09-29-slice.csv'), 'utf8'),
    'epss',
  );
  const kev = V.parseKev(readFileSync(join(fixtures, 'kev-slice.json'), 'utf8'), 'kev');
  const loadMs = performance.now() - l0;
  const p0 = performance.now();
  const peerDb = records.map((r) => JSON.parse(r.text) as OsvRecord);
  const peerLoadMs = performance.now() - p0;

  const apps: Record<string, unknown>[] = [];
  const specs = readdirSync(appsSpec)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(appsSpec, f), 'utf8')) as App);
  let largest: { app: App; packages: number } | undefined;
  for (const app of specs) {
    const root = join(appsDir, app.dir);
    if (!existsSync(join(root, app.lockfile))) {
      apps.push({ app: app.app, skipped: `no checkout at ${root}` });
      continue;
    }
    const n = lockfileEntries(join(root, app.lockfile));
    if (largest === undefined || n > largest.packages) largest = { app, packages: n };
  }
  let profile: ProfileSummary | undefined;
  for (const app of specs) {
    const root = join(appsDir, app.dir);
    if (!existsSync(join(root, app.lockfile))) continue;
    progress(`scanning ${app.app}`);
    const profiled = process.env.PROF === '1' && app === largest?.app;
    if (profiled) await startProfile();
    const result = measure(app, root, db, { epss, kev }, runs);
    if (profiled)
      profile = await stopProfile(join(appsDir, 'vulns.cpuprofile'), [
        'readInventory',
        'analyzeReachability',
        'scan',
      ]);
    const peer = naivePeer(peerDb, result.packages, runs);
    apps.push({
      app: app.app,
      ...result.figures,
      peer_naive: peer.count,
      peer_naive_agrees: peer.count === result.figures.naive,
      peer_naive_ms_p50: round(peer.ms, 2),
    });
  }
  return {
    advisories: {
      records: records.length,
      advisories: db.advisories.length,
      skipped: db.skipped.length,
      load_ms: round(loadMs, 2),
      peer_load_ms: round(peerLoadMs, 2),
      epss: 'real slice (packages/vulns/test/fixtures/advisories/epss-2026-09-29-slice.csv)',
    },
    runs,
    target: largest
      ? { app: largest.app.app, lockfile_entries: largest.packages, goal_ms: 2000 }
      : undefined,
    apps,
    ...(profile ? { profile } : {}),
  };
}

function lockfileEntries(file: string): number {
  const lock = JSON.parse(readFileSync(file, 'utf8')) as { packages?: Record<string, unknown> };
  return Object.keys(lock.packages ?? {}).filter((k) => k !== '').length;
}

interface Timed {
  figures: Record<string, unknown> & { naive: number };
  packages: { name: string; version: string }[];
}

/** One app: `runs` full scans (inventory, reachability, join), the figures of the last one. */
function measure(
  app: App,
  root: string,
  db: AdvisoryDatabase,
  signals: Pick<Parameters<typeof V.scan>[0], 'epss' | 'kev'>,
  runs: number,
): Timed {
  const lockPath = join(root, app.lockfile);
  const sourceRoot = join(root, app.source).split(sep).join('/');
  const suppressions: Suppression[] = app.suppressions
    ? V.parseSuppressions(
        readFileSync(join(appsSpec, app.suppressions), 'utf8'),
        `bench/vulns-apps/${app.suppressions}`,
      )
    : [];
  const total: number[] = [];
  const cpu: number[] = [];
  const phases = { inventory: [] as number[], reachability: [] as number[], join: [] as number[] };
  let last: { inv: ReturnType<typeof V.readInventory>; index: ReachabilityIndex } | undefined;
  let outcome: ReturnType<typeof V.scan> | undefined;
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const inv = V.readInventory(readFileSync(lockPath, 'utf8'), lockPath);
    const t1 = performance.now();
    const index = V.analyzeReachability({
      fs: diskFileSystem(),
      root: sourceRoot,
      ...(app.entries ? { entries: app.entries } : {}),
    });
    const t2 = performance.now();
    outcome = V.scan({
      inventory: inv,
      advisories: db,
      ...signals,
      reachability: index,
      suppressions,
      now: NOW,
    });
    const t3 = performance.now();
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
    phases.inventory.push(t1 - t0);
    phases.reachability.push(t2 - t1);
    phases.join.push(t3 - t2);
    total.push(t3 - t0);
    last = { inv, index };
  }
  const r = outcome!;
  const { inv, index } = last!;
  const verdicts: Record<string, number> = {};
  const suppressedVerdicts: Record<string, number> = {};
  for (const f of r.findings) {
    verdicts[f.reachability.verdict] = (verdicts[f.reachability.verdict] ?? 0) + 1;
    if (f.suppressed?.by === 'reachability')
      suppressedVerdicts[f.reachability.verdict] =
        (suppressedVerdicts[f.reachability.verdict] ?? 0) + 1;
  }
  const unsuppressed = r.findings.filter((f) => !f.suppressed);
  return {
    packages: inv.packages,
    figures: {
      lockfile_entries: inv.packages.length,
      entries: index.entries,
      files_parsed: index.files,
      ...(index.boundHit ? { bound_hit: index.boundHit } : {}),
      dynamic_loads: index.dynamic.length,
      naive: r.naive,
      findings: r.findings.length,
      prioritised: unsuppressed.length,
      suppressed_by: r.suppressedBy,
      suppressed_reachability: suppressedVerdicts,
      verdicts,
      top: unsuppressed.slice(0, 5).map(label),
      scan_ms_p50: round(percentile(total, 50)),
      scan_ms_max: round(Math.max(...total)),
      // CPU time of the same runs: on a shared machine, wall time includes waiting for a core.
      scan_cpu_ms_p50: round(percentile(cpu, 50)),
      inventory_ms_p50: round(percentile(phases.inventory, 50), 2),
      reachability_ms_p50: round(percentile(phases.reachability, 50)),
      join_ms_p50: round(percentile(phases.join, 50), 2),
    },
  };
}

function label(f: Finding): string {
  return `${f.priority} ${f.advisory.id} ${f.package.name}@${f.package.version} ${f.reachability.verdict}`;
}

interface OsvRecord {
  id: string;
  withdrawn?: string;
  affected?: {
    package?: { ecosystem?: string; name?: string };
    ranges?: { type: string; events: Record<string, string>[] }[];
    versions?: string[];
  }[];
}

/**
 * What `npm audit` counts: for every installed entry, every advisory record with an npm
 * `affected` of that name whose ranges hold the version (one count per record). Records that
 * share an alias would count twice here; the set has none, and the check says so if it had.
 */
function naivePeer(
  records: OsvRecord[],
  packages: { name: string; version: string }[],
  runs: number,
): { count: number; ms: number } {
  const times: number[] = [];
  let count = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    count = 0;
    for (const p of packages)
      for (const rec of records) {
        if (rec.withdrawn !== undefined) continue;
        if (
          (rec.affected ?? []).some(
            (a) =>
              a.package?.ecosystem === 'npm' &&
              a.package.name === p.name &&
              holds(a.ranges ?? [], a.versions ?? [], p.version),
          )
        )
          count++;
      }
    times.push(performance.now() - t0);
  }
  return { count, ms: percentile(times, 50) };
}

/** OSV range evaluation written out with `semver`: introduced ≤ v < fixed, or ≤ last_affected. */
function holds(
  ranges: { type: string; events: Record<string, string>[] }[],
  versions: string[],
  version: string,
): boolean {
  if (versions.includes(version)) return true;
  const v = semver.parse(version);
  if (v === null) return false;
  return ranges.some((r) => {
    let vulnerable = false;
    for (const e of r.events) {
      if (e.introduced !== undefined)
        vulnerable ||= e.introduced === '0' || semver.gte(v, e.introduced);
      else if (e.fixed !== undefined && semver.gte(v, e.fixed)) vulnerable = false;
      else if (e.last_affected !== undefined && semver.gt(v, e.last_affected)) vulnerable = false;
    }
    return vulnerable;
  });
}
