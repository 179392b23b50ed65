/** Codes of every way the graph engine refuses its input. */
export type GraphErrorCode =
  | 'GRAPH_INPUT_MALFORMED'
  | 'GRAPH_INPUT_UNKNOWN'
  | 'GRAPH_INPUT_TOO_LARGE'
  | 'GRAPH_RULES_INVALID'
  | 'GRAPH_BASELINE_INVALID'
  | 'GRAPH_EXPORT_UNEXPLAINED';

/** Where in an input a problem is. Lines and columns are 1-based. */
export interface GraphErrorLocation {
  file?: string;
  line?: number;
  col?: number;
  /** What the reader expected at that place, e.g. `a JSON object with "resourceSpans"`. */
  expected?: string;
}

/**
 * Bad untrusted input: a file that is not what its type says, a rules file or a baseline that
 * does not validate. The message always names the file and, where known, the line, and says
 * what was expected. A single malformed span is not an error: it is skipped and counted.
 */
export class GraphError extends Error {
  readonly code: GraphErrorCode;
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly col: number | undefined;
  readonly expected: string | undefined;

  constructor(
    code: GraphErrorCode,
    message: string,
    location: GraphErrorLocation = {},
    options?: { cause?: unknown },
  ) {
    super(formatMessage(message, location), options);
    this.name = 'GraphError';
    this.code = code;
    this.file = location.file;
    this.line = location.line;
    this.col = location.col;
    this.expected = location.expected;
  }
}

function formatMessage(message: string, at: GraphErrorLocation): string {
  let where = at.file ?? '';
  if (at.line !== undefined) where += `${where ? ':' : 'line '}${at.line}`;
  if (at.line !== undefined && at.col !== undefined) where += `:${at.col}`;
  const expected = at.expected ? ` (expected ${at.expected})` : '';
  return where ? `${where}: ${message}${expected}` : `${message}${expected}`;
}
