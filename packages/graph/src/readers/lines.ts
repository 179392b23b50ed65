/**
 * Splits a stream of chunks (bytes or text) into lines without holding more than the current
 * line, so a 1 GB JSON-lines file streams through a bounded buffer. Bytes are decoded as UTF-8
 * across chunk boundaries.
 */
export class LineSplitter {
  private readonly decoder = new TextDecoder('utf-8');
  private rest = '';
  private lineNo = 0;
  private readonly onLine: (line: string, lineNo: number) => void;

  constructor(onLine: (line: string, lineNo: number) => void) {
    this.onLine = onLine;
  }

  /** Lines delivered so far. */
  get lines(): number {
    return this.lineNo;
  }

  push(chunk: Uint8Array | string): void {
    const text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    let start = 0;
    let nl = text.indexOf('\n');
    if (nl < 0) {
      this.rest += text;
      return;
    }
    const first = this.rest + text.slice(0, nl);
    this.rest = '';
    this.emit(first);
    start = nl + 1;
    for (nl = text.indexOf('\n', start); nl >= 0; nl = text.indexOf('\n', start)) {
      this.emit(text.slice(start, nl));
      start = nl + 1;
    }
    this.rest = text.slice(start);
  }

  /** Delivers the last line if the input did not end with a newline. */
  end(): void {
    this.rest += this.decoder.decode();
    if (this.rest.length > 0) this.emit(this.rest);
    this.rest = '';
  }

  private emit(line: string): void {
    this.lineNo++;
    this.onLine(line.endsWith('\r') ? line.slice(0, -1) : line, this.lineNo);
  }
}
