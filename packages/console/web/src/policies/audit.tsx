/**
 * The audit log with the verdict of its hash chain. Admin only in the API: a team token sees
 * the API's refusal here rather than an empty table that would look like "nothing happened".
 */
import type { AuditEntryV1 } from '@ward/api-types/console';
import type { Api } from '../api.ts';
import { Problem } from './problem.tsx';
import { useLoad } from './use-load.ts';

interface Verification {
  ok: boolean;
  entries: number;
  head: string;
  headSeq: number;
  firstBreak?: { kind: string; seq: number; id: number; message: string };
}

export function AuditPanel(props: { api: Api }) {
  const { api } = props;
  const log = useLoad(
    () => api.get<{ items: AuditEntryV1[] }>('/v1/audit?limit=100').then((r) => r.items),
    [api],
  );
  const chain = useLoad(() => api.get<Verification>('/v1/audit/verify'), [api]);
  const v = chain.data;
  return (
    <section class="pol-panel" data-testid="audit">
      <h2>Audit log</h2>
      {v && (
        <p data-testid="audit-chain" class={v.ok ? 'pol-ok' : 'error'}>
          {v.ok
            ? `Chain verified: ${v.entries} entries, head ${v.head.slice(0, 16)}… (seq ${v.headSeq})`
            : `Chain broken at seq ${v.firstBreak?.seq}: ${v.firstBreak?.kind} — ${v.firstBreak?.message}`}
        </p>
      )}
      <Problem failure={log.failure ?? chain.failure} testid="audit-problem" />
      {log.data && (
        <table data-testid="audit-table">
          <thead>
            <tr>
              <th>Seq</th>
              <th>When</th>
              <th>Who</th>
              <th>Action</th>
              <th>Target</th>
              <th>Revision</th>
              <th>Detail</th>
            </tr>
          </thead>
          <tbody>
            {log.data.map((e) => (
              <tr key={e.id} data-testid="audit-row">
                <td>{e.seq ?? ''}</td>
                <td>{e.at}</td>
                <td>{e.actor.name}</td>
                <td>{e.action}</td>
                <td>{e.target}</td>
                <td>{e.revision ?? ''}</td>
                <td>
                  <code>{JSON.stringify(e.detail)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
