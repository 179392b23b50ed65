/** Documents as YAML text, the form people write them in (shown as text, never as HTML). */
import { stringify } from 'yaml';

export function toYaml(value: unknown): string {
  if (value === null || value === undefined) return '';
  return stringify(value, { lineWidth: 0 });
}

/** Several documents as one multi-document YAML file. */
export function toYamlStream(values: readonly unknown[]): string {
  return values.map(toYaml).join('---\n');
}
