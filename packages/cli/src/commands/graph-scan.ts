/**
 * `ward graph scan DIR…`: dependencies found in source code and configuration. This shell walks
 * the directories (skipping dependency folders, VCS data, build outputs, binaries, files over
 * 1 MiB and symlinks leading outside the root) and reads files; `@ward/graph`'s `CodeScanner`
 * does the finding. Output is a Ward graph (`-o json|yaml`), which `ward graph analyze` and
 * `export` read back, or a text list of the edges and their evidence.
 *
 * Exit codes: 0 fine (whatever was found); 2 usage or an unreadable directory.
 */
import { constants } from 'node:fs';
import { lstat, open, readdir, realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type { Confidence, ScanResult } from '@ward/graph';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { CliError } from '../errors.ts';
import { addOutputOption, DATA_FORMATS } from '../options.ts';

export const SCAN_REPORT_VERSION = 'ward.dev/graph-scan/v1';

/** Largest file read. */
const MAX_FILE_BYTES = 1024 * 1024;

/** Directories never entered: dependencies, VCS data, virtualenvs, build outputs. */
const SKIP_DIRS = new Set([
  'node_modules',
  'vendor',
  'bower_components',
  'dist',
  'build',
  'target',
  'out',
  'bin',
  'obj',
  'coverage',
  '__pycache__',
  'venv',
  'site-packages',
]);

const OUTPUTS = DATA_FORMATS;
const LEVELS: readonly Confidence[] = ['low', 'medium', 'high'];

interface ScanCliOptions {
  output: string;
  services?: string;
  minConfidence: string;
  trustDomain: string;
}

export function registerScan(graph: Command): void {
  const scan = graph
    .command('scan')
    .description(
      'Find dependencies in source code and configuration (URLs, host:port, env vars, clients)',
    )
    .argument('<dirs...>', 'directories to scan (a monorepo root, or one per service)');
  // The CLI's one -o grammar: commander rejects another format with exit 2.
  addOutputOption(scan, OUTPUTS)
    .option('--services <names>', 'known service names, comma-separated (besides manifests)')
    .option(
      '--min-confidence <level>',
      `least confidence a finding needs to become an edge: ${LEVELS.join(', ')}`,
      'medium',
    )
    .option(
      '--trust-domain <domain>',
      'SPIFFE trust domain for manifest identities',
      'cluster.local',
    )
    .action(async (dirs: string[], opts: ScanCliOptions) => {
      if (!(LEVELS as readonly string[]).includes(opts.minConfidence))
        throw new CliError(
          'CLI_USAGE',
          `--min-confidence ${opts.minConfidence}: expected one of ${LEVELS.join(', ')}`,
          2,
        );
      const services = (opts.services ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      const result = await scanDirs(dirs, {
        services,
        minConfidence: opts.minConfidence as Confidence,
        trustDomain: opts.trustDomain,
      });
      process.stdout.write(render(opts.output as (typeof OUTPUTS)[number], result));
      const { stats } = result;
      process.stderr.write(
        `scanned ${stats.files} file(s) in ${dirs.length} dir(s): ${stats.edges} edge(s), ` +
          `${stats.findings} finding(s) (${stats.belowConfidence} under ${opts.minConfidence}, ` +
          `${stats.unowned} in files no service owns), ${result.manifests.length} manifest(s), ` +
          `${result.skipped.length} file(s) skipped\n`,
      );
    });
}

/** A file to read: the path shown in findings, where it really is, and whether it was a link. */
interface Entry {
  path: string;
  real: string;
  /** A regular file when walked: opened with O_NOFOLLOW, so a swap for a symlink fails. */
  noFollow: boolean;
}

/**
 * Reads a file, never more than MAX_FILE_BYTES + 1 bytes: one larger than the limit, or that
 * grew since it was sized, is refused (undefined) rather than read whole or cut short.
 */
async function readBounded(e: Entry): Promise<Buffer | undefined> {
  const fh = await open(e.real, constants.O_RDONLY | (e.noFollow ? constants.O_NOFOLLOW : 0));
  try {
    // Sized from the file (plus one byte, to see growth since the walk), capped at the limit.
    const { size } = await fh.stat();
    const buf = Buffer.alloc(Math.min(size, MAX_FILE_BYTES) + 1);
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    return n === buf.length ? undefined : buf.subarray(0, n);
  } finally {
    await fh.close();
  }
}

/** Walks `dirs`, reads what the scan wants, and runs the scanner. */
export async function scanDirs(
  dirs: readonly string[],
  options: { services: string[]; minConfidence: Confidence; trustDomain: string },
): Promise<ScanResult> {
  const G = await import('@ward/graph');
  const roots = dirs.map(toPosix);
  const entries: Entry[] = [];
  const skipped: { file: string; reason: string }[] = [];
  for (const dir of dirs) {
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(dir);
    } catch (error) {
      throw new CliError('CLI_INPUT', `cannot read ${dir}: ${errnoText(error)}`, 2);
    }
    if (!info.isDirectory())
      throw new CliError('CLI_INPUT', `${dir}: not a directory (graph scan reads directories)`, 2);
    // Build markers (`pom.xml`, `go.mod`…) are listed too: they tell service directories apart.
    await walk(
      dir,
      await realpath(dir),
      entries,
      skipped,
      (name) => G.syntaxOf(name) !== undefined || G.isBuildMarker(name),
    );
  }
  const scanner = new G.CodeScanner({
    roots,
    files: entries.map((e) => e.path),
    services: options.services,
    minConfidence: options.minConfidence,
    trustDomain: options.trustDomain,
  });
  for (const s of skipped) scanner.skip(s.file, s.reason);
  const texts = new Map<string, string>();
  const read = async (e: Entry): Promise<string | undefined> => {
    const cached = texts.get(e.path);
    if (cached !== undefined) return cached;
    try {
      const buf = await readBounded(e);
      if (buf === undefined) {
        scanner.skip(e.path, `larger than ${MAX_FILE_BYTES} bytes, or growing while read`);
        return undefined;
      }
      if (buf.subarray(0, 8192).includes(0)) {
        scanner.skip(e.path, 'binary (NUL byte)');
        return undefined;
      }
      return buf.toString('utf8');
    } catch (error) {
      scanner.skip(e.path, `unreadable: ${errnoText(error)}`);
      return undefined;
    }
  };
  // Manifests first: they name the services the code is matched against.
  const manifests = new Set<string>();
  for (const e of entries) {
    if (!/\.ya?ml$/i.test(e.path)) continue;
    const text = await read(e);
    if (text !== undefined && scanner.addManifest(e.path, text)) manifests.add(e.path);
    else if (text !== undefined) texts.set(e.path, text);
  }
  for (const e of entries) {
    if (manifests.has(e.path) || G.syntaxOf(e.path) === undefined) continue;
    const text = await read(e);
    texts.delete(e.path);
    if (text !== undefined) scanner.scanFile(e.path, text);
  }
  return scanner.finish();
}

async function walk(
  dir: string,
  rootReal: string,
  out: Entry[],
  skipped: { file: string; reason: string }[],
  wanted: (name: string) => boolean,
): Promise<void> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (error) {
    skipped.push({ file: toPosix(dir), reason: `unreadable: ${errnoText(error)}` });
    return;
  }
  for (const name of names) {
    const path = join(dir, name);
    const shown = toPosix(path);
    let info = await lstat(path).catch(() => undefined);
    if (!info) continue;
    let real = path;
    if (info.isSymbolicLink()) {
      // Followed only to a file inside the root: a link must not read outside what was asked,
      // and links to directories are not followed (no loops; the target is walked anyway).
      const target = await realpath(path).catch(() => undefined);
      if (!target || (target !== rootReal && !target.startsWith(rootReal + sep))) {
        skipped.push({ file: shown, reason: 'symlink leading outside the scanned directory' });
        continue;
      }
      info = await stat(target).catch(() => undefined);
      if (!info?.isFile()) continue;
      real = target;
    }
    if (info.isDirectory()) {
      if (SKIP_DIRS.has(name) || (name.startsWith('.') && name !== '.')) continue;
      await walk(path, rootReal, out, skipped, wanted);
    } else if (info.isFile() && wanted(name)) {
      if (info.size > MAX_FILE_BYTES) {
        skipped.push({ file: shown, reason: `larger than ${MAX_FILE_BYTES} bytes` });
        continue;
      }
      out.push({ path: shown, real, noFollow: real === path });
    }
  }
}

function toPosix(p: string): string {
  return sep === '/' ? p : p.split(sep).join('/');
}

function errnoText(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? 'no such file or directory' : (code ?? (error as Error).message);
}

function render(format: (typeof OUTPUTS)[number], r: ScanResult): string {
  if (format === 'json') return `${JSON.stringify(report(r), null, 2)}\n`;
  if (format === 'yaml') return stringify(report(r));
  const lines: string[] = [];
  for (const e of r.graph.edges) {
    const best =
      e.sources.find((s) => s.type === 'scan' && s.confidence === 'high') ?? e.sources[0]!;
    const where = `${best.file}${best.line === undefined ? '' : `:${best.line}`}${best.col === undefined ? '' : `:${best.col}`}`;
    const how = best.type === 'scan' ? `${best.evidence}, ${best.confidence}` : best.type;
    const more = e.sources.length > 1 ? ` (+${e.sources.length - 1} more)` : '';
    lines.push(`${e.from} → ${e.to}  [${how}] ${where}${more}`);
  }
  if (lines.length === 0) {
    lines.push(
      r.graph.services.length === 0
        ? 'no dependencies found: no known services (no Kubernetes or Compose manifest, no service directory); name them with --services a,b,c'
        : `no dependencies found among ${r.graph.services.length} known service(s); ${r.stats.belowConfidence} finding(s) under --min-confidence, ${r.stats.unowned} in files no service owns`,
    );
  }
  for (const s of r.skipped.slice(0, 20)) lines.push(`skipped ${s.file}: ${s.reason}`);
  if (r.skipped.length > 20) lines.push(`… and ${r.skipped.length - 20} more skipped`);
  return `${lines.join('\n')}\n`;
}

/** The JSON/YAML report: a Ward graph (under `graph`, as `ward graph analyze` reads it) plus the findings. */
function report(r: ScanResult): Record<string, unknown> {
  return {
    version: SCAN_REPORT_VERSION,
    graph: r.graph,
    findings: r.findings,
    serviceDirs: r.serviceDirs,
    manifests: r.manifests,
    skipped: r.skipped,
    stats: r.stats,
  };
}
