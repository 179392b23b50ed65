/**
 * `ward graph analyze|check|export -f FILE…`: the dependency graph on the command line, and
 * `ward graph get`: the control plane's graph (`GET /v1/graph`). This
 * shell only does I/O: it streams files (and stdin, `-f -`) into `@ward/graph` (so a 1 GB trace
 * file never sits in memory whole), walks directories with the CLI's one walker, draws a
 * progress bar on stderr for large inputs when stderr is a terminal, and writes reports and
 * manifests.
 *
 * Exit codes: 0 fine; 1 `check` found a regression against the baseline, or `export` refused to
 * write policies that would cut traffic the graph cannot explain; 2 bad input or usage.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type {
  AnalysisReport,
  AnalyzeOptions,
  CheckResult,
  DependencyGraph,
  ExportResult,
  GraphIngest,
  GraphReport,
  IngestStats,
  InputType,
  Unexpressed,
} from '@ward/graph';
import type { PolicySet, SourcedDocument } from '@ward/policy';
import { isNamespace } from '@ward/spiffe';
import { Argument, type Command, Option } from 'commander';
import { stringify } from 'yaml';
import { CliError } from '../errors.ts';
import { addFileOption, addOutputOption, collectFiles, printResult, STDIN } from '../options.ts';
import { sanitizeOutput, writeRaw } from '../output.ts';
import { type ConnectionOptions, call, withConnection } from './_api.ts';
import { registerScan } from './graph-scan.ts';

/** What `analyze -o` prints: the common formats plus the graph's drawings and SARIF. */
const FORMATS = ['text', 'json', 'yaml', 'dot', 'mermaid', 'sarif'] as const;
type Format = (typeof FORMATS)[number];

/** What `get -o` prints: the report as data, its text summary, or a drawing. */
const REMOTE_FORMATS = ['text', 'json', 'yaml', 'dot', 'mermaid'] as const;
type RemoteFormat = (typeof REMOTE_FORMATS)[number];

/** Files a directory walk picks up: what the readers can tell apart by name or content. */
const GRAPH_FILES = /\.(ya?ml|json|jsonl|ndjson|pb|binpb|protobuf)$/i;

const INPUT_HELP =
  'input: traces, manifests, catalogs, decision logs, a graph; force a type with TYPE:PATH (otlp, otlp-proto, jaeger, jaeger-deps, zipkin, k8s, compose, backstage, ward, decisions, graph)';
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
  filename: string[];
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
    addOutputOption(
      graph
        .command('analyze')
        .description(
          'Read inputs (traces, manifests, catalogs, decision logs) and report on the graph',
        )
        .option('--output-file <file>', 'write the report to this file instead of stdout')
        .option(...NAMESPACE_FILTER),
      FORMATS,
    ),
  ).action(
    async (opts: CommonOptions & { output: Format; outputFile?: string; namespace?: string }) => {
      await engine();
      const loaded = await load(opts.filename, opts);
      const { stats } = loaded;
      const graph = inNamespace(loaded.graph, opts.namespace);
      const options = await analyzeOptions(opts);
      const report = G.analyze(graph, options);
      // The text and JSON reports carry the diagnostics; diagrams and SARIF have no place for them.
      if (opts.output !== 'text' && opts.output !== 'json')
        for (const line of G.diagnosticLines(stats.diagnostics)) process.stderr.write(`${line}\n`);
      await emit(render(opts.output, graph, report, stats), opts.outputFile);
    },
  );

  common(
    addOutputOption(
      graph
        .command('check')
        .description(
          'CI gate: exit 1 if the graph gained a cycle, an unapproved edge or a layering violation',
        )
        .requiredOption(
          '--baseline <file>',
          'a previous `ward graph analyze -o json` output (the approved graph)',
        ),
      ['text', 'json', 'yaml', 'sarif'],
    ),
  ).action(async (opts: CommonOptions & { baseline: string; output: string }) => {
    await engine();
    const json = await readJson(opts.baseline);
    const baseline = graphCall(() => G.parseBaseline(json, opts.baseline));
    const { graph } = await load(opts.filename, opts);
    const result = G.checkAgainstBaseline(graph, baseline, await analyzeOptions(opts));
    if (opts.output === 'json') process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else if (opts.output === 'yaml') process.stdout.write(stringify(result));
    else if (opts.output === 'sarif') process.stdout.write(G.checkToSarif(graph, result));
    else {
      const lines: string[] = [];
      for (const c of result.newCycles)
        lines.push(`new cycle: ${c.cycle.join(' → ')} (closed by ${closedBy(c)})`);
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

  withConnection(
    addOutputOption(
      graph
        .command('get')
        .description(
          "The control plane's merged graph (declared + observed) and its analyses (GET /v1/graph)",
        )
        .option(
          '--since <window>',
          'observations since: duration back from now (30m, 7d) or ISO time',
          '7d',
        )
        .option(
          '-n, --namespace <ns>',
          'only this namespace: its services, the edges into and out of them and the services at their other end (default: every namespace)',
        ),
      REMOTE_FORMATS,
    ),
  ).action(
    async (
      opts: ConnectionOptions & { since: string; output: RemoteFormat; namespace?: string },
    ) => {
      checkNamespace(opts.namespace);
      const report = await call<GraphReport>(
        opts,
        'GET',
        `/v1/graph?${new URLSearchParams({ since: opts.since, format: 'json' })}`,
      );
      await engine();
      if (opts.namespace !== undefined) {
        // The report's analyses are of the whole graph: analyse the namespace's part again.
        report.graph = inNamespace(report.graph, opts.namespace);
        report.analysis = G.analyze(report.graph);
      }
      // The same writers the server's `format=dot|mermaid` uses, on the report it sent.
      const text = (): string => G.toTextReport(report.analysis, report.stats);
      if (opts.output === 'dot') process.stdout.write(G.toDot(report.graph, report.analysis));
      else if (opts.output === 'mermaid')
        process.stdout.write(G.toMermaid(report.graph, report.analysis));
      else printResult(opts.output, report, text);
    },
  );

  common(
    addOutputOption(
      graph
        .command('export')
        .description(
          'Write Kubernetes NetworkPolicies or Istio AuthorizationPolicies from the Ward rules among the inputs, or else the approved (declared) graph',
        )
        .addArgument(new Argument('<target>', 'what to write').choices(['networkpolicy', 'istio']))
        .addOption(
          new Option(
            '--from <source>',
            "export from the Intention rules among the inputs, or from the graph's edges (default: rules when the inputs hold intentions)",
          ).choices(['rules', 'edges']),
        )
        .option(
          '--strict',
          'exit 1 when some rule part could not be expressed (the manifests are still written)',
        )
        .option(
          '--output-dir <dir>',
          'write one file per namespace into this directory instead of printing to stdout',
        )
        .option('--include-observed', 'also allow observed edges nothing declares')
        .option(
          '-n, --namespace <ns>',
          'namespace of objects and services that name none (as kubectl -n), and write only the manifests of this namespace (default: every namespace; objects naming none are in default)',
        )
        .option(
          '--allow-empty',
          'export even if some workloads have no allowed edge and no entry point (their traffic is cut)',
        ),
      ['yaml', 'json'],
    ),
  ).action(
    async (
      target: 'networkpolicy' | 'istio',
      opts: CommonOptions & {
        output: string;
        outputDir?: string;
        includeObserved?: boolean;
        namespace?: string;
        allowEmpty?: boolean;
        from?: 'rules' | 'edges';
        strict?: boolean;
      },
    ) => {
      await engine();
      const { graph, stats, wardFiles } = await load(opts.filename, opts);
      // Every document skipped and reference left unresolved, before anything is written.
      for (const line of G.diagnosticLines(stats.diagnostics)) process.stderr.write(`${line}\n`);
      const options = {
        includeObserved: opts.includeObserved === true,
        trustDomain: opts.trustDomain ?? 'cluster.local',
        namespace: opts.namespace ?? 'default',
        allowEmpty: opts.allowEmpty === true,
      };
      const policy =
        opts.from === 'edges' ? undefined : await inputPolicy(wardFiles, options.trustDomain);
      if (opts.from === 'rules' && !policy)
        throw new CliError(
          'CLI_USAGE',
          '--from rules: the inputs hold no Intention documents (pass the policy directory with -f)',
          2,
        );
      const result: ExportResult & { unexpressed?: Unexpressed[] } = exportCall(() =>
        policy
          ? target === 'istio'
            ? G.toIstioPoliciesFromRules(graph, policy, options)
            : G.toNetworkPoliciesFromRules(graph, policy, options)
          : target === 'istio'
            ? G.toIstioPolicies(graph, options)
            : G.toNetworkPolicies(graph, options),
      );
      if (opts.namespace !== undefined)
        result.manifests = result.manifests.filter(
          (m) => (m.metadata as { namespace?: string }).namespace === opts.namespace,
        );
      const byNamespace = new Map<string, Record<string, unknown>[]>();
      for (const m of result.manifests) {
        const ns = (m.metadata as { namespace: string }).namespace;
        byNamespace.set(ns, [...(byNamespace.get(ns) ?? []), m]);
      }
      const print = (manifests: Record<string, unknown>[], report = false): string =>
        opts.output === 'json'
          ? `${JSON.stringify(
              {
                apiVersion: 'v1',
                kind: 'List',
                items: manifests,
                // What the rules say that the manifests do not (kubectl reads only `items`).
                ...(report && result.unexpressed ? { unexpressed: result.unexpressed } : {}),
              },
              null,
              2,
            )}\n`
          : manifests.map((m) => stringify(m)).join('---\n');
      if (opts.outputDir === undefined) process.stdout.write(print(result.manifests, true));
      else {
        await mkdir(opts.outputDir, { recursive: true });
        for (const [ns, manifests] of byNamespace) {
          // A namespace is a DNS label, never a path: refuse anything else before joining.
          if (!isNamespace(ns))
            throw new CliError('CLI_USAGE', `not a namespace: ${JSON.stringify(ns)}`, 2);
          const file = join(opts.outputDir, `${ns}.${target}.${opts.output}`);
          await writeFile(file, print(manifests));
        }
      }
      process.stderr.write(
        `wrote ${result.manifests.length} manifest(s) for ${byNamespace.size} namespace(s) to ${opts.outputDir ?? 'stdout'}\n`,
      );
      for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
      for (const s of result.skipped.slice(0, 20))
        process.stderr.write(`  skipped ${s.item}: ${s.reason}\n`);
      if (result.skipped.length > 20)
        process.stderr.write(`  … and ${result.skipped.length - 20} more skipped\n`);
      // Every rule part the target cannot carry, and what the export did instead: the whole list.
      for (const u of result.unexpressed ?? [])
        process.stderr.write(`${sanitizeOutput(G.unexpressedLine(u))}\n`);
      if (opts.strict && (result.unexpressed?.length ?? 0) > 0) {
        process.stderr.write(
          `failed (--strict): ${result.unexpressed!.length} rule part(s) could not be expressed\n`,
        );
        process.exitCode = 1;
      }
    },
  );
}

/** `-n NS` on `analyze`: inputs naming no namespace are in NS (kubectl's `-n`), and it filters. */
const NAMESPACE_FILTER = [
  '-n, --namespace <ns>',
  'only this namespace: its services, the edges into and out of them and the services at their other end; objects in the inputs that name no namespace are in it (as kubectl -n). Default: every namespace, objects naming none in default',
] as const;

/** Refuses a namespace that is not a DNS label, as kubectl does (exit 2). */
function checkNamespace(ns: string | undefined): void {
  if (ns !== undefined && !isNamespace(ns))
    throw new CliError(
      'CLI_USAGE',
      `--namespace ${JSON.stringify(ns)}: a namespace is a DNS label (lower-case letters, digits and inner hyphens, at most 63)`,
      2,
    );
}

/** The namespace's part of the graph, or the whole graph when no namespace is given. */
function inNamespace(graph: DependencyGraph, ns: string | undefined): DependencyGraph {
  checkNamespace(ns);
  return ns === undefined ? graph : G.namespaceSubgraph(graph, ns);
}

function common(cmd: Command): Command {
  return addFileOption(cmd, INPUT_HELP)
    .option('--rules <file>', 'layering rules (YAML)')
    .option(
      '--trust-domain <domain>',
      'SPIFFE trust domain for derived identities',
      'cluster.local',
    )
    .option('--max-cycles <n>', 'most cycles to list', '100')
    .option('--no-progress', 'never draw a progress bar');
}

/** The edge(s) that closed a new cycle — those the baseline did not have — with where each is. */
function closedBy(c: CheckResult['newCycles'][number]): string {
  if (c.newEdges.length === 0) return `${c.edge.from} → ${c.edge.to}`;
  return c.newEdges
    .map((e) => {
      const at = e.sources.find((s) => s.line !== undefined) ?? e.sources[0];
      const where = at ? ` at ${at.file}${at.line !== undefined ? `:${at.line}` : ''}` : '';
      return `${e.from} → ${e.to}${where}`;
    })
    .join(', ');
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
    case 'yaml':
      return stringify(JSON.parse(G.toJsonReport(graph, report, stats)));
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

/** An export the engine refused because it would cut unexplained traffic: a finding, exit 1. */
function exportCall<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof G.GraphError && error.code === 'GRAPH_EXPORT_UNEXPLAINED')
      throw new CliError(error.code, error.message, 1);
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

/** The first bytes of a file, for type detection. */
const HEAD_BYTES = 64 * 1024;

/** A file to stream, or stdin (whose type, unless forced, is told from its first bytes). */
type PlannedInput =
  | { stdin: false; path: string; type: InputType; size: number }
  | { stdin: true; path: typeof STDIN; type: InputType | undefined; size: 0 };

/**
 * Which files to read and as what: `-f` values with an optional TYPE: prefix; directories are
 * walked (the CLI's one walker) and a walked file whose type cannot be told is skipped with a
 * note, while a file named directly must be readable as some input.
 */
async function plan(filenames: string[]): Promise<PlannedInput[]> {
  const out: PlannedInput[] = [];
  let stdin = 0;
  for (const arg of filenames) {
    const { type, path } = G.parseInputArg(arg);
    if (path === STDIN) {
      if (++stdin > 1) throw new CliError('CLI_USAGE', '-f -: stdin can be read only once', 2);
      out.push({ stdin: true, path: STDIN, type, size: 0 });
      continue;
    }
    let isDir: boolean;
    try {
      isDir = (await stat(path)).isDirectory();
    } catch (error) {
      throw ioError(path, error);
    }
    for (const file of isDir ? collectFiles([path], GRAPH_FILES) : [path]) {
      const { size, head } = await peek(file);
      if (type) out.push({ stdin: false, path: file, type, size });
      else if (!isDir)
        out.push({
          stdin: false,
          path: file,
          type: graphCall(() => G.detectInputType(file, head)),
          size,
        });
      else {
        try {
          out.push({ stdin: false, path: file, type: G.detectInputType(file, head), size });
        } catch (error) {
          if (!(error instanceof G.GraphError)) throw error;
          process.stderr.write(
            `ward: skipped ${file}: not a graph input (name it with -f TYPE:${file} to force a type)\n`,
          );
        }
      }
    }
  }
  return out;
}

async function peek(path: string): Promise<{ size: number; head: Uint8Array }> {
  try {
    const info = await stat(path);
    if (info.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    const fh = await open(path, 'r');
    try {
      const head = new Uint8Array(Math.min(info.size, HEAD_BYTES));
      await fh.read(head, 0, head.length, 0);
      return { size: info.size, head };
    } finally {
      await fh.close();
    }
  } catch (error) {
    throw ioError(path, error);
  }
}

/** Streams stdin into the ingest, detecting its type from the first bytes unless given. */
async function ingestStdin(ingest: GraphIngest, type: InputType | undefined): Promise<void> {
  const chunks = process.stdin[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let size = 0;
  let done = false;
  while (size < HEAD_BYTES) {
    const next = await chunks.next();
    if (next.done) {
      done = true;
      break;
    }
    const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(String(next.value));
    head.push(chunk);
    size += chunk.length;
  }
  const first = Buffer.concat(head);
  const sink = ingest.open(type ?? graphCall(() => G.detectInputType('<stdin>', first)), '<stdin>');
  try {
    sink.write(first);
    while (!done) {
      const next = await chunks.next();
      if (next.done) break;
      sink.write(Buffer.isBuffer(next.value) ? next.value : Buffer.from(String(next.value)));
    }
    sink.end();
  } catch (error) {
    throw asCliError(error);
  }
}

/** Streams every input into one ingest, detecting types from prefixes, names or content. */
/**
 * The graph of `ward graph` inputs (files, directories, `TYPE:PATH`), read exactly as
 * `ward graph analyze -f …` reads them: for other commands that need the graph (`ward vulns`).
 */
export async function loadGraph(
  filenames: string[],
  options: { trustDomain?: string } = {},
): Promise<DependencyGraph> {
  await engine();
  const opts: CommonOptions = { filename: filenames, progress: false };
  if (options.trustDomain !== undefined) opts.trustDomain = options.trustDomain;
  return (await load(filenames, opts)).graph;
}

async function load(
  filenames: string[],
  opts: CommonOptions,
): Promise<{ graph: DependencyGraph; stats: IngestStats; wardFiles: string[] }> {
  const defaultNamespace = (opts as { namespace?: string }).namespace;
  checkNamespace(defaultNamespace);
  const ingest = new G.GraphIngest({ trustDomain: opts.trustDomain, defaultNamespace });
  const inputs = await plan(filenames);
  const total = inputs.reduce((n, p) => n + p.size, 0);
  const bar =
    opts.progress && process.stderr.isTTY && total >= PROGRESS_MIN_BYTES
      ? new ProgressBar(total)
      : undefined;
  try {
    for (const input of inputs) {
      if (input.stdin) {
        await ingestStdin(ingest, input.type);
        continue;
      }
      const { path, type } = input;
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
  const wardFiles = inputs.flatMap((p) => (!p.stdin && p.type === 'ward' ? [p.path] : []));
  return { ...graphCall(() => ingest.finish()), wardFiles };
}

/**
 * The compiled policy of the Ward documents among the inputs, or undefined when they hold no
 * Intention (then the export is the graph's edges, as before issue 14).
 */
async function inputPolicy(files: string[], trustDomain: string): Promise<PolicySet | undefined> {
  const P = await import('@ward/policy');
  const documents: SourcedDocument[] = [];
  for (const file of files)
    documents.push(...P.parseDocuments(await readText(file), file).documents);
  if (!documents.some((d) => d.document.kind === 'Intention')) return undefined;
  const { policySet, diagnostics } = P.tryCompile(documents, { trustDomain });
  if (policySet) return policySet;
  const errors = diagnostics.filter((d) => d.severity === 'error');
  for (const d of errors.slice(1))
    process.stderr.write(`${sanitizeOutput(P.formatDiagnostic(d))}\n`);
  throw new CliError(
    'POLICY_COMPILE_FAILED',
    `policy does not compile: ${P.formatDiagnostic(errors[0]!)}`,
    2,
  );
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
