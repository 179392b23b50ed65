/**
 * `ward logs`: recent denials and dry-run denials (`GET /v1/decision-logs/denials`), and with
 * `-f` the live tail (`GET /v1/decisions/stream`), reconnecting with backoff when the stream
 * ends or the server cannot be reached. `-o json` prints one object per line (a stream a pipe
 * can read as it comes). Every line goes through the CLI's output filter (output.ts), so a
 * source name or path holding terminal controls prints escaped.
 */
import {
  type DecisionLogDenialsV1,
  type DecisionLogDenialV1,
  type LiveLineV1,
  liveLineOfDenial,
} from '@ward/api-types';
import type { Command } from 'commander';
import { CliError } from '../errors.ts';
import { addOutputOption, usageError } from '../options.ts';
import { sanitizeOutput } from '../output.ts';
import { type ConnectionOptions, call, connection, withConnection } from './_api.ts';

interface LogsOptions extends ConnectionOptions {
  output: 'text' | 'json';
  follow?: boolean;
  service?: string;
  kind?: 'deny' | 'dry-run-deny';
  since: string;
  limit: string;
}

export function formatLine(l: LiveLineV1, format: string): string {
  if (format === 'json') return `${JSON.stringify(l)}\n`;
  const kind = l.dryRun ? 'DRY-RUN' : 'DENY   ';
  const call = [l.method, l.path].filter(Boolean).join(' ');
  const n = l.count !== undefined && l.count > 1 ? ` x${l.count}` : '';
  return sanitizeOutput(
    `${l.at}  ${kind}  ${l.source} -> ${l.destination}  ${call}  ${l.rule}${n}\n`,
  );
}

async function recent(opts: LogsOptions, limit: number): Promise<LiveLineV1[]> {
  const q = (extra: string) =>
    `/v1/decision-logs/denials?since=${encodeURIComponent(opts.since)}&limit=${limit}${extra}`;
  const s = opts.service === undefined ? undefined : encodeURIComponent(opts.service);
  // --service means either end of the call: the route filters one end at a time.
  const pages = await Promise.all(
    s === undefined
      ? [call<DecisionLogDenialsV1>(opts, 'GET', q(''))]
      : [
          call<DecisionLogDenialsV1>(opts, 'GET', q(`&destination=${s}`)),
          call<DecisionLogDenialsV1>(opts, 'GET', q(`&source=${s}`)),
        ],
  );
  const seen = new Set<string>();
  const items: DecisionLogDenialV1[] = [];
  for (const d of pages.flat().flatMap((p) => p.items)) {
    const key = JSON.stringify(d);
    if (seen.has(key)) continue;
    seen.add(key);
    items.push(d);
  }
  return items
    .map(liveLineOfDenial)
    .filter((l) => opts.kind === undefined || (opts.kind === 'dry-run-deny') === l.dryRun)
    .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0))
    .slice(-limit);
}

/** Longest line and largest event data taken from the stream (a decision event is a few KiB). */
export const MAX_EVENT = 1 << 20;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Follows the tail until interrupted; returns only on a refusal that retrying cannot fix. */
async function follow(opts: LogsOptions): Promise<void> {
  const { server, token } = connection(opts);
  const params = new URLSearchParams();
  if (opts.service !== undefined) params.set('service', opts.service);
  if (opts.kind !== undefined) params.set('kind', opts.kind);
  const url = `${server}/v1/decisions/stream${params.size ? `?${params}` : ''}`;
  let backoff = 500;
  for (;;) {
    let waitMs = backoff;
    try {
      const res = await fetch(url, {
        headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
      });
      if (res.status === 429) {
        const after = Number(res.headers.get('retry-after'));
        if (Number.isFinite(after) && after > 0) waitMs = Math.min(after * 1000, 60_000);
        await res.body?.cancel();
        process.stderr.write(`ward logs: the server holds as many tails as it may; retrying\n`);
      } else if (!res.ok) {
        let message = `HTTP ${res.status}`;
        try {
          const p = (await res.json()) as { code?: string; detail?: string };
          message = `${p.code ?? ''} ${p.detail ?? ''}`.trim() || message;
        } catch {
          // not a problem body
        }
        // 5xx may pass (a replica restarting); 4xx will not.
        if (res.status < 500) throw new CliError('CLI_API_ERROR', message);
        process.stderr.write(`ward logs: ${message}; reconnecting\n`);
      } else if (res.body) {
        backoff = 500;
        // The SDK's bounded parser, loaded here: other commands should not pay for the SDK.
        const { SseParser } = await import('@ward/sdk');
        const parser = new SseParser({ maxLineLength: MAX_EVENT, maxEventSize: MAX_EVENT });
        for await (const chunk of res.body) {
          for (const e of parser.feedBytes(chunk)) {
            if (e.event === 'decision') {
              process.stdout.write(formatLine(JSON.parse(e.data) as LiveLineV1, opts.output));
            } else if (e.event === 'dropped') {
              const n = (JSON.parse(e.data) as { dropped?: number }).dropped ?? 0;
              process.stderr.write(`ward logs: ${n} events not shown (rate limit)\n`);
            }
          }
        }
        process.stderr.write('ward logs: stream ended; reconnecting\n');
      }
    } catch (error) {
      if (error instanceof CliError) throw error;
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      process.stderr.write(`ward logs: ${cause ?? (error as Error).message}; reconnecting\n`);
    }
    await sleep(waitMs);
    backoff = Math.min(backoff * 2, 30_000);
  }
}

export function register(program: Command): void {
  withConnection(
    addOutputOption(
      program
        .command('logs')
        .description('recent denials and dry-run denials; -f follows them live')
        .option('-f, --follow', 'keep printing denials as they arrive (reconnects with backoff)')
        .option('--service <name>', 'only calls from or to this service')
        .option('--kind <kind>', 'deny or dry-run-deny')
        .option('--since <window>', 'how far back the recent denials go (e.g. 15m, 2h)', '15m')
        .option('--limit <n>', 'recent denials shown at most', '50'),
      ['text', 'json'],
    ),
  ).action(async (opts: LogsOptions) => {
    if (opts.kind !== undefined && opts.kind !== 'deny' && opts.kind !== 'dry-run-deny')
      throw usageError(`--kind must be deny or dry-run-deny, got "${opts.kind}"`, 'CLI_BAD_OPTION');
    const limit = Number(opts.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
      throw usageError('--limit must be 1..10000', 'CLI_BAD_OPTION');
    const lines = await recent(opts, limit);
    for (const l of lines) process.stdout.write(formatLine(l, opts.output));
    if (!opts.follow) {
      if (lines.length === 0 && opts.output === 'text')
        process.stderr.write(`no denials in the last ${opts.since}\n`);
      return;
    }
    await follow(opts);
  });
}
