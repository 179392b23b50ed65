/**
 * `ward get services|intentions|attribute-schemas [NAME] [-o text|json|yaml]`. YAML and JSON output can be edited
 * and re-applied: each document carries `metadata.revision`, the revision it was read at, so
 * `ward apply` refuses to overwrite a change someone made in between (docs/api.md, Concurrency).
 */
import type { StoredDocument } from '@ward/server/client';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { addOutputOption, usageError } from '../options.ts';
import { type ConnectionOptions, call, table, withConnection } from './_api.ts';

const RESOURCES: Record<string, string> = {
  services: 'services',
  service: 'services',
  svc: 'services',
  intentions: 'intentions',
  intention: 'intentions',
  'attribute-schemas': 'attribute-schemas',
  'attribute-schema': 'attribute-schemas',
};

export function register(program: Command): void {
  withConnection(
    addOutputOption(
      program
        .command('get')
        .description('list services, intentions or attribute schemas stored in the control plane')
        .argument('<resource>', 'services, intentions or attribute-schemas')
        .argument('[name]', 'one document by name')
        .option('--destination <service>', 'intentions on this destination only'),
    ),
  ).action(
    async (
      resource: string,
      name: string | undefined,
      opts: ConnectionOptions & { output: string; destination?: string },
    ) => {
      const path = RESOURCES[resource];
      if (!path)
        throw usageError(
          `unknown resource "${resource}": use services, intentions or attribute-schemas`,
          'CLI_BAD_RESOURCE',
        );
      const query = opts.destination ? `?destination=${encodeURIComponent(opts.destination)}` : '';
      const items = name
        ? [await call<StoredDocument>(opts, 'GET', `/v1/${path}/${encodeURIComponent(name)}`)]
        : (await call<{ items: StoredDocument[] }>(opts, 'GET', `/v1/${path}${query}`)).items;
      const docs = items.map((i) => ({
        ...i.document,
        metadata: { ...i.document.metadata, revision: i.updatedRevision },
      }));
      if (opts.output === 'json') {
        process.stdout.write(`${JSON.stringify(name ? docs[0] : docs, null, 2)}\n`);
      } else if (opts.output === 'yaml') {
        process.stdout.write(docs.map((d) => stringify(d)).join('---\n'));
      } else if (path === 'services') {
        const rows = [['NAME', 'SPIFFE ID', 'OWNER', 'REVISION', 'UPDATED BY']];
        for (const i of items) {
          const spec = (i.document as { spec?: { spiffeId?: string; owner?: string } }).spec ?? {};
          rows.push([
            i.name,
            spec.spiffeId ?? '(default)',
            spec.owner ?? '',
            String(i.updatedRevision),
            i.updatedBy,
          ]);
        }
        process.stdout.write(table(rows));
      } else if (path === 'attribute-schemas') {
        const rows = [['NAME', 'ZONE', 'ATTRIBUTES', 'LABELS', 'REVISION', 'UPDATED BY']];
        for (const i of items) {
          const spec =
            (i.document as { spec?: Record<string, { properties?: object } | string | undefined> })
              .spec ?? {};
          const count = (part: unknown) =>
            String(
              Object.keys((part as { properties?: object } | undefined)?.properties ?? {}).length,
            );
          rows.push([
            i.name,
            typeof spec.zone === 'string' ? spec.zone : '(every zone)',
            count(spec.attributes),
            count(spec.labels),
            String(i.updatedRevision),
            i.updatedBy,
          ]);
        }
        process.stdout.write(table(rows));
      } else {
        const rows = [['NAME', 'DESTINATION', 'MODE', 'RULES', 'REVISION', 'UPDATED BY']];
        for (const i of items) {
          const spec =
            (i.document as { spec?: { destination?: string; mode?: string; rules?: unknown[] } })
              .spec ?? {};
          rows.push([
            i.name,
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
