/**
 * CPU profile of ANOTHER process (the `ward server` a benchmark spawned with
 * `--inspect=127.0.0.1:0`) over a chosen window only, through its inspector WebSocket: set-up
 * (attestations, connects) stays out of the figures, the measured change is all that is in.
 * Bench-only: the inspector listens on loopback for the bench's own child.
 */
import { writeFileSync } from 'node:fs';
import { type ProfileSummary, summarize } from './_profile.ts';

/** The inspector URL a `node --inspect` child prints on stderr, or undefined. */
export function inspectorUrlOf(line: string): string | undefined {
  return /Debugger listening on (ws:\/\/\S+)/.exec(line)?.[1];
}

export class RemoteProfiler {
  readonly #ws: WebSocket;
  #id = 0;
  readonly #pending = new Map<number, (result: Record<string, unknown>) => void>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.addEventListener('message', (e) => {
      const m = JSON.parse(String(e.data)) as { id?: number; result?: Record<string, unknown> };
      if (m.id !== undefined) this.#pending.get(m.id)?.(m.result ?? {});
    });
  }

  static async connect(url: string): Promise<RemoteProfiler> {
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.addEventListener('open', resolve, { once: true });
      ws.addEventListener('error', reject, { once: true });
    });
    const p = new RemoteProfiler(ws);
    await p.#post('Profiler.enable');
    await p.#post('Profiler.setSamplingInterval', { interval: 200 });
    return p;
  }

  #post(method: string, params: object = {}): Promise<Record<string, unknown>> {
    const id = ++this.#id;
    return new Promise((resolve) => {
      this.#pending.set(id, (r) => {
        this.#pending.delete(id);
        resolve(r);
      });
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  start(): Promise<unknown> {
    return this.#post('Profiler.start');
  }

  /** Stops, writes `file` (a `.cpuprofile`) and returns the summary by `parts`. */
  async stop(file: string, parts: readonly string[]): Promise<ProfileSummary> {
    const { profile } = await this.#post('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    return summarize(profile as Parameters<typeof summarize>[0], parts, 15);
  }

  close(): void {
    this.#ws.close();
  }
}
