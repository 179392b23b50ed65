/** A strict reader of Prometheus' text exposition format, for the metrics tests. */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict reader of the Prometheus text format 0.0.4: every line is a comment (`# HELP`,
 * `# TYPE`) or `name{label="value",...} number`; it throws on anything else.
 */
export function parseProm(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const line = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
  const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/y;
  for (const l of text.split('\n')) {
    if (l === '') continue;
    if (l.startsWith('# HELP ')) continue;
    if (l.startsWith('# TYPE ')) {
      const [, , name, type] = l.split(' ');
      types.set(name!, type!);
      continue;
    }
    const m = line.exec(l);
    if (!m) throw new Error(`not a Prometheus sample line: ${l}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    label.lastIndex = 0;
    while (label.lastIndex < body.length) {
      const lm = label.exec(body);
      if (!lm) throw new Error(`bad labels: ${body}`);
      labels[lm[1]!] = lm[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    // Go's ParseFloat, which Prometheus uses, takes NaN in any case (prom-client writes "Nan").
    if (Number.isNaN(value) && m[3]!.toLowerCase() !== 'nan') throw new Error(`bad value: ${l}`);
    samples.push({ name: m[1]!, labels, value });
  }
  return { samples, types };
}

/** Sum of the samples of `name` whose labels include `labels`. */
export function sumOf(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}
