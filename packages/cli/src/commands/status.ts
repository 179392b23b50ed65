/**
 * `ward status`: every PDP and node agent the control plane has heard from, like `istioctl
 * proxy-status`: its revision against the one its service should be at, its state and when it
 * last reported. A member STALE or LOST is a finding (exit 1).
 */
import type { FleetAnswerV1, FleetMemberV1 } from '@ward/api-types';
import type { Command } from 'commander';
import { addOutputOption, printResult, usageError } from '../options.ts';
import { type ConnectionOptions, call, table, withConnection } from './_api.ts';

/** `12s ago`, `4m ago`, `2h ago`, `3d ago`. */
export function ago(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.floor(s / 60)}m ago`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

export function fleetTable(items: readonly FleetMemberV1[]): string {
  const rows = [['NAME', 'KIND', 'SERVICE/NODE', 'REVISION', 'DESIRED', 'STATE', 'LAST CONTACT']];
  for (const i of items) {
    rows.push([
      i.label ? `${i.instance} (${i.label})` : i.instance,
      i.kind,
      (i.kind === 'pdp' ? i.service : i.node) ?? '',
      String(i.revision),
      i.desiredRevision === null ? '-' : String(i.desiredRevision),
      i.state,
      ago(i.ageMs),
    ]);
  }
  return table(rows);
}

export function register(program: Command): void {
  withConnection(
    addOutputOption(
      program
        .command('status')
        .description(
          'PDPs and node agents: revision, desired revision, state (SYNCED, STALE, LOST), last contact; exit 1 when any is STALE or LOST',
        )
        .option('--kind <kind>', 'only pdp or agent')
        .option('--service <name>', 'only the PDPs of this service'),
    ),
  ).action(
    async (opts: ConnectionOptions & { output: string; kind?: string; service?: string }) => {
      if (opts.kind !== undefined && opts.kind !== 'pdp' && opts.kind !== 'agent') {
        throw usageError(`--kind must be pdp or agent, not "${opts.kind}"`, 'CLI_BAD_OPTION');
      }
      const answer = await call<FleetAnswerV1>(opts, 'GET', '/v1/fleet');
      const items = answer.items.filter(
        (i) =>
          (opts.kind === undefined || i.kind === opts.kind) &&
          (opts.service === undefined || i.service === opts.service),
      );
      if (items.some((i) => i.state !== 'SYNCED')) process.exitCode = 1;
      printResult(opts.output, { ...answer, items }, () =>
        items.length
          ? fleetTable(items)
          : 'no PDP or agent has reported yet (they report every 30 s by default)\n',
      );
    },
  );
}
