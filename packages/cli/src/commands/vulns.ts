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
import type { FileSystem, Finding, Inventory, ScanOutcome } from '@ward/vulns';
import { type Command, Option } from 'commander';
import { CliError } from '../errors.ts';
import { collect, collectFiles, readText, usageError } from '../options.ts';
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
}

let V: typeof import('@ward/vulns');

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
export function diskFileSystem(): FileSystem {
  return {
    readFile(path) {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
    },
    isFile(path) {
      try {
        return statSync(path).isFile();
      } catch {
        return false;
      }
    },
  };
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

export function register(program: Command): void {
  program
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
    .action(async (opts: VulnsOptions) => {
      if (opts.graph.length > 0 && opts.service === undefined)
        throw usageError('--graph needs --service KEY (the service this lockfile belongs to)');
      if (opts.graph.length === 0 && opts.service !== undefined && opts.suppressions === undefined)
        throw usageError('--service needs --graph FILE (or --suppressions scoped to the service)');
      V ??= await import('@ward/vulns');
      const conditions =
        opts.failOn !== undefined ? vulnsCall(() => V.parseFailOn(opts.failOn!)) : undefined;
      const texts = new Map<string, string>();
      const inventories: Inventory[] = opts.filename.map((file) => {
        const text = readText(file);
        texts.set(file, text);
        return vulnsCall(() => V.readInventory(text, file));
      });
      const advisories = loadAdvisories(opts.osv);
      for (const s of advisories.skipped)
        process.stderr.write(`ward vulns: skipped ${s.file}: ${s.message}\n`);
      const epss =
        opts.epss !== undefined
          ? vulnsCall(() => V.parseEpssCsv(readText(opts.epss!), opts.epss!))
          : undefined;
      const kev =
        opts.kev !== undefined
          ? vulnsCall(() => V.parseKev(readText(opts.kev!), opts.kev!))
          : undefined;
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
      let exposure: ReturnType<typeof V.exposureOf>;
      if (opts.graph.length > 0) {
        const graph = await loadGraph(opts.graph);
        exposure = V.exposureOf(graph, opts.service!);
        if (exposure === undefined)
          throw usageError(`--service ${opts.service}: no such service in the graph`);
      }
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
      for (const e of result.expiredSuppressions)
        process.stderr.write(`ward vulns: ${e.message}\n`);
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
    case 'json': {
      const doc = JSON.parse(V.toJson(findings));
      doc.summary = {
        ...doc.summary,
        naive: result.naive,
        suppressedBy: result.suppressedBy,
        expiredSuppressions: result.expiredSuppressions.map((e) => e.message),
      };
      return `${JSON.stringify(doc, null, 2)}\n`;
    }
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
