/**
 * `ward vulns -f LOCKFILE --osv DIR|ZIP`: which advisories matter, by code reachability, exploit
 * likelihood and network exposure (issue 17). This shell only does I/O: it reads the lockfiles
 * and SBOMs, the OSV records, the EPSS and KEV files, the suppressions, the source tree (through
 * a read-only FileSystem) and the `ward graph` inputs, and hands them to `@ward/vulns`'s `scan`.
 * Nothing goes to the network.
 *
 * Exit codes: 0 fine; 1 `--fail-on` matched a finding, or an input is bad (naming the file and
 * the entry); 2 usage errors.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename, dirname, resolve, sep } from 'node:path';
import type { DependencyGraph, GraphReport } from '@ward/graph';
import type {
  AdvisoryDatabase,
  EpssEntry,
  FileSystem,
  Finding,
  Inventory,
  KevEntry,
  ScanOutcome,
} from '@ward/vulns';
import { type Command, Option } from 'commander';
import { CliError } from '../errors.ts';
import { collect, collectFiles, readText, usageError } from '../options.ts';
import { call, resolveKey, withConnection } from './_api.ts';
import { loadGraph } from './graph.ts';

const FORMATS = ['text', 'json', 'sarif', 'cyclonedx-vex', 'openvex'] as const;
type Format = (typeof FORMATS)[number];

interface VulnsOptions {
  filename: string[];
  osv: string;
  epss?: string;
  kev?: string;
  source?: string;
  condition: string[];
  graph: string[];
  service?: string;
  suppressions?: string;
  failOn?: string;
  output: Format;
  outputFile?: string;
  includeSuppressed?: boolean;
  server?: string;
  token?: string;
  since?: string;
}

let V: typeof import('@ward/vulns');

/** The advisory set (the shape of `@ward/server`'s `VulnsData`). */
export interface VulnsData {
  advisories: AdvisoryDatabase;
  epss?: ReadonlyMap<string, EpssEntry>;
  kev?: ReadonlyMap<string, KevEntry>;
}

/** The core's coded errors as CLI failures: bad data exits 1, a bad `--fail-on` is usage (2). */
function vulnsCall<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof V.VulnsError)
      throw new CliError(error.code, error.message, error.code === 'VULNS_BAD_FAIL_ON' ? 2 : 1);
    throw error;
  }
}

/** A read-only view of the disk for the reachability analysis (`/`-separated absolute paths). */
/**
 * The disk as the reachability analysis reads it. Make one per analysis: it remembers what it
 * saw (the tree is taken not to change meanwhile). Module resolution probes many paths that are
 * not there (`x.js`, `x.mjs`, …, `x/index.js`, a `node_modules/name` in every folder upward):
 * a probe under a folder known to be missing costs no system call, and a missing path does not
 * throw (an exception per probe cost a fifth of the analysis on parse-server).
 */
export function diskFileSystem(): FileSystem {
  const files = new Map<string, boolean>();
  const dirs = new Map<string, boolean>();
  const kind = (path: string): 'file' | 'dir' | undefined => {
    try {
      const st = statSync(path, { throwIfNoEntry: false });
      return st === undefined
        ? undefined
        : st.isFile()
          ? 'file'
          : st.isDirectory()
            ? 'dir'
            : undefined;
    } catch {
      return undefined; // ENOTDIR (a file used as a folder), EACCES
    }
  };
  const parentOf = (path: string): string | undefined => {
    const slash = path.lastIndexOf('/');
    return slash <= 0 ? undefined : path.slice(0, slash);
  };
  const isDir = (dir: string): boolean => {
    let known = dirs.get(dir);
    if (known === undefined) {
      const parent = parentOf(dir);
      known = (parent === undefined || isDir(parent)) && kind(dir) === 'dir';
      dirs.set(dir, known);
    }
    return known;
  };
  return {
    readFile(path) {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
    },
    isFile(path) {
      let known = files.get(path);
      if (known === undefined) {
        const parent = parentOf(path);
        known = (parent === undefined || isDir(parent)) && kind(path) === 'file';
        files.set(path, known);
      }
      return known;
    },
  };
}

const slashed = (path: string): string => resolve(path).split(sep).join('/');

/**
 * Where the analysis reads: the source tree, or, when the source is a package inside the
 * lockfile's folder (an npm/yarn/pnpm workspace member), that folder — the dependencies are
 * installed in its node_modules — with the entries taken from the member's package.json.
 */
export function analysisRoot(
  source: string,
  lockfile: string,
): { root: string; packageDir?: string } {
  const dir = slashed(source);
  const project = slashed(dirname(lockfile));
  if (dir.startsWith(`${project}/`)) return { root: project, packageDir: dir };
  return { root: dir };
}

function isDirectory(path: string, flag: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw usageError(`${flag} ${path}: ${code === 'ENOENT' ? 'no such file or directory' : code}`);
  }
}

function loadAdvisories(path: string) {
  if (isDirectory(path, '--osv')) {
    const files = collectFiles([path], /\.json$/i);
    return vulnsCall(() =>
      V.AdvisoryDatabase.fromRecords(
        files.map((file) => ({ file, text: readText(file) })),
        { strict: false },
      ),
    );
  }
  const bytes = new Uint8Array(readFileSync(path));
  return vulnsCall(() => V.AdvisoryDatabase.fromZip(bytes, { strict: false }));
}

/**
 * The advisory set of `ward vulns --osv/--epss/--kev`, also what `ward server --vulns-osv …`
 * loads at start and on `POST /v1/vulns/reload`: one reader of these files. OSV records that do
 * not parse are skipped and told to `warn`.
 */
export async function loadVulnsData(
  paths: { osv: string; epss?: string | undefined; kev?: string | undefined },
  warn: (line: string) => void,
): Promise<VulnsData> {
  V ??= await import('@ward/vulns');
  const advisories = loadAdvisories(paths.osv);
  for (const s of advisories.skipped) warn(`skipped ${s.file}: ${s.message}`);
  const { epss, kev } = paths;
  return {
    advisories,
    ...(epss !== undefined ? { epss: vulnsCall(() => V.parseEpssCsv(readText(epss), epss)) } : {}),
    ...(kev !== undefined ? { kev: vulnsCall(() => V.parseKev(readText(kev), kev)) } : {}),
  };
}

function summaryLine(r: ScanOutcome): string {
  const shown = r.findings.filter((f) => !f.suppressed).length;
  const by = Object.entries(r.suppressedBy)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, n]) => `${k} ${n}`);
  return (
    `${shown} finding(s) to act on; ${r.findings.length} advisory match(es) after deduplication, ` +
    `${r.naive} counted naively (every advisory × installed entry)` +
    (by.length > 0 ? `; suppressed: ${by.join(', ')}` : '')
  );
}

function subjectOf(opts: VulnsOptions): { name: string; version?: string } {
  if (opts.source !== undefined) {
    try {
      const manifest = JSON.parse(readFileSync(resolve(opts.source, 'package.json'), 'utf8'));
      if (typeof manifest.name === 'string' && manifest.name !== '') {
        const out: { name: string; version?: string } = { name: opts.service ?? manifest.name };
        if (typeof manifest.version === 'string') out.version = manifest.version;
        return out;
      }
    } catch {
      // No readable manifest: fall back to the service or the folder's name.
    }
  }
  return { name: opts.service ?? basename(resolve(opts.source ?? '.')) };
}

/**
 * The service's exposure: from `--graph` files, or from the control plane's `GET /v1/graph`
 * with `--server` (the graph the API's scans use). Undefined when neither is given.
 */
async function exposureFrom(opts: VulnsOptions): Promise<ReturnType<typeof V.exposureOf>> {
  let graph: DependencyGraph;
  let service = opts.service!;
  let where: string;
  if (opts.server !== undefined) {
    // Keys as the server names its nodes: `default/orders` is `orders`.
    service = resolveKey(service, undefined, '--service');
    const since = opts.since ?? '7d';
    const report = await call<GraphReport>(
      opts,
      'GET',
      `/v1/graph?${new URLSearchParams({ since, format: 'json' })}`,
    );
    graph = report.graph;
    where = `the graph of ${opts.server} (since ${since})`;
  } else if (opts.graph.length > 0) {
    graph = await loadGraph(opts.graph);
    where = 'the graph';
  } else return undefined;
  const exposure = V.exposureOf(graph, service);
  if (exposure === undefined)
    throw usageError(`--service ${opts.service}: no such service in ${where}`);
  return exposure;
}

/** The flag combinations `ward vulns` refuses (exit 2). */
function checkUsage(opts: VulnsOptions): void {
  if (opts.graph.length > 0 && opts.server !== undefined)
    throw usageError('--graph and --server are two sources of the graph: give one');
  if (opts.since !== undefined && opts.server === undefined)
    throw usageError("--since needs --server (the window of the control plane's graph)");
  const remote = opts.server !== undefined;
  if ((opts.graph.length > 0 || remote) && opts.service === undefined)
    throw usageError(
      `${remote ? '--server' : '--graph'} needs --service KEY (the service this lockfile belongs to)`,
    );
  if (
    opts.graph.length === 0 &&
    !remote &&
    opts.service !== undefined &&
    opts.suppressions === undefined
  )
    throw usageError(
      '--service needs --graph FILE or --server URL (or --suppressions scoped to the service)',
    );
}

export function register(program: Command): void {
  const command = program
    .command('vulns')
    .description(
      'Rank the advisories matching a lockfile or SBOM by reachability, exploit likelihood and exposure (offline)',
    )
    .addOption(
      new Option('-f, --filename <file>', 'lockfile or SBOM (repeatable)')
        .argParser(collect)
        .makeOptionMandatory(),
    )
    .requiredOption('--osv <dir|zip>', 'OSV records: a directory of JSON files or npm/all.zip')
    .option('--epss <file>', 'EPSS scores (epss_scores-YYYY-MM-DD.csv)')
    .option('--kev <file>', 'CISA KEV catalog (known_exploited_vulnerabilities.json)')
    .option(
      '--source <dir>',
      'the service source tree for reachability (entries from its package.json)',
    )
    .addOption(
      new Option(
        '--condition <name>',
        'package.json exports condition tried first when following imports (repeatable)',
      )
        .argParser(collect)
        .default([]),
    )
    .addOption(
      new Option('--graph <file>', '`ward graph` input for exposure (repeatable)')
        .argParser(collect)
        .default([]),
    )
    .option('--service <key>', 'the service in the graph (namespace/name) this lockfile belongs to')
    .option(
      '--suppressions <file>',
      'suppressions file (YAML or JSON), each with a reason and an expiry',
    )
    .option(
      '--fail-on <spec>',
      'exit 1 when an unsuppressed finding matches, e.g. kev,high,epss>=0.1',
    )
    .option('--include-suppressed', 'also list suppressed findings in the text table')
    .addOption(
      new Option('-o, --output <format>', 'output format').choices(FORMATS).default('text'),
    )
    .option('--output-file <file>', 'write the report to this file instead of stdout')
    .option(
      '--since <window>',
      "with --server: the graph's observation window (30m, 7d, ISO time; default 7d)",
    );
  // --server/--token: exposure from the control plane's GET /v1/graph instead of --graph files;
  // everything else stays local (reachability needs the source tree).
  withConnection(command).action(async (opts: VulnsOptions) => {
    checkUsage(opts);
    V ??= await import('@ward/vulns');
    const conditions =
      opts.failOn !== undefined ? vulnsCall(() => V.parseFailOn(opts.failOn!)) : undefined;
    const texts = new Map<string, string>();
    const inventories: Inventory[] = opts.filename.map((file) => {
      const text = readText(file);
      texts.set(file, text);
      return vulnsCall(() => V.readInventory(text, file));
    });
    const { advisories, epss, kev } = await loadVulnsData(opts, (line) =>
      process.stderr.write(`ward vulns: ${line}\n`),
    );
    const suppressions =
      opts.suppressions !== undefined
        ? vulnsCall(() => V.parseSuppressions(readText(opts.suppressions!), opts.suppressions!))
        : undefined;
    let reachability: ReturnType<typeof V.analyzeReachability> | undefined;
    if (opts.source !== undefined) {
      if (!isDirectory(opts.source, '--source'))
        throw usageError(`--source ${opts.source}: not a directory`);
      reachability = vulnsCall(() =>
        V.analyzeReachability({
          fs: diskFileSystem(),
          ...analysisRoot(opts.source!, opts.filename[0]!),
          conditions: opts.condition,
        }),
      );
    }
    const exposure = await exposureFrom(opts);
    const now = Date.now();
    const result = vulnsCall(() =>
      V.scan({
        inventory: inventories,
        advisories,
        ...(epss ? { epss } : {}),
        ...(kev ? { kev } : {}),
        ...(reachability ? { reachability } : {}),
        ...(exposure ? { exposure } : {}),
        ...(suppressions ? { suppressions } : {}),
        ...(opts.service !== undefined ? { service: opts.service } : {}),
        now,
      }),
    );
    for (const e of result.expiredSuppressions) process.stderr.write(`ward vulns: ${e.message}\n`);
    for (const s of result.unusedSuppressions)
      process.stderr.write(
        `ward vulns: suppression of ${s.id} at ${s.file}:${s.line} matches no finding\n`,
      );
    const text = render(opts, result, texts, now);
    if (opts.outputFile !== undefined) {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(opts.outputFile, text);
    } else process.stdout.write(text);
    if (conditions !== undefined) {
      const gate = V.failOn(result.findings, conditions);
      if (gate.failed) {
        process.stderr.write(`ward vulns: --fail-on ${opts.failOn} failed:\n`);
        for (const why of gate.why) process.stderr.write(`  ${why}\n`);
        process.exitCode = 1;
      }
    }
  });
}

function render(
  opts: VulnsOptions,
  result: ScanOutcome,
  texts: ReadonlyMap<string, string>,
  now: number,
): string {
  const findings: Finding[] = result.findings;
  const timestamp = new Date(Math.floor(now / 1000) * 1000).toISOString().replace('.000Z', 'Z');
  switch (opts.output) {
    case 'json':
      return V.toScanJson(result);
    case 'sarif': {
      const lockfile = opts.filename[0]!;
      return V.toSarif(findings, { lockfile, lockfileText: texts.get(lockfile) ?? '' });
    }
    case 'cyclonedx-vex':
      return V.toCycloneDxVex(findings, subjectOf(opts), { timestamp });
    case 'openvex':
      return V.toOpenVex(findings, subjectOf(opts), { timestamp });
    default:
      return `${V.toTable(findings, { includeSuppressed: opts.includeSuppressed === true })}${summaryLine(result)}\n`;
  }
}
