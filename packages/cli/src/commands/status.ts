/**
 * `ward status`: every PDP and node agent the control plane has heard from, like `istioctl
 * proxy-status`: its revision against the one its service should be at, its state and when it
 * last reported. A member STALE or LOST is a finding (exit 1). `--identity` shows the workloads'
 * SVIDs and the trust bundle instead; an SVID still held past its expiry is a finding.
 */
import type { FleetAnswerV1, FleetMemberV1, IdentityAnswerV1 } from '@ward/api-types';
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

/** `59m 32s`, `2h 05m`, `expired`. */
export function expiresIn(ms: number | null): string {
  if (ms === null) return 'not reported';
  if (ms <= 0) return 'expired';
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
}

/** The workloads with their SVID expiry, then the trust bundle's roots and rotation state. */
export function identityText(answer: IdentityAnswerV1): string {
  const rows = [['SPIFFE ID', 'SERVICE', 'NODE', 'SVID SERIAL', 'EXPIRES IN']];
  for (const w of answer.workloads) {
    rows.push([w.spiffeId, w.service ?? '-', w.node, w.serial ?? '-', expiresIn(w.expiresInMs)]);
  }
  const parts = [
    answer.workloads.length ? table(rows) : 'no workload is registered yet\n',
    `trust domain ${answer.trustDomain}\n`,
  ];
  const bundle = answer.trustBundle;
  if (bundle) {
    const roots = [['ROOT', 'STATE', 'NOT AFTER', 'SHA-256']];
    for (const r of bundle.roots) roots.push([r.subject, r.state, r.notAfter, r.fingerprint]);
    parts.push(
      table(roots),
      `root rotation: ${bundle.rotation.state}${bundle.rotation.next ? ` (next: ward ca root ${bundle.rotation.next})` : ''}\n`,
    );
  } else parts.push('the CA has no trust bundle yet\n');
  return parts.join('');
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
        .option(
          '--service <name>',
          'only the PDPs (with --identity: the workloads) of this service',
        )
        .option(
          '--identity',
          'workloads with their SPIFFE IDs and SVID expiry, and the trust bundle; exit 1 when an SVID held is expired',
        ),
    ),
  ).action(
    async (
      opts: ConnectionOptions & {
        output: string;
        kind?: string;
        service?: string;
        identity?: boolean;
      },
    ) => {
      if (opts.kind !== undefined && opts.kind !== 'pdp' && opts.kind !== 'agent') {
        throw usageError(`--kind must be pdp or agent, not "${opts.kind}"`, 'CLI_BAD_OPTION');
      }
      if (opts.identity) {
        if (opts.kind !== undefined) {
          throw usageError(
            '--kind lists fleet members; it does not go with --identity',
            'CLI_BAD_OPTION',
          );
        }
        const answer = await call<IdentityAnswerV1>(opts, 'GET', '/v1/identity');
        const workloads = answer.workloads.filter(
          (w) => opts.service === undefined || w.service === opts.service,
        );
        if (workloads.some((w) => w.expiresInMs !== null && w.expiresInMs <= 0)) {
          process.exitCode = 1;
        }
        const shown = { ...answer, workloads };
        printResult(opts.output, shown, () => identityText(shown));
        return;
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
