import type { ViewProps } from '../app.tsx';

// Placeholder until this view is built.
export function LiveView(_props: ViewProps) {
  return <p class="muted">Not built yet.</p>;
}
