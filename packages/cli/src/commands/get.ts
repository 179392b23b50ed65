/**
 * `ward get services|intentions|attribute-schemas [NAME] [-n NS | -A] [-o text|json|yaml]`, the
 * kubectl way: a list shows the default namespace, `-n NS` another one, `-A` every namespace;
 * NAME is in `-n`'s namespace (or written `NS/NAME`). YAML and JSON output can be edited
 * and re-applied: each document carries `metadata.revision`, the revision it was read at, so
 * `ward apply` refuses to overwrite a change someone made in between (docs/api.md, Concurrency).
 */
import type { StoredDocument } from '@ward/server/client';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { addOutputOption, usageError } from '../options.ts';
import {
  type ConnectionOptions,
  call,
  keySegment,
  namespaceOption,
  resolveKey,
  table,
  withConnection,
} from './_api.ts';

const RESOURCES: Record<string, string> = {
  services: 'services',
  service: 'services',
  svc: 'services',
  intentions: 'intentions',
  intention: 'intentions',
  'attribute-schemas': 'attribute-schemas',
  'attribute-schema': 'attribute-schemas',
};

/** The API collection of a resource name as kubectl users type it; a usage error otherwise. */
export function resourcePath(resource: string): string {
  const path = RESOURCES[resource];
  if (!path)
    throw usageError(
      `unknown resource "${resource}": use services, intentions or attribute-schemas`,
      'CLI_BAD_RESOURCE',
    );
  return path;
}

export function register(program: Command): void {
  withConnection(
    addOutputOption(
      program
        .command('get')
        .description('list services, intentions or attribute schemas stored in the control plane')
        .argument('<resource>', 'services, intentions or attribute-schemas')
        .argument('[name]', 'one document by name (or namespace/name)')
        .option('--destination <service>', 'intentions on this destination only')
        .addOption(namespaceOption())
        .option('-A, --all-namespaces', 'list the documents of every namespace'),
    ),
  ).action(
    async (
      resource: string,
      name: string | undefined,
      opts: ConnectionOptions & {
        output: string;
        destination?: string;
        namespace?: string;
        allNamespaces?: boolean;
      },
    ) => {
      const path = resourcePath(resource);
      if (opts.allNamespaces && (opts.namespace !== undefined || name !== undefined))
        throw usageError(
          '-A lists every namespace: it takes neither -n nor a NAME',
          'CLI_BAD_OPTION',
        );
      const q = new URLSearchParams();
      if (!opts.allNamespaces) {
        const ns = opts.namespace ?? 'default';
        // Validated like a NAME's namespace (the same usage error).
        resolveKey('x', ns);
        q.set('namespace', ns);
      }
      if (opts.destination !== undefined)
        q.set('destination', resolveKey(opts.destination, opts.namespace, '--destination'));
      const items = name
        ? [
            await call<StoredDocument>(
              opts,
              'GET',
              `/v1/${path}/${keySegment(resolveKey(name, opts.namespace))}`,
            ),
          ]
        : (await call<{ items: StoredDocument[] }>(opts, 'GET', `/v1/${path}?${q}`)).items;
      const nsOf = (i: StoredDocument) => i.namespace ?? 'default';
      const shortName = (i: StoredDocument) => i.document.metadata.name;
      const docs = items.map((i) => ({
        ...i.document,
        metadata: { ...i.document.metadata, revision: i.updatedRevision },
      }));
      if (opts.output === 'json') {
        process.stdout.write(`${JSON.stringify(name ? docs[0] : docs, null, 2)}\n`);
      } else if (opts.output === 'yaml') {
        process.stdout.write(docs.map((d) => stringify(d)).join('---\n'));
      } else if (path === 'services') {
        const rows = [['NAMESPACE', 'NAME', 'SPIFFE ID', 'OWNER', 'REVISION', 'UPDATED BY']];
        for (const i of items) {
          const spec = (i.document as { spec?: { spiffeId?: string; owner?: string } }).spec ?? {};
          rows.push([
            nsOf(i),
            shortName(i),
            spec.spiffeId ?? '(default)',
            spec.owner ?? '',
            String(i.updatedRevision),
            i.updatedBy,
          ]);
        }
        process.stdout.write(table(rows));
      } else if (path === 'attribute-schemas') {
        const rows = [
          ['NAMESPACE', 'NAME', 'ZONE', 'ATTRIBUTES', 'LABELS', 'REVISION', 'UPDATED BY'],
        ];
        for (const i of items) {
          const spec =
            (i.document as { spec?: Record<string, { properties?: object } | string | undefined> })
              .spec ?? {};
          const count = (part: unknown) =>
            String(
              Object.keys((part as { properties?: object } | undefined)?.properties ?? {}).length,
            );
          rows.push([
            nsOf(i),
            shortName(i),
            typeof spec.zone === 'string' ? spec.zone : '(every zone)',
            count(spec.attributes),
            count(spec.labels),
            String(i.updatedRevision),
            i.updatedBy,
          ]);
        }
        process.stdout.write(table(rows));
      } else {
        const rows = [
          ['NAMESPACE', 'NAME', 'DESTINATION', 'MODE', 'RULES', 'REVISION', 'UPDATED BY'],
        ];
        for (const i of items) {
          const spec =
            (i.document as { spec?: { destination?: string; mode?: string; rules?: unknown[] } })
              .spec ?? {};
          rows.push([
            nsOf(i),
            shortName(i),
            spec.destination ?? '',
            spec.mode ?? 'enforce',
            String(spec.rules?.length ?? 0),
            String(i.updatedRevision),
            i.updatedBy,
          ]);
        }
        process.stdout.write(table(rows));
      }
    },
  );
}
