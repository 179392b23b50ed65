/**
 * The playground (after Cerbos's): an input, optionally an edited policy set starting from the
 * current YAML, and Evaluate: the decision, the deciding rule, its reason and every rule the
 * destination has with why it matched or not. Compile errors point at their line. The server
 * evaluates (POST /v1/playground/evaluate) and stores nothing.
 */
import { useState } from 'preact/hooks';
import type { Api } from '../api.ts';
import { Check, CodeArea } from '../ui/controls.tsx';
import { loadDocuments } from './documents.tsx';
import { type Failure, failureOf, Problem } from './problem.tsx';
import { toYamlStream } from './yaml.ts';

interface RuleRef {
  policy: string;
  index: number;
  action: string;
  mode: string;
}

interface Evaluation {
  revision: number;
  edited: string[];
  decision: {
    effect: 'allow' | 'deny';
    enforced: boolean;
    allowed: boolean;
    rule: RuleRef | null;
    reason: string;
  };
  explanation: {
    considered: {
      rule: RuleRef;
      matched: boolean;
      detail: string;
      description?: string;
      file?: string;
      line?: number;
    }[];
  };
  diagnostics: { severity: string; file: string; line: number; col: number; message: string }[];
}

/** An example the demo answers: frontend reading stock, which a dry-run rule would refuse. */
export const EXAMPLE_INPUT = JSON.stringify(
  {
    destination: 'inventory',
    source: { service: 'frontend' },
    request: { method: 'GET', path: '/stock/42' },
  },
  null,
  2,
);

const EDITED_FILE = 'edited.yaml';

const ruleName = (r: RuleRef | null) => (r ? `${r.policy}#${r.index}` : 'default');

export function PlaygroundPanel(props: { api: Api }) {
  const { api } = props;
  const [input, setInput] = useState(EXAMPLE_INPUT);
  const [editing, setEditing] = useState(false);
  const [policies, setPolicies] = useState('');
  const [at, setAt] = useState('');
  const [result, setResult] = useState<Evaluation | null>(null);
  const [failure, setFailure] = useState<Failure | null>(null);
  const [busy, setBusy] = useState(false);

  /** The current YAML of the intentions of the input's destination, to start editing from. */
  const loadCurrent = async () => {
    let destination = '';
    try {
      destination = String((JSON.parse(input) as { destination?: unknown }).destination ?? '');
    } catch {
      // Not JSON yet: start from every intention.
    }
    try {
      const docs = await loadDocuments(api);
      const chosen = docs.filter(
        (d) =>
          d.kind === 'Intention' &&
          (destination === '' || d.document.spec?.destination === destination),
      );
      setPolicies(toYamlStream(chosen.map((d) => d.document)));
    } catch (e) {
      setFailure(failureOf(e));
    }
  };

  const evaluate = async () => {
    setFailure(null);
    setResult(null);
    let parsed: unknown;
    try {
      parsed = JSON.parse(input);
    } catch (e) {
      setFailure({ message: `the input is not JSON: ${(e as Error).message}`, errors: [] });
      return;
    }
    setBusy(true);
    try {
      const body: Record<string, unknown> = { input: parsed };
      if (editing) body.documents = [{ name: EDITED_FILE, content: policies }];
      if (at.trim() !== '') body.at = Number(at);
      setResult(await api.send<Evaluation>('POST', '/v1/playground/evaluate', body));
    } catch (e) {
      setFailure(failureOf(e));
    } finally {
      setBusy(false);
    }
  };

  const lines = policies.split('\n');
  const located = (failure?.errors ?? []).filter((e) => e.file === EDITED_FILE && e.line);

  return (
    <section class="pol-panel" data-testid="playground">
      <h2>Playground</h2>
      <div class="pol-split">
        <div>
          <label for="pg-input">Input (DecisionInput JSON)</label>
          <CodeArea id="pg-input" testid="pg-input" rows={10} value={input} onInput={setInput} />
          <div class="pol-actions">
            <Check
              testid="pg-edit-toggle"
              checked={editing}
              onChange={(on) => {
                setEditing(on);
                if (on && policies === '') void loadCurrent();
              }}
            >
              Edit policies
            </Check>
            <label>
              at revision{' '}
              <input
                data-testid="pg-at"
                size={6}
                inputMode="numeric"
                placeholder="current"
                value={at}
                onInput={(e) => setAt((e.target as HTMLInputElement).value)}
              />
            </label>
            <button
              type="button"
              class="primary"
              data-testid="pg-evaluate"
              disabled={busy}
              onClick={evaluate}
            >
              Evaluate
            </button>
          </div>
        </div>
        {editing && (
          <div>
            <label for="pg-policies">
              Edited documents (replace stored ones of the same kind and name){' '}
              <button type="button" class="link" onClick={loadCurrent}>
                reload current
              </button>
            </label>
            <CodeArea
              id="pg-policies"
              testid="pg-policies"
              rows={16}
              value={policies}
              onInput={setPolicies}
            />
          </div>
        )}
      </div>
      <Problem failure={failure} testid="pg-problem" />
      {located.map((e, i) => (
        <pre key={i} class="pol-code pol-error-line" data-testid="pg-error-line" data-line={e.line}>
          {`${e.line} | ${lines[(e.line ?? 1) - 1] ?? ''}\n${' '.repeat(String(e.line).length)} | ${' '.repeat(Math.max(0, (e.col ?? 1) - 1))}^ ${e.message}`}
        </pre>
      ))}
      {result && <EvaluationView result={result} />}
    </section>
  );
}

function EvaluationView(props: { result: Evaluation }) {
  const { decision, explanation } = props.result;
  return (
    <div class="pol-result" data-testid="pg-result">
      <p>
        <span class={`pol-effect ${decision.effect}`} data-testid="pg-decision">
          {decision.effect}
        </span>{' '}
        {decision.enforced
          ? 'enforced'
          : `dry-run (the call ${decision.allowed ? 'proceeds' : 'is refused'} now)`}{' '}
        by <code data-testid="pg-rule">{ruleName(decision.rule)}</code> at revision{' '}
        {props.result.revision}
        {props.result.edited.length > 0 && ` with edited ${props.result.edited.join(', ')}`}
      </p>
      <p data-testid="pg-reason">{decision.reason}</p>
      <table data-testid="pg-considered">
        <thead>
          <tr>
            <th>Rule</th>
            <th>Action</th>
            <th>Mode</th>
            <th>Matched</th>
            <th>Why</th>
          </tr>
        </thead>
        <tbody>
          {explanation.considered.map((c) => (
            <tr key={ruleName(c.rule)} data-testid="pg-considered-row">
              <td>
                <code>{ruleName(c.rule)}</code>
                {c.description && <div class="muted">{c.description}</div>}
              </td>
              <td>{c.rule.action}</td>
              <td>{c.rule.mode}</td>
              <td>{c.matched ? 'yes' : 'no'}</td>
              <td>{c.detail}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {props.result.diagnostics.length > 0 && (
        <ul class="muted">
          {props.result.diagnostics.map((d, i) => (
            <li key={i}>{`${d.file}:${d.line}:${d.col}: ${d.severity}: ${d.message}`}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
