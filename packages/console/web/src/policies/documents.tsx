/**
 * The stored documents (kind, name, destination, owner) and the YAML of the selected one, which
 * can be edited and applied: the API decides, so a team token editing another team's document
 * sees the API's refusal, word for word.
 */
import { useState } from 'preact/hooks';
import type { Api, Me } from '../api.ts';
import { destinationKey, owns } from '../ownership.ts';
import { Check, CodeArea } from '../ui/controls.tsx';
import { type Failure, failureOf, Problem } from './problem.tsx';
import { useLoad } from './use-load.ts';
import { toYaml } from './yaml.ts';

export interface StoredDocument {
  kind: 'Service' | 'Intention';
  name: string;
  document: {
    kind: string;
    metadata: { name: string };
    spec?: { destination?: string; owner?: string; mode?: string };
  };
  createdRevision: number;
  updatedRevision: number;
  updatedAt?: string;
  updatedBy?: string;
}

export async function loadDocuments(api: Api): Promise<StoredDocument[]> {
  const [services, intentions] = await Promise.all([
    api.get<{ items: StoredDocument[] }>('/v1/services'),
    api.get<{ items: StoredDocument[] }>('/v1/intentions'),
  ]);
  return [...services.items, ...intentions.items];
}

/** The service a document is about: its own name, or an intention's destination. */
export const serviceOf = (d: StoredDocument) =>
  d.kind === 'Service' ? d.name : destinationKey(d.name, d.document.spec?.destination ?? '');

export function DocumentsPanel(props: { api: Api; me: Me }) {
  const { api, me } = props;
  const docs = useLoad(() => loadDocuments(api), [api]);
  const [mine, setMine] = useState(me.scope === 'team');
  const [selected, setSelected] = useState<string | null>(null);
  const owners = new Map(
    (docs.data ?? [])
      .filter((d) => d.kind === 'Service')
      .map((d) => [d.name, d.document.spec?.owner ?? '']),
  );
  const shown = (docs.data ?? []).filter((d) => !mine || owns(me, serviceOf(d)));
  const current = shown.find((d) => `${d.kind}/${d.name}` === selected) ?? null;

  return (
    <section class="pol-panel" data-testid="documents">
      <h2>Documents</h2>
      {me.scope === 'team' && (
        <Check class="pol-toggle" testid="only-mine" checked={mine} onChange={setMine}>
          Only my services ({me.services.join(', ')})
        </Check>
      )}
      <Problem failure={docs.failure} />
      <div class="pol-split">
        <table data-testid="documents-table">
          <thead>
            <tr>
              <th>Kind</th>
              <th>Name</th>
              <th>Destination</th>
              <th>Owner</th>
              <th>Rev</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((d) => {
              const key = `${d.kind}/${d.name}`;
              return (
                <tr key={key} class={key === selected ? 'selected' : ''}>
                  <td>{d.kind}</td>
                  <td>
                    <button
                      type="button"
                      class="link"
                      data-testid="doc-row"
                      data-key={key}
                      onClick={() => setSelected(key)}
                    >
                      {d.name}
                    </button>
                    {d.document.spec?.mode === 'dry-run' && <span class="badge">dry-run</span>}
                  </td>
                  <td>{d.kind === 'Intention' ? d.document.spec?.destination : ''}</td>
                  <td>{owners.get(serviceOf(d)) ?? ''}</td>
                  <td>{d.updatedRevision}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
        <div>
          {current ? (
            <DocumentEditor key={selected} api={api} doc={current} onApplied={docs.reload} />
          ) : (
            <p class="muted">Select a document to see its YAML.</p>
          )}
        </div>
      </div>
    </section>
  );
}

function DocumentEditor(props: { api: Api; doc: StoredDocument; onApplied: () => void }) {
  const yaml = toYaml(props.doc.document);
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(yaml);
  const [failure, setFailure] = useState<Failure | null>(null);
  const [applied, setApplied] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const apply = async () => {
    setBusy(true);
    setFailure(null);
    setApplied(null);
    try {
      const r = await props.api.send<{ revision: number; changed: boolean }>('POST', '/v1/apply', {
        files: [{ name: `${props.doc.kind.toLowerCase()}-${props.doc.name}.yaml`, content: text }],
      });
      setApplied(r.changed ? `applied as revision ${r.revision}` : 'unchanged');
      setEditing(false);
      props.onApplied();
    } catch (e) {
      setFailure(failureOf(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="pol-doc">
      <h3>
        {props.doc.kind} {props.doc.name}{' '}
        <span class="muted">
          revision {props.doc.updatedRevision}
          {props.doc.updatedBy ? ` by ${props.doc.updatedBy}` : ''}
        </span>
      </h3>
      {editing ? (
        <CodeArea testid="doc-edit" rows={18} value={text} onInput={setText} />
      ) : (
        <pre class="pol-code" data-testid="doc-yaml">
          {yaml}
        </pre>
      )}
      <div class="pol-actions">
        {editing ? (
          <>
            <button
              type="button"
              class="primary"
              data-testid="doc-apply"
              disabled={busy}
              onClick={apply}
            >
              Apply
            </button>
            <button type="button" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </>
        ) : (
          <button type="button" data-testid="doc-edit-start" onClick={() => setEditing(true)}>
            Edit
          </button>
        )}
        {applied && <span data-testid="doc-applied">{applied}</span>}
      </div>
      <Problem failure={failure} testid="doc-problem" />
    </div>
  );
}
