/**
 * What the API said when it refused: the problem's detail and each field error with its
 * position. Text only (Preact escapes it), so a refusal quoting stored text cannot inject.
 */
import { ApiProblem } from '../api.ts';

export interface Failure {
  message: string;
  status?: number;
  code?: string;
  errors: { field?: string; message: string; file?: string; line?: number; col?: number }[];
}

export function failureOf(error: unknown): Failure {
  if (error instanceof ApiProblem) {
    return {
      message: error.message,
      status: error.status,
      code: error.code,
      errors: error.errors as Failure['errors'],
    };
  }
  return { message: error instanceof Error ? error.message : String(error), errors: [] };
}

export function Problem(props: { failure: Failure | null; testid?: string }) {
  const f = props.failure;
  if (!f) return null;
  return (
    <div class="problem" role="alert" data-testid={props.testid ?? 'problem'}>
      <strong>{f.message}</strong>
      {f.code && <span class="badge">{f.code}</span>}
      {f.errors.length > 0 && (
        <ul>
          {f.errors.map((e, i) => (
            <li key={i}>
              {e.file ? `${e.file}${e.line ? `:${e.line}${e.col ? `:${e.col}` : ''}` : ''}: ` : ''}
              {e.field && !e.file ? `${e.field}: ` : ''}
              {e.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
