/**
 * Docker Compose files. Startup edges: `depends_on` (short list or long map with `condition`),
 * `links` (which Compose also orders startup by), `volumes_from` and
 * `network_mode: service:NAME`. Runtime edges: environment values naming another service as
 * a URL or `host:port` (Compose service names are DNS names on the project network).
 */
import { GraphError } from '../errors.ts';
import type { GraphBuilder, SourceRef } from '../model.ts';
import { isObject } from '../util.ts';
import { findHostRefs } from './hostnames.ts';
import { classifyWorkload } from './kinds.ts';
import { wardLabels } from './labels.ts';
import { parseYamlDocuments } from './yaml-docs.ts';

export function readCompose(text: string, file: string, builder: GraphBuilder): void {
  const expected = 'a Compose file with a top-level "services" mapping';
  const [doc] = parseYamlDocuments(text, file, expected);
  if (!doc || !isObject(doc.data) || !isObject(doc.data.services)) {
    throw new GraphError('GRAPH_INPUT_MALFORMED', 'no "services" mapping', {
      file,
      line: 1,
      expected,
    });
  }
  const services = doc.data.services;
  const names = new Set(Object.keys(services));
  const at = (path: (string | number)[]): SourceRef => ({
    type: 'compose',
    file,
    line: doc.lineOf(path),
  });
  for (const [name, raw] of Object.entries(services)) {
    const svc = isObject(raw) ? raw : {};
    const typed = classifyWorkload(
      typeof svc.image === 'string' ? [svc.image] : [],
      containerPorts(svc),
    );
    builder.service(
      name,
      { virtual: false, labels: wardLabels(keyValues(svc.labels)), ...(typed ?? {}) },
      file,
    );
    const startup = (to: string, path: (string | number)[], condition?: string): void => {
      if (to === name) return;
      if (!names.has(to)) {
        throw new GraphError(
          'GRAPH_INPUT_MALFORMED',
          `service "${name}" depends on undefined service "${to}"`,
          {
            file,
            line: doc.lineOf(path),
            expected: `one of the services defined in the file (${[...names].join(', ')})`,
          },
        );
      }
      builder.declare(name, to, 'startup', at(path), condition ? { condition } : {});
    };
    const dependsOn = svc.depends_on;
    if (Array.isArray(dependsOn)) {
      dependsOn.forEach((d: unknown, i: number) => {
        if (typeof d === 'string')
          startup(d, ['services', name, 'depends_on', i], 'service_started');
      });
    } else if (isObject(dependsOn)) {
      for (const [dep, opts] of Object.entries(dependsOn)) {
        const condition =
          isObject(opts) && typeof opts.condition === 'string' ? opts.condition : 'service_started';
        startup(dep, ['services', name, 'depends_on', dep], condition);
      }
    }
    if (Array.isArray(svc.links)) {
      svc.links.forEach((l: unknown, i: number) => {
        if (typeof l === 'string') startup(l.split(':')[0]!, ['services', name, 'links', i]);
      });
    }
    if (Array.isArray(svc.volumes_from)) {
      svc.volumes_from.forEach((v: unknown, i: number) => {
        if (typeof v === 'string' && !v.startsWith('container:'))
          startup(v.split(':')[0]!, ['services', name, 'volumes_from', i]);
      });
    }
    if (typeof svc.network_mode === 'string' && svc.network_mode.startsWith('service:')) {
      startup(svc.network_mode.slice('service:'.length), ['services', name, 'network_mode']);
    }
    const env = svc.environment;
    const envEntries: [string, string, (string | number)[]][] = [];
    if (Array.isArray(env)) {
      env.forEach((e: unknown, i: number) => {
        if (typeof e === 'string' && e.includes('='))
          envEntries.push([
            e.slice(0, e.indexOf('=')),
            e.slice(e.indexOf('=') + 1),
            ['services', name, 'environment', i],
          ]);
      });
    } else if (isObject(env)) {
      for (const [k, v] of Object.entries(env)) {
        if (typeof v === 'string') envEntries.push([k, v, ['services', name, 'environment', k]]);
      }
    }
    for (const [, value, path] of envEntries) {
      for (const ref of findHostRefs(value)) {
        if (ref.namespace === undefined && names.has(ref.name) && ref.name !== name) {
          builder.declare(
            name,
            ref.name,
            'runtime',
            at(path),
            ref.port === undefined ? {} : { port: ref.port },
          );
        }
      }
    }
  }
}

/** Compose accepts labels as a map or as a list of `key=value`. */
function keyValues(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(v)) {
    for (const e of v) {
      if (typeof e === 'string') {
        const eq = e.indexOf('=');
        if (eq > 0) out[e.slice(0, eq)] = e.slice(eq + 1);
      }
    }
  } else if (isObject(v)) {
    for (const [k, val] of Object.entries(v))
      if (typeof val === 'string' || typeof val === 'number') out[k] = String(val);
  }
  return out;
}

/** Container-side ports of a Compose service: `expose`, and `ports` (`8080:80/tcp`, `{target}`). */
function containerPorts(svc: Record<string, unknown>): number[] {
  const out: number[] = [];
  const add = (v: unknown): void => {
    const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : Number.NaN;
    if (Number.isInteger(n) && n >= 1 && n <= 65_535) out.push(n);
  };
  for (const e of Array.isArray(svc.expose) ? svc.expose : []) add(String(e).split('/')[0]);
  for (const p of Array.isArray(svc.ports) ? svc.ports : []) {
    if (isObject(p)) add(p.target);
    else if (typeof p === 'string' || typeof p === 'number') {
      const spec = String(p).split('/')[0]!;
      add(spec.slice(spec.lastIndexOf(':') + 1));
    }
  }
  return out;
}
