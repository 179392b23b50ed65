/**
 * `ward graph analyze|check|export`: the dependency graph on the command line. This shell only
 * does I/O: it streams files into `@ward/graph` (so a 1 GB trace file never sits in memory
 * whole), draws a progress bar on stderr for large inputs when stderr is a terminal, and writes
 * reports and manifests.
 *
 * Exit codes: 0 fine; 1 `check` found a regression against the baseline; 2 bad input or usage.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type {
  AnalysisReport,
  AnalyzeOptions,
  DependencyGraph,
  IngestStats,
  InputType,
} from '@ward/graph';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { CliError } from '../errors.ts';
import { sanitizeOutput, writeRaw } from '../output.ts';
import { registerScan } from './graph-scan.ts';

const FORMATS = ['text', 'json', 'dot', 'mermaid', 'sarif'] as const;
type Format = (typeof FORMATS)[number];
/**
 * The engine, loaded on first use so that other `ward` commands do not pay for parsing it.
 */
let G: typeof import('@ward/graph');
async function engine(): Promise<void> {
  G ??= await import('@ward/graph');
}

/** Inputs at least this large get a progress bar (when stderr is a terminal). */
const PROGRESS_MIN_BYTES = 16 * 1024 * 1024;

interface CommonOptions {
  rules?: string;
  trustDomain?: string;
  maxCycles?: string;
  progress: boolean;
}

export function register(program: Command): void {
  const graph = program
    .command('graph')
    .description(
      'Map service dependencies: cycles, cold-start order, cycle breaking, policy export',
    );

  common(
    graph
      .command('analyze')
      .description(
        'Read inputs (traces, manifests, catalogs, decision logs) and report on the graph',
      )
      .argument(
        '<inputs...>',
        'files; force a type with TYPE:PATH (otlp, otlp-proto, jaeger, jaeger-deps, zipkin, k8s, compose, backstage, ward, decisions, graph)',
      )
      .option('-f, --format <format>', `output format: ${FORMATS.join(', ')}`, 'text')
      .option('-o, --output <file>', 'write the report to a file instead of stdout'),
  ).action(async (inputs: string[], opts: CommonOptions & { format: string; output?: string }) => {
    await engine();
    const format = parseFormat(opts.format);
    const { graph, stats } = await load(inputs, opts);
    const options = await analyzeOptions(opts);
    const report = G.analyze(graph, options);
    await emit(render(format, graph, report, stats), opts.output);
  });

  common(
    graph
      .command('check')
      .description(
        'CI gate: exit 1 if the graph gained a cycle, an unapproved edge or a layering violation',
      )
      .argument('<inputs...>', 'files, as for analyze')
      .requiredOption('--baseline <file>', 'a previous `ward graph analyze --format json` output')
      .option('-f, --format <format>', 'text or json', 'text'),
  ).action(async (inputs: string[], opts: CommonOptions & { baseline: string; format: string }) => {
    await engine();
    if (opts.format !== 'text' && opts.format !== 'json')
      throw new CliError('CLI_USAGE', `--format ${opts.format}: expected text or json`, 2);
    const json = await readJson(opts.baseline);
    const baseline = graphCall(() => G.parseBaseline(json, opts.baseline));
    const { graph } = await load(inputs, opts);
    const result = G.checkAgainstBaseline(graph, baseline, await analyzeOptions(opts));
    if (opts.format === 'json') process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else {
      const lines: string[] = [];
      for (const c of result.newCycles)
        lines.push(`new cycle: ${c.cycle.join(' → ')} (via ${c.edge.from} → ${c.edge.to})`);
      for (const u of result.newUnapproved)
        lines.push(`new unapproved edge: ${u.from} → ${u.to} (${u.calls} calls)`);
      for (const v of result.newViolations) lines.push(`new layering violation: ${v.message}`);
      lines.push(
        result.ok
          ? 'ok: no new cycles, unapproved edges or layering violations'
          : `failed: ${lines.length} regression(s) against ${opts.baseline}`,
      );
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    if (!result.ok) process.exitCode = 1;
  });

  registerScan(graph);

  common(
    graph
      .command('export')
      .description(
        'Write Kubernetes NetworkPolicies or Istio AuthorizationPolicies for the approved (declared) graph',
      )
      .argument('<target>', 'networkpolicy or istio')
      .argument('<inputs...>', 'files, as for analyze')
      .requiredOption('-o, --out <dir>', 'directory to write one YAML file per namespace into')
      .option('--include-observed', 'also allow observed edges nothing declares'),
  ).action(
    async (
      target: string,
      inputs: string[],
      opts: CommonOptions & { out: string; includeObserved?: boolean },
    ) => {
      await engine();
      if (target !== 'networkpolicy' && target !== 'istio')
        throw new CliError(
          'CLI_USAGE',
          `export target ${target}: expected networkpolicy or istio`,
          2,
        );
      const { graph } = await load(inputs, opts);
      const options = {
        includeObserved: opts.includeObserved === true,
        trustDomain: opts.trustDomain ?? 'cluster.local',
      };
      const result =
        target === 'istio'
          ? G.toIstioPolicies(graph, options)
          : G.toNetworkPolicies(graph, options);
      const byNamespace = new Map<string, Record<string, unknown>[]>();
      for (const m of result.manifests) {
        const ns = (m.metadata as { namespace: string }).namespace;
        byNamespace.set(ns, [...(byNamespace.get(ns) ?? []), m]);
      }
      await mkdir(opts.out, { recursive: true });
      for (const [ns, manifests] of byNamespace) {
        const file = join(opts.out, `${ns}.${target}.yaml`);
        await writeFile(file, `${manifests.map((m) => stringify(m)).join('---\n')}`);
      }
      process.stderr.write(
        `wrote ${result.manifests.length} manifest(s) for ${byNamespace.size} namespace(s) to ${opts.out}\n`,
      );
      for (const s of result.skipped.slice(0, 20))
        process.stderr.write(`  skipped ${s.item}: ${s.reason}\n`);
      if (result.skipped.length > 20)
        process.stderr.write(`  … and ${result.skipped.length - 20} more skipped\n`);
    },
  );
}

function common(cmd: Command): Command {
  return cmd
    .option('--rules <file>', 'layering rules (YAML)')
    .option(
      '--trust-domain <domain>',
      'SPIFFE trust domain for derived identities',
      'cluster.local',
    )
    .option('--max-cycles <n>', 'most cycles to list', '100')
    .option('--no-progress', 'never draw a progress bar');
}

function parseFormat(format: string): Format {
  if (!(FORMATS as readonly string[]).includes(format))
    throw new CliError('CLI_USAGE', `--format ${format}: expected one of ${FORMATS.join(', ')}`, 2);
  return format as Format;
}

async function analyzeOptions(opts: CommonOptions): Promise<AnalyzeOptions> {
  const maxCycles = Number(opts.maxCycles ?? '100');
  if (!Number.isInteger(maxCycles) || maxCycles < 1)
    throw new CliError('CLI_USAGE', '--max-cycles must be a positive integer', 2);
  const options: AnalyzeOptions = { maxCycles };
  if (opts.rules) {
    const text = await readText(opts.rules);
    options.rules = graphCall(() => G.parseLayeringRules(text, opts.rules!));
  }
  return options;
}

function render(
  format: Format,
  graph: DependencyGraph,
  report: AnalysisReport,
  stats: IngestStats,
): string {
  switch (format) {
    case 'json':
      return G.toJsonReport(graph, report, stats);
    case 'dot':
      return G.toDot(graph, report);
    case 'mermaid':
      return G.toMermaid(graph, report);
    case 'sarif':
      return G.toSarif(graph, report);
    default:
      return G.toTextReport(report, stats);
  }
}

async function emit(text: string, output: string | undefined): Promise<void> {
  if (output) await writeFile(output, text);
  else process.stdout.write(text);
}

/** Turns the engine's coded errors into one-line CLI failures (exit 2). */
function graphCall<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw asCliError(error);
  }
}

function asCliError(error: unknown): unknown {
  if (error instanceof G.GraphError) return new CliError(error.code, error.message, 2);
  return error;
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw ioError(file, error);
  }
}

async function readJson(file: string): Promise<unknown> {
  const text = await readText(file);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CliError(
      'GRAPH_BASELINE_INVALID',
      `${file}: not JSON (${(error as Error).message})`,
      2,
    );
  }
}

function ioError(file: string, error: unknown): CliError {
  const code = (error as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT'
      ? 'no such file'
      : code === 'EISDIR'
        ? 'is a directory'
        : (error as Error).message;
  return new CliError('CLI_INPUT', `cannot read ${file}: ${why}`, 2);
}

/** Streams every input into one ingest, detecting types from prefixes, names or content. */
async function load(
  inputs: string[],
  opts: CommonOptions,
): Promise<{ graph: DependencyGraph; stats: IngestStats }> {
  const ingest = new G.GraphIngest({ trustDomain: opts.trustDomain });
  const plan: { path: string; type: InputType; size: number }[] = [];
  for (const arg of inputs) {
    const { type, path } = G.parseInputArg(arg);
    let size: number;
    let head: Uint8Array;
    try {
      const info = await stat(path);
      if (info.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      size = info.size;
      const fh = await open(path, 'r');
      try {
        const buf = new Uint8Array(Math.min(size, 64 * 1024));
        await fh.read(buf, 0, buf.length, 0);
        head = buf;
      } finally {
        await fh.close();
      }
    } catch (error) {
      throw ioError(path, error);
    }
    plan.push({ path, type: type ?? graphCall(() => G.detectInputType(path, head)), size });
  }
  const total = plan.reduce((n, p) => n + p.size, 0);
  const bar =
    opts.progress && process.stderr.isTTY && total >= PROGRESS_MIN_BYTES
      ? new ProgressBar(total)
      : undefined;
  try {
    for (const { path, type } of plan) {
      const sink = ingest.open(type, path);
      try {
        for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
          sink.write(chunk as Buffer);
          bar?.advance((chunk as Buffer).length, path);
        }
        sink.end();
      } catch (error) {
        throw error instanceof G.GraphError ? asCliError(error) : ioError(path, error);
      }
    }
  } finally {
    bar?.done();
  }
  return graphCall(() => ingest.finish());
}

/** A one-line progress bar on stderr, redrawn at most ten times a second. */
class ProgressBar {
  private done_ = 0;
  private last = 0;
  private readonly total: number;

  constructor(total: number) {
    this.total = total;
  }

  advance(bytes: number, file: string): void {
    this.done_ += bytes;
    const now = Date.now();
    if (now - this.last < 100 && this.done_ < this.total) return;
    this.last = now;
    const width = 30;
    const ratio = Math.min(1, this.done_ / this.total);
    const filled = Math.round(ratio * width);
    const mb = (n: number) => (n / 1048576).toFixed(0);
    writeRaw(
      process.stderr,
      `\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(ratio * 100).toFixed(0).padStart(3)}% ${mb(this.done_)}/${mb(this.total)} MB ${sanitizeOutput(file.slice(-40))}\u001b[K`,
    );
  }

  done(): void {
    writeRaw(process.stderr, '\r\u001b[K');
  }
}
