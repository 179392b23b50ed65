/**
 * Multi-document YAML with source lines, shared by the Kubernetes, Compose, Backstage and Ward
 * readers: declared edges carry the line they were declared on (for SARIF and error messages).
 */
import { type Document, LineCounter, parseAllDocuments } from 'yaml';
import { GraphError } from '../errors.ts';

export interface YamlDoc {
  data: unknown;
  /** Index of the document in its file (0-based). */
  index: number;
  /** 1-based line of the value at `path`, or of the document start when the path is absent. */
  lineOf(path: readonly (string | number)[]): number;
}

/** Parses every document of `text`; a syntax error throws `GRAPH_INPUT_MALFORMED` with its line. */
export function parseYamlDocuments(text: string, file: string, expected: string): YamlDoc[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, uniqueKeys: false });
  const list = Array.isArray(docs) ? docs : [docs];
  const out: YamlDoc[] = [];
  list.forEach((doc: Document.Parsed, index) => {
    const error = doc.errors[0];
    if (error) {
      const pos = lineCounter.linePos(error.pos[0]);
      throw new GraphError(
        'GRAPH_INPUT_MALFORMED',
        `invalid YAML: ${error.message.split('\n')[0]}`,
        {
          file,
          line: pos.line,
          col: pos.col,
          expected,
        },
      );
    }
    let data: unknown;
    try {
      // maxAliasCount keeps a "billion laughs" document from expanding without bound.
      data = doc.toJS({ maxAliasCount: 1000 });
    } catch (cause) {
      throw new GraphError(
        'GRAPH_INPUT_MALFORMED',
        `invalid YAML: ${(cause as Error).message}`,
        { file, expected },
        { cause },
      );
    }
    const start = doc.contents?.range?.[0] ?? 0;
    out.push({
      data,
      index,
      lineOf(path) {
        const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
        const offset = node && typeof node === 'object' && node.range ? node.range[0] : start;
        return lineCounter.linePos(offset).line;
      },
    });
  });
  return out;
}
