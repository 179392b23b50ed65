/**
 * Ward reads a few labels on every kind of input: `tier`, `criticality`, `role`, `layer`,
 * `monitors`, `repairs`. They may be written bare or with the `ward.dev/` prefix (the form that
 * survives in Kubernetes, Compose and Backstage labels and annotations); the prefix is dropped.
 */

export const WARD_LABEL_PREFIX = 'ward.dev/';

/** Node labels from a label map and an annotation map (only `ward.dev/` annotations count). */
export function wardLabels(
  labels: Record<string, string>,
  annotations: Record<string, string> = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(annotations)) {
    if (k.startsWith(WARD_LABEL_PREFIX)) out[k.slice(WARD_LABEL_PREFIX.length)] = v;
  }
  for (const [k, v] of Object.entries(labels)) {
    if (k.startsWith(WARD_LABEL_PREFIX)) out[k.slice(WARD_LABEL_PREFIX.length)] = v;
    else if (!(k in out)) out[k] = v;
  }
  return out;
}
