/**
 * One entry point for every reader: open an input by type, push its bytes or text in chunks as
 * they arrive (from a file stream in the CLI, from request bodies in the control plane), end it,
 * and build the graph once all inputs are in.
 *
 * Line-delimited inputs (OTLP/JSON file-exporter output, decision logs) are parsed line by line
 * and never held whole. Document inputs (YAML, Jaeger and Zipkin JSON, a single pretty-printed
 * OTLP/JSON request, protobuf) are parsed when they end, up to `maxDocumentBytes`.
 */
import { GraphError } from '../errors.ts';
import {
  type DependencyGraph,
  GraphBuilder,
  type GraphDiagnostic,
  type InputType,
  type SourceRef,
} from '../model.ts';
import {
  TraceAccumulator,
  type TraceAccumulatorOptions,
  type TraceStats,
} from '../trace-accumulator.ts';
import { readBackstage } from './backstage.ts';
import { readCompose } from './compose.ts';
import { readDecisionBatch, readDecisionRecord } from './decision-log.ts';
import { parseGraphJson } from './graph-json.ts';
import { readJaeger, readJaegerDependencies } from './jaeger.ts';
import { KubernetesSet } from './kubernetes.ts';
import { LineSplitter } from './lines.ts';
import { readOtlpJson } from './otlp-json.ts';
import { readOtlpProtobuf } from './otlp-proto.ts';
import { readWardServices } from './ward.ts';
import { readZipkin } from './zipkin.ts';

export interface IngestOptions extends TraceAccumulatorOptions {
  /** Trust domain of SPIFFE IDs derived from Kubernetes service accounts. */
  trustDomain?: string;
  /** Namespace of Kubernetes objects whose metadata names none. Default `default`. */
  defaultNamespace?: string;
  /** Largest whole-document input (bytes). Default 512 MiB. */
  maxDocumentBytes?: number;
}

/** A streaming input: push chunks as they come, then end it. */
export interface InputSink {
  write(chunk: Uint8Array | string): void;
  end(): void;
}

export interface InputSummary {
  file: string;
  type: InputType;
  bytes: number;
  /** Lines read (line-delimited inputs only). */
  lines?: number;
}

export interface IngestStats extends TraceStats {
  inputs: InputSummary[];
  /** Documents skipped or used for something other than a node, references left unresolved. */
  diagnostics: GraphDiagnostic[];
}

export class GraphIngest {
  readonly builder = new GraphBuilder();
  readonly traces: TraceAccumulator;
  readonly inputs: InputSummary[] = [];
  private readonly options: IngestOptions;
  /** Kubernetes files are resolved together at `finish`: Services and workloads may be apart. */
  private kubernetes: KubernetesSet | undefined;

  constructor(options: IngestOptions = {}) {
    this.options = options;
    this.traces = new TraceAccumulator(this.builder, options);
  }

  /** Opens an input; push its content with `write` and finish with `end`. */
  open(type: InputType, file: string): InputSink {
    const summary: InputSummary = { file, type, bytes: 0 };
    this.inputs.push(summary);
    const source: SourceRef = { type, file };
    if (type === 'otlp-json' || type === 'decision-log')
      return this.lineSink(type, source, summary);
    return this.documentSink(type, source, summary);
  }

  /** Reads a whole input given at once (small files, request bodies). */
  add(type: InputType, file: string, content: Uint8Array | string): void {
    const sink = this.open(type, file);
    sink.write(content);
    sink.end();
  }

  /** Adds one parsed OTLP/JSON request body (the control plane's `POST /v1/traces`). */
  addOtlpRequest(request: unknown, file = 'POST /v1/traces'): void {
    readOtlpJson(request, this.traces, { type: 'otlp-json', file });
  }

  /** Adds one binary OTLP request body. */
  addOtlpProtobuf(body: Uint8Array, file = 'POST /v1/traces'): void {
    readOtlpProtobuf(body, this.traces, { type: 'otlp-proto', file });
  }

  /** Adds one parsed `DecisionLogBatchV1` body. */
  addDecisionLogBatch(batch: unknown, file = 'POST /v1/decision-logs'): void {
    readDecisionBatch(batch, this.builder, this.traces, { type: 'decision-log', file });
  }

  /** Finalizes open traces and returns the graph and what ingest did. */
  finish(): { graph: DependencyGraph; stats: IngestStats } {
    this.traces.flush();
    this.kubernetes?.resolve();
    this.kubernetes = undefined;
    return {
      graph: this.builder.build(),
      stats: {
        ...this.traces.stats,
        inputs: this.inputs,
        diagnostics: [...this.builder.diagnostics],
      },
    };
  }

  private lineSink(
    type: 'otlp-json' | 'decision-log',
    source: SourceRef,
    summary: InputSummary,
  ): InputSink {
    // A pretty-printed single OTLP request does not parse line by line: when the first line is
    // not a complete JSON value, switch to reading the whole document.
    let whole: InputSink | undefined;
    let badLine: { line: number; message: string } | undefined;
    let firstLine = true;
    const splitter = new LineSplitter((line, lineNo) => {
      if (whole) {
        whole.write(`${line}\n`);
        return;
      }
      if (badLine) this.failLine(source, badLine); // a bad line followed by more lines: not truncation
      if (line.trim() === '') return;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (e) {
        if (firstLine && type === 'otlp-json') {
          whole = this.documentSink(type, source, { ...summary });
          whole.write(`${line}\n`);
          return;
        }
        badLine = { line: lineNo, message: (e as Error).message };
        return;
      }
      firstLine = false;
      if (type === 'otlp-json') readOtlpJson(value, this.traces, source, lineNo);
      else if (Array.isArray(value)) {
        for (const [i, v] of value.entries()) {
          readDecisionRecord(
            v,
            this.builder,
            this.traces,
            source,
            `${source.file}:${lineNo}[${i}]`,
          );
        }
      } else if (value && typeof value === 'object' && 'records' in value) {
        readDecisionBatch(value, this.builder, this.traces, source);
      } else
        readDecisionRecord(value, this.builder, this.traces, source, `${source.file}:${lineNo}`);
    });
    return {
      write: (chunk) => {
        summary.bytes += chunk.length;
        splitter.push(chunk);
      },
      end: () => {
        splitter.end();
        summary.lines = splitter.lines;
        if (whole) whole.end();
        else if (badLine) {
          // Only the last line is bad: a writer cut off mid-line. Count it, keep the rest.
          this.traces.skip(
            'line.truncated',
            `${source.file}:${badLine.line}: last line is not complete JSON (${badLine.message})`,
          );
        }
      },
    };
  }

  private failLine(source: SourceRef, bad: { line: number; message: string }): never {
    throw new GraphError('GRAPH_INPUT_MALFORMED', `line is not valid JSON: ${bad.message}`, {
      file: source.file,
      line: bad.line,
      expected:
        source.type === 'otlp-json'
          ? 'one OTLP/JSON ExportTraceServiceRequest per line'
          : 'one JSON decision-log record per line',
    });
  }

  private documentSink(type: InputType, source: SourceRef, summary: InputSummary): InputSink {
    const max = this.options.maxDocumentBytes ?? 512 * 1024 * 1024;
    const chunks: (Uint8Array | string)[] = [];
    let size = 0;
    return {
      write: (chunk) => {
        size += chunk.length;
        summary.bytes += chunk.length;
        if (size > max) {
          throw new GraphError('GRAPH_INPUT_TOO_LARGE', `input is larger than ${max} bytes`, {
            file: source.file,
            expected:
              type === 'otlp-json'
                ? 'one OTLP/JSON request per line for large inputs (the collector file exporter format)'
                : `a ${type} document under the size limit`,
          });
        }
        chunks.push(chunk);
      },
      end: () => {
        if (type === 'otlp-proto') {
          const bytes = concat(
            chunks.map((c) => (typeof c === 'string' ? new TextEncoder().encode(c) : c)),
          );
          readOtlpProtobuf(bytes, this.traces, source);
          return;
        }
        const decoder = new TextDecoder('utf-8');
        const text =
          chunks
            .map((c) => (typeof c === 'string' ? c : decoder.decode(c, { stream: true })))
            .join('') + decoder.decode();
        chunks.length = 0;
        this.readDocument(type, source, text);
      },
    };
  }

  private readDocument(type: InputType, source: SourceRef, text: string): void {
    const file = source.file;
    switch (type) {
      case 'kubernetes':
        this.kubernetes ??= new KubernetesSet(this.builder, {
          trustDomain: this.options.trustDomain,
          defaultNamespace: this.options.defaultNamespace,
        });
        this.kubernetes.add(text, file);
        return;
      case 'compose':
        readCompose(text, file, this.builder);
        return;
      case 'backstage':
        readBackstage(text, file, this.builder);
        return;
      case 'ward':
        readWardServices(text, file, this.builder, {
          trustDomain: this.options.trustDomain,
        });
        return;
      default:
        break;
    }
    const value = parseJson(text, file, type);
    switch (type) {
      case 'otlp-json':
        readOtlpJson(value, this.traces, source);
        return;
      case 'decision-log':
        if (!Array.isArray(value)) readDecisionBatch(value, this.builder, this.traces, source);
        else {
          for (const [i, v] of value.entries()) {
            readDecisionRecord(v, this.builder, this.traces, source, `${file}[${i}]`);
          }
        }
        return;
      case 'jaeger':
        readJaeger(value, this.traces, source);
        return;
      case 'jaeger-deps':
        readJaegerDependencies(value, this.builder, this.traces, source);
        return;
      case 'zipkin':
        readZipkin(value, this.traces, source);
        return;
      case 'graph-json':
        this.mergeGraph(parseGraphJson(value, file), source);
        return;
      default:
        throw new TypeError(`unknown input type ${type as string}`);
    }
  }

  private mergeGraph(graph: DependencyGraph, source: SourceRef): void {
    for (const s of graph.services) {
      const { name, sources: _sources, ...patch } = s;
      this.builder.service(name, patch, source.file);
    }
    for (const e of graph.edges) {
      if (e.provenance !== 'observed') {
        const decl = e.sources.find((s) => s.line !== undefined) ?? source;
        this.builder.declare(e.from, e.to, e.kind, decl, {
          ...(e.condition ? { condition: e.condition } : {}),
          ...(e.podPorts ? { podPorts: e.podPorts } : {}),
        });
      }
      if (e.provenance !== 'declared') {
        // Ports carry over: a wire-observed edge's ports are what a NetworkPolicy export needs.
        this.builder.observeAggregate(
          e.from,
          e.to,
          source,
          e.metrics ?? { calls: 0, errors: 0, denied: 0 },
          e.ports,
        );
      }
    }
  }
}

function parseJson(text: string, file: string, type: InputType): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const m = /position (\d+)/.exec((e as Error).message);
    const line = m ? text.slice(0, Number(m[1])).split('\n').length : undefined;
    throw new GraphError('GRAPH_INPUT_MALFORMED', `not valid JSON: ${(e as Error).message}`, {
      file,
      line,
      expected: `a ${type} JSON document`,
    });
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
