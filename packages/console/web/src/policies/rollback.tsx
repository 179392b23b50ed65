/**
 * "Roll back to this revision" in the History tab: the dry run's diff first (every document that
 * would be created, updated or deleted, field by field), then an explicit confirmation that sends
 * the rollback with the revision the diff was computed at, so a change made in between is
 * refused (412) instead of undone unseen, exactly like `ward rollback`. Team tokens pick one of
 * their services; admins may also roll back everything.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Api, Me } from '../api.ts';
import { owns } from '../ownership.ts';
import { type Failure, failureOf, Problem } from './problem.tsx';
import { useLoad } from './use-load.ts';

interface FieldChange {
  path: string;
  op: 'add' | 'remove' | 'replace';
  before?: unknown;
  after?: unknown;
}

export interface RollbackResult {
  dryRun: boolean;
  revision: number;
  changed: boolean;
  results: { kind: string; name: string; action: string; diff?: FieldChange[] }[];
  summary: Record<'created' | 'updated' | 'unchanged' | 'deleted', number>;
}

const ALL = '';

const show = (v: unknown): string => {
  const text = JSON.stringify(v) ?? 'undefined';
  return text.length > 160 ? `${text.slice(0, 157)}...` : text;
};

/** One line of a field change, as the CLI prints it. */
export function changeLine(d: FieldChange): string {
  if (d.op === 'add') return `+ ${d.path}: ${show(d.after)}`;
  if (d.op === 'remove') return `- ${d.path}: ${show(d.before)}`;
  return `~ ${d.path}: ${show(d.before)} -> ${show(d.after)}`;
}

export function RollbackPanel(props: {
  api: Api;
  me: Me;
  to: number;
  onDone: () => void;
  onClose: () => void;
}) {
  const { api, me, to } = props;
  const admin = me.scope === 'admin';
  const services = useLoad(
    () =>
      // Every stored service for an admin; a team's own (named, or in a namespace it owns).
      api
        .get<{ items: { name: string }[] }>('/v1/services')
        .then((r) =>
          [
            ...new Set([
              ...r.items.map((s) => s.name).filter((s) => owns(me, s)),
              ...(admin ? [] : me.services),
            ]),
          ].sort(),
        ),
    [api, admin],
  );
  const [scope, setScope] = useState<string>(admin ? ALL : (me.services[0] ?? ALL));
  // A team token that owns only namespaces names no service itself: once its services are
  // loaded, start on the first (the server refuses a team's rollback of all documents).
  const first = services.data?.[0];
  useEffect(() => {
    if (!admin && scope === ALL && first !== undefined) setScope(first);
  }, [admin, first]);
  const [plan, setPlan] = useState<RollbackResult | null>(null);
  const [done, setDone] = useState<RollbackResult | null>(null);
  const [failure, setFailure] = useState<Failure | null>(null);
  const [busy, setBusy] = useState(false);
  const body = { to, ...(scope === ALL ? {} : { service: scope }) };

  useEffect(() => {
    let live = true;
    setPlan(null);
    setDone(null);
    setFailure(null);
    api
      .send<RollbackResult>('POST', '/v1/rollback', { ...body, dryRun: true })
      .then((p) => live && setPlan(p))
      .catch((e) => live && setFailure(failureOf(e)));
    return () => {
      live = false;
    };
  }, [api, to, scope]);

  const confirm = async () => {
    if (!plan) return;
    setBusy(true);
    setFailure(null);
    try {
      const r = await api.send<RollbackResult>('POST', '/v1/rollback', {
        ...body,
        expectedRevision: plan.revision,
      });
      setDone(r);
      setPlan(null);
      props.onDone();
    } catch (e) {
      setFailure(failureOf(e));
      // Someone changed these documents since the diff: show the new one, never apply blind.
      if (failureOf(e).status === 412) {
        setPlan(
          await api
            .send<RollbackResult>('POST', '/v1/rollback', { ...body, dryRun: true })
            .catch(() => null),
        );
      }
    } finally {
      setBusy(false);
    }
  };

  const what = scope === ALL ? 'all documents' : `service ${scope}`;
  return (
    <div class="pol-panel" data-testid="rollback">
      <h3>Roll back to revision {to}</h3>
      <div class="pol-actions">
        Scope
        <select
          data-testid="rb-scope"
          value={scope}
          onChange={(e) => setScope((e.target as HTMLSelectElement).value)}
        >
          {admin && <option value={ALL}>all documents</option>}
          {(services.data ?? []).map((s) => (
            <option key={s} value={s}>
              service {s}
            </option>
          ))}
        </select>
        <button type="button" data-testid="rb-cancel" onClick={props.onClose}>
          {done ? 'Close' : 'Cancel'}
        </button>
      </div>
      <Problem failure={services.failure ?? failure} testid="rb-problem" />
      {done && (
        <p class="pol-ok" data-testid="rb-done">
          Rolled back {what} to revision {to}: now at revision {done.revision}.
        </p>
      )}
      {plan && plan.results.length === 0 && (
        <p class="muted" data-testid="rb-nothing">
          {what} is already as at revision {to}: nothing to roll back.
        </p>
      )}
      {plan && plan.results.length > 0 && (
        <div data-testid="rb-plan">
          <p>
            Rolling back {what} to revision {to} (the store is at revision {plan.revision}) would
            change: {plan.summary.created} created, {plan.summary.updated} updated,{' '}
            {plan.summary.deleted} deleted.
          </p>
          {plan.results.map((r) => (
            <div key={`${r.kind}/${r.name}`} data-testid="rb-doc" data-key={`${r.kind}/${r.name}`}>
              <h4>
                {r.kind}/{r.name} <span class="badge">{r.action}</span>
              </h4>
              {r.diff && r.diff.length > 0 && (
                <pre class="pol-code">
                  {r.diff.map((d, i) => (
                    <div key={i} class={d.op === 'add' ? 'add' : d.op === 'remove' ? 'del' : ''}>
                      {changeLine(d)}
                    </div>
                  ))}
                </pre>
              )}
            </div>
          ))}
          <div class="pol-actions">
            <button
              type="button"
              class="danger"
              data-testid="rb-confirm"
              disabled={busy}
              onClick={() => void confirm()}
            >
              Confirm rollback
            </button>
          </div>
        </div>
      )}
    </div>
  );
}
