/**
 * Policies: the stored documents with their YAML, history with a diff between any two
 * revisions, the audit log with its chain verdict, and the playground. Sub-sections are hash
 * routes (`#/policies?tab=history`) so a link can point at one.
 */
import type { ViewProps } from '../app.tsx';
import { AuditPanel } from '../policies/audit.tsx';
import { DocumentsPanel } from '../policies/documents.tsx';
import { HistoryPanel } from '../policies/history.tsx';
import { PlaygroundPanel } from '../policies/playground.tsx';
import { navigate } from '../route.ts';

const TABS = [
  { id: 'documents', title: 'Documents' },
  { id: 'history', title: 'History' },
  { id: 'audit', title: 'Audit log' },
  { id: 'playground', title: 'Playground' },
] as const;

export function PoliciesView(props: ViewProps) {
  const tab = TABS.find((t) => t.id === props.params.get('tab'))?.id ?? 'documents';
  return (
    <div class="pol">
      <nav class="pol-tabs">
        {TABS.map((t) => (
          <button
            key={t.id}
            type="button"
            class={t.id === tab ? 'active' : ''}
            data-testid={`tab-${t.id}`}
            onClick={() => navigate('policies', { tab: t.id })}
          >
            {t.title}
          </button>
        ))}
      </nav>
      {tab === 'documents' && <DocumentsPanel api={props.api} me={props.me} />}
      {tab === 'history' && <HistoryPanel api={props.api} me={props.me} />}
      {tab === 'audit' && <AuditPanel api={props.api} />}
      {tab === 'playground' && <PlaygroundPanel api={props.api} />}
    </div>
  );
}
