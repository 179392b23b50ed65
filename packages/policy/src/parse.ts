import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseAllDocuments } from 'yaml';
import { sortDiagnostics } from './errors.ts';
import { diag, type PositionMap, pointerToken } from './position.ts';
import type {
  Diagnostic,
  PolicyDocument,
  PolicyTestDocument,
  ScalarSource,
  SourcedDocument,
  SourcedPolicyTest,
} from './types.ts';
import { validateSchema } from './validate.ts';

/** What `parseDocuments` found in one file. */
export interface ParseResult {
  /** Schema-valid `Service` and `Intention` documents, in file order. */
  documents: SourcedDocument[];
  /** Schema-valid `PolicyTest` documents. */
  tests: SourcedPolicyTest[];
  /** Every syntax and schema error, sorted by position. */
  diagnostics: Diagnostic[];
}

/** Inputs larger than this are refused outright: policy files are small, and YAML is costly. */
const MAX_BYTES = 8 * 1024 * 1024;

/**
 * Parses a YAML (multi-document) or JSON file into Ward documents. JSON goes through the same YAML
 * 1.2 parser (JSON is a subset), so both get line and column positions. Never throws on bad input:
 * every problem becomes a diagnostic with file, line, column and field path.
 *
 * @example
 * ```ts
 * const { documents, diagnostics } = parseDocuments(text, 'policies/orders.yaml');
 * for (const d of diagnostics) console.error(formatDiagnostic(d));
 * ```
 */
export function parseDocuments(text: string, file: string): ParseResult {
  if (typeof text !== 'string') throw new TypeError('parseDocuments: text must be a string');
  const result: ParseResult = { documents: [], tests: [], diagnostics: [] };
  if (text.length > MAX_BYTES) {
    result.diagnostics.push(diag(file, 1, 1, 'POLICY_YAML_SYNTAX', '', 'file exceeds 8 MiB'));
    return result;
  }
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, {
    lineCounter,
    prettyErrors: false,
    uniqueKeys: true,
    strict: true,
  });
  const list = Array.isArray(docs) ? docs : [];
  const at = (offset: number) => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, col: p.col };
  };
  let index = 0;
  for (const doc of list) {
    const i = index++;
    let failed = false;
    for (const e of doc.errors) {
      const p = at(e.pos[0]);
      result.diagnostics.push(
        diag(file, p.line, p.col, 'POLICY_YAML_SYNTAX', '', firstLine(e.message)),
      );
      failed = true;
    }
    if (failed) continue;
    if (doc.contents === null) continue; // an empty document (e.g. a trailing `---`)
    let value: unknown;
    try {
      // Alias expansion is where YAML "billion laughs" documents blow up; policy files need few.
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (error) {
      const p = at(doc.contents.range?.[0] ?? 0);
      const message = error instanceof Error ? error.message : String(error);
      result.diagnostics.push(diag(file, p.line, p.col, 'POLICY_YAML_SYNTAX', '', message));
      continue;
    }
    if (value === null || value === undefined) continue; // an empty document between `---`s
    const positions: PositionMap = new Map();
    const scalars = new Map<string, ScalarSource>();
    collectPositions(doc.contents as Node, '', positions, at, 0, { text, scalars });
    const errors = validateSchema(value, file, positions);
    if (errors.length > 0) {
      result.diagnostics.push(...errors);
      continue;
    }
    const kind = (value as { kind: string }).kind;
    if (kind === 'PolicyTest') {
      result.tests.push({ document: value as PolicyTestDocument, file, index: i, positions });
    } else {
      result.documents.push({
        document: value as PolicyDocument,
        file,
        index: i,
        positions,
        ...(scalars.size > 0 ? { scalars } : {}),
      });
    }
  }
  sortDiagnostics(result.diagnostics);
  return result;
}

function firstLine(message: string): string {
  const nl = message.indexOf('\n');
  return nl === -1 ? message : message.slice(0, nl);
}

/**
 * Records where every node starts. For map entries the key's position is recorded under the
 * entry's pointer with `#key` appended, so "unknown property" errors can point at the key itself.
 */
function collectPositions(
  node: unknown,
  path: string,
  out: PositionMap,
  at: (offset: number) => { line: number; col: number },
  depth: number,
  conditions: { text: string; scalars: Map<string, ScalarSource> },
): void {
  if (depth > 200 || node === null || typeof node !== 'object') return;
  const range = (node as { range?: [number, number, number] }).range;
  if (range && !out.has(path)) out.set(path, at(range[0]));
  // A condition's own text, so a diagnostic can point inside it (position.ts, `scalarPosition`).
  if (range && path.endsWith('/when') && isScalar(node) && typeof node.value === 'string') {
    conditions.scalars.set(path, {
      raw: conditions.text.slice(range[0], range[1]),
      ...at(range[0]),
    });
  }
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const child = `${path}/${pointerToken(key)}`;
      const keyRange = (pair.key as { range?: [number, number, number] } | null)?.range;
      if (keyRange) {
        out.set(`${child}#key`, at(keyRange[0]));
        // A key with an empty value (`when:`) has no value node; point at the key.
        if (pair.value === null || pair.value === undefined) out.set(child, at(keyRange[0]));
      }
      collectPositions(pair.value, child, out, at, depth + 1, conditions);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      collectPositions(item, `${path}/${i}`, out, at, depth + 1, conditions);
    });
  }
}
