/**
 * Promote a service's dry-run intentions to enforce, through the same server gate as
 * `ward promote`: refused (409) while the window shows calls they would deny. The console shows
 * what blocks it and offers force only after an explicit confirmation, as `--force` is explicit.
 */
import type { PromoteAnswerV1 } from '@ward/api-types/console';
import { useState } from 'preact/hooks';
import type { Api, Me } from '../api.ts';
import { owns } from '../ownership.ts';
import { loadDocuments, serviceOf } from '../policies/documents.tsx';
import { type Failure, failureOf, Problem } from '../policies/problem.tsx';
import { useLoad } from '../policies/use-load.ts';
import { Check } from '../ui/controls.tsx';

export function PromotePanel(props: { api: Api; me: Me; window: string; onPromoted: () => void }) {
  const { api, me } = props;
  const docs = useLoad(() => loadDocuments(api), [api]);
  const dryRun = [
    ...new Set(
      (docs.data ?? [])
        .filter((d) => d.kind === 'Intention' && d.document.spec?.mode === 'dry-run')
        .map((d) => serviceOf(d)),
    ),
  ].sort();
  const [chosen, setChosen] = useState('');
  const service = chosen || dryRun[0] || '';
  const [blocked, setBlocked] = useState<Failure | null>(null);
  const [confirmed, setConfirmed] = useState(false);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // A team token may promote only its own services (the server checks the same).
  const mayPromote = me.scope === 'admin' || (me.scope === 'team' && owns(me, service));

  const promote = async (force: boolean) => {
    setBusy(true);
    setDone(null);
    try {
      const r = await api.send<PromoteAnswerV1>(
        'POST',
        `/v1/services/${encodeURIComponent(service)}/promote`,
        { force, window: props.window },
      );
      setBlocked(null);
      setConfirmed(false);
      if (!r.changed) {
        setDone(`${service}: no intention in dry-run; nothing to promote (revision ${r.revision})`);
      } else {
        const n = r.denials.reduce((s, d) => s + d.count, 0);
        setDone(
          `${service}: enforcing ${r.promoted.join(', ')} at revision ${r.revision}` +
            (r.forced ? ` (forced: ${n} call(s) in the last ${props.window} are now denied)` : ''),
        );
      }
      docs.reload();
      props.onPromoted();
    } catch (e) {
      setBlocked(failureOf(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="pol-panel" data-testid="promote">
      <h2>Promote to enforce</h2>
      <Problem failure={docs.failure} />
      {docs.data && dryRun.length === 0 && (
        <p class="muted" data-testid="promote-none">
          No intention is in dry-run.
        </p>
      )}
      {dryRun.length > 0 && (
        <div class="pol-actions">
          <select
            data-testid="promote-service"
            value={service}
            onChange={(e) => {
              setChosen((e.target as HTMLSelectElement).value);
              setBlocked(null);
              setConfirmed(false);
              setDone(null);
            }}
          >
            {dryRun.map((s) => (
              <option key={s} value={s}>
                {s}
                {me.scope === 'team' && !owns(me, s) ? ' (not yours)' : ''}
              </option>
            ))}
          </select>
          <button
            type="button"
            class="primary"
            data-testid="promote-run"
            disabled={busy || !mayPromote}
            title={mayPromote ? '' : 'this token does not own the service'}
            onClick={() => promote(false)}
          >
            Promote
          </button>
          <span class="muted">
            promotes only if its dry-run rules denied nothing in the last {props.window}
          </span>
        </div>
      )}
      <Problem failure={blocked} testid="promote-blocked" />
      {blocked?.status === 409 && (
        <div class="pol-actions" data-testid="promote-force-box">
          <Check testid="promote-confirm" checked={confirmed} onChange={setConfirmed}>
            I understand these calls will be refused once {service} enforces
          </Check>
          <button
            type="button"
            class="danger"
            data-testid="promote-force"
            disabled={busy || !confirmed}
            onClick={() => promote(true)}
          >
            Promote with force
          </button>
        </div>
      )}
      {done && (
        <p class="pol-ok" data-testid="promote-done">
          {done}
        </p>
      )}
    </section>
  );
}
