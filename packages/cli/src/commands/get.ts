/**
 * `ward get services|intentions|attribute-schemas|gateways|routes|secretpolicies [NAME] [-n NS | -A] [-o text|json|yaml]`, the
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
  gateways: 'gateways',
  gateway: 'gateways',
  routes: 'routes',
  route: 'routes',
  secretpolicies: 'secretpolicies',
  secretpolicy: 'secretpolicies',
};

/** The API collection of a resource name as kubectl users type it; a usage error otherwise. */
export function resourcePath(resource: string): string {
  const path = RESOURCES[resource];
  if (!path)
    throw usageError(
      `unknown resource "${resource}": use services, intentions, attribute-schemas, gateways, routes or secretpolicies`,
      'CLI_BAD_RESOURCE',
    );
  return path;
}

// biome-ignore lint/suspicious/noExplicitAny: a stored document's spec, read field by field
type Spec = Record<string, any>;
const spec = (i: StoredDocument): Spec => ((i.document as { spec?: Spec }).spec ?? {}) as Spec;
const nsOf = (i: StoredDocument) => i.namespace ?? 'default';
const shortName = (i: StoredDocument) => i.document.metadata.name;
const count = (part: unknown) =>
  String(Object.keys((part as { properties?: object } | undefined)?.properties ?? {}).length);

/** The text table of each resource: its columns (REVISION and UPDATED BY follow). */
const COLUMNS: Record<string, { head: string[]; row(i: StoredDocument, s: Spec): string[] }> = {
  services: {
    head: ['NAMESPACE', 'NAME', 'SPIFFE ID', 'OWNER'],
    row: (i, s) => [nsOf(i), shortName(i), s.spiffeId ?? '(default)', s.owner ?? ''],
  },
  intentions: {
    head: ['NAMESPACE', 'NAME', 'DESTINATION', 'MODE', 'RULES'],
    row: (i, s) => [
      nsOf(i),
      shortName(i),
      s.destination ?? '',
      s.mode ?? 'enforce',
      String(s.rules?.length ?? 0),
    ],
  },
  'attribute-schemas': {
    head: ['NAMESPACE', 'NAME', 'ZONE', 'ATTRIBUTES', 'LABELS'],
    row: (i, s) => [
      nsOf(i),
      shortName(i),
      typeof s.zone === 'string' ? s.zone : '(every zone)',
      count(s.attributes),
      count(s.labels),
    ],
  },
  gateways: {
    head: ['NAMESPACE', 'NAME', 'ISSUERS', 'API KEYS', 'CORS'],
    row: (i, s) => [
      nsOf(i),
      shortName(i),
      String(s.oidc?.length ?? 0),
      String(s.apiKeys?.length ?? 0),
      s.cors ? (s.cors.origins ?? []).join(',') : '-',
    ],
  },
  routes: {
    head: ['NAMESPACE', 'NAME', 'GATEWAY', 'MATCH', 'AUTH', 'UPSTREAM'],
    row: (i, s) => [
      nsOf(i),
      shortName(i),
      s.gateway ?? '',
      s.match?.path ?? (s.match?.pathPrefix !== undefined ? `${s.match.pathPrefix}*` : ''),
      s.auth ?? 'required',
      s.upstream?.service ?? '',
    ],
  },
  secretpolicies: {
    head: ['NAMESPACE', 'NAME', 'OWNER', 'TYPE', 'READERS', 'ROTATION'],
    row: (i, s) => [
      nsOf(i),
      shortName(i),
      s.owner ?? '',
      s.type ?? 'static',
      (s.readers ?? []).join(',') || '-',
      s.rotation?.every ?? '-',
    ],
  },
};

export function register(program: Command): void {
  withConnection(
    addOutputOption(
      program
        .command('get')
        .description(
          'list services, intentions, attribute schemas, gateways, routes or secret policies stored in the control plane',
        )
        .argument(
          '<resource>',
          'services, intentions, attribute-schemas, gateways, routes or secretpolicies',
        )
        .argument('[name]', 'one document by name (or namespace/name)')
        .option('--destination <service>', 'intentions on this destination only')
        .option('--gateway <service>', 'routes of this gateway only')
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
        gateway?: string;
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
      if (opts.gateway !== undefined)
        q.set('gateway', resolveKey(opts.gateway, opts.namespace, '--gateway'));
      const items = name
        ? [
            await call<StoredDocument>(
              opts,
              'GET',
              `/v1/${path}/${keySegment(resolveKey(name, opts.namespace))}`,
            ),
          ]
        : (await call<{ items: StoredDocument[] }>(opts, 'GET', `/v1/${path}?${q}`)).items;
      const docs = items.map((i) => ({
        ...i.document,
        metadata: { ...i.document.metadata, revision: i.updatedRevision },
      }));
      if (opts.output === 'json') {
        process.stdout.write(`${JSON.stringify(name ? docs[0] : docs, null, 2)}\n`);
      } else if (opts.output === 'yaml') {
        process.stdout.write(docs.map((d) => stringify(d)).join('---\n'));
      } else {
        const columns = COLUMNS[path]!;
        const rows = [[...columns.head, 'REVISION', 'UPDATED BY']];
        for (const i of items) {
          rows.push([...columns.row(i, spec(i)), String(i.updatedRevision), i.updatedBy]);
        }
        process.stdout.write(table(rows));
      }
    },
  );
}
