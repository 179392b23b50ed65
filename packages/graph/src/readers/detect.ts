/**
 * Tells an input's type from an explicit `type:path` prefix, its file name, or its first bytes.
 */
import { GraphError } from '../errors.ts';
import type { InputType } from '../model.ts';

/** Names accepted in a `type:path` prefix, with short aliases. */
export const INPUT_TYPE_ALIASES: Readonly<Record<string, InputType>> = {
  otlp: 'otlp-json',
  'otlp-json': 'otlp-json',
  'otlp-proto': 'otlp-proto',
  proto: 'otlp-proto',
  jaeger: 'jaeger',
  'jaeger-deps': 'jaeger-deps',
  zipkin: 'zipkin',
  k8s: 'kubernetes',
  kubernetes: 'kubernetes',
  compose: 'compose',
  backstage: 'backstage',
  ward: 'ward',
  decisions: 'decision-log',
  'decision-log': 'decision-log',
  graph: 'graph-json',
  'graph-json': 'graph-json',
};

/** Splits `type:path`; a prefix that is not a known type (e.g. `C:`) stays part of the path. */
export function parseInputArg(arg: string): { type?: InputType; path: string } {
  const colon = arg.indexOf(':');
  if (colon > 0) {
    const type = INPUT_TYPE_ALIASES[arg.slice(0, colon).toLowerCase()];
    if (type) return { type, path: arg.slice(colon + 1) };
  }
  return { path: arg };
}

/**
 * Detects the type of `file` from its name and `head` (its first few KB). Throws
 * `GRAPH_INPUT_UNKNOWN` telling the user how to force a type.
 */
export function detectInputType(file: string, head: Uint8Array | string): InputType {
  const base = file.split(/[\\/]/).pop()!.toLowerCase();
  if (/\.(pb|binpb|protobuf)$/.test(base)) return 'otlp-proto';
  const text =
    typeof head === 'string' ? head : new TextDecoder('utf-8', { fatal: false }).decode(head);
  if (
    typeof head !== 'string' &&
    head.length > 0 &&
    head[0] === 0x0a &&
    /[\u0000-\u0008\ufffd]/.test(text.slice(0, 512))
  ) {
    return 'otlp-proto';
  }
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    if (/"resource_?[sS]pans"/.test(text)) return 'otlp-json';
    if (/"traceID"/.test(text) && /"processes"|"spans"/.test(text)) return 'jaeger';
    if (/"parent"/.test(text) && /"child"/.test(text)) return 'jaeger-deps';
    if (/"traceId"/.test(text) && /"localEndpoint"|"parentId"|"id"/.test(text)) return 'zipkin';
    if (/"destination"/.test(text) && /"effect"/.test(text)) return 'decision-log';
    if (/"services"/.test(text) && /"edges"/.test(text)) return 'graph-json';
  } else {
    if (/^apiVersion:\s*["']?backstage\.io\//m.test(text) || base === 'catalog-info.yaml')
      return 'backstage';
    if (/^apiVersion:\s*["']?ward\.dev\//m.test(text)) return 'ward';
    if (/^apiVersion:/m.test(text) && /^kind:\s*["']?\w+/m.test(text)) return 'kubernetes';
    if (/^services:\s*(#.*)?$/m.test(text) || /^(docker-)?compose(\.[\w-]+)?\.ya?ml$/.test(base))
      return 'compose';
  }
  throw new GraphError('GRAPH_INPUT_UNKNOWN', 'cannot tell what kind of input this is', {
    file,
    expected: `a known format, or a type prefix: ${Object.keys(INPUT_TYPE_ALIASES).join(', ')} (e.g. k8s:${file})`,
  });
}
