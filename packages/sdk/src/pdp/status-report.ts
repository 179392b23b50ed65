/**
 * The PDP's status heartbeat: every `statusIntervalMs`, `POST /v1/status/pdp` to the control
 * plane it watches (else the first one), with the credentials it already uses, so the control
 * plane's fleet view (`ward status`, the console) knows its revision and last contact. It runs
 * beside decisions, never in their way: one request at a time, a timeout, and failures only
 * logged at debug (a control plane without the fleet plugin answers 404, which is fine).
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import type { PdpStatusReportV1 } from '@ward/api-types';
import { undici } from '../undici.ts';
import type { ControlPlaneRequestOptions } from './control-plane.ts';
import type { PdpLogger } from './options.ts';

function sdkVersion(): string {
  try {
    // src/pdp and dist/pdp are both two levels under the package root.
    return String(createRequire(import.meta.url)('../../package.json').version);
  } catch {
    return 'unknown';
  }
}

/** A random id per PDP: two PDPs of one service in one process are two instances. */
export function newInstanceId(): string {
  return randomBytes(9).toString('base64url');
}

export interface StatusReporterOptions {
  intervalMs: number;
  service: string;
  /** The control plane to report to now (the one watched, else the first). */
  target: () => string;
  /** The PDP's state now, or undefined before its first bundle (nothing is sent then). */
  snapshot: () =>
    | Pick<PdpStatusReportV1, 'revision' | 'bundleAt' | 'connected' | 'decisions'>
    | undefined;
  request: (signal: AbortSignal) => ControlPlaneRequestOptions;
  /** Resolves once a first bundle is loaded: the first report follows it. */
  ready: Promise<void>;
  signal: AbortSignal;
  logger: PdpLogger;
}

/** Starts reporting; stops when `signal` aborts. Returns the instance id. */
export function startStatusReporter(options: StatusReporterOptions): string {
  const instance = newInstanceId();
  const startedAt = new Date().toISOString();
  const version = sdkVersion();
  const label = `${hostname()}/${process.pid}`.slice(0, 128);
  let timer: NodeJS.Timeout | undefined;
  const send = async () => {
    const state = options.snapshot();
    if (state === undefined || options.signal.aborted) return;
    const body: PdpStatusReportV1 = {
      instance,
      service: options.service,
      ...state,
      version,
      startedAt,
      label,
      intervalMs: options.intervalMs,
    };
    const url = `${options.target()}/v1/status/pdp`;
    const req = options.request(options.signal);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (req.token) headers.authorization = `Bearer ${req.token}`;
    try {
      const res = await undici().request(url, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        dispatcher: req.dispatcher,
        signal: AbortSignal.any([options.signal, AbortSignal.timeout(req.requestTimeoutMs)]),
        headersTimeout: req.requestTimeoutMs,
        bodyTimeout: req.requestTimeoutMs,
      });
      await res.body.dump();
      if (res.statusCode >= 300) {
        options.logger.debug?.(
          { service: options.service, url, status: res.statusCode },
          'status report refused',
        );
      }
    } catch (error) {
      options.logger.debug?.(
        { service: options.service, url, error: (error as Error).message },
        'status report failed',
      );
    }
  };
  const loop = async () => {
    await send();
    if (options.signal.aborted) return;
    // ±10% jitter: a fleet restarted at once does not report in lockstep.
    const next = options.intervalMs * (0.9 + Math.random() * 0.2);
    timer = setTimeout(() => void loop(), next);
    timer.unref();
  };
  options.ready.then(
    () => {
      if (!options.signal.aborted) void loop();
    },
    () => {},
  );
  options.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  return instance;
}
