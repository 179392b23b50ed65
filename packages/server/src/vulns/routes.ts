/**
 * `POST /v1/vulns/scan` and `POST /v1/vulns/reload` (docs/api.md, "Vulnerability triage").
 *
 * A scan is the same analysis as `ward vulns -f … -o json`, with two differences a reader of the
 * answer must know: the exposure comes from the control plane's graph (the one `GET /v1/graph`
 * serves, for the window `?since=`), and reachability is `unknown` for every finding, because
 * the API has no source tree (the answer's `scan.reachability` says so). The lockfiles are
 * hostile input: the body is bounded (413 beyond), and anything a parser refuses is a 400 naming
 * the lockfile and the entry, never a 500.
 */
import { canonicalServiceKey } from '@ward/spiffe';
import {
  exposureOf,
  type FailCondition,
  failOn,
  type Inventory,
  parseFailOn,
  parseSuppressions,
  readInventory,
  type ScanOutcome,
  scan,
  toCycloneDxVex,
  toOpenVex,
  toSarif,
  toScanJson,
  VulnsError,
} from '@ward/vulns';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { owns, type Principal } from '../auth/tokens.ts';
import { ServerError } from '../errors.ts';
import { principalOf } from '../http/auth-hook.ts';
import { bearer, nameParam, problemResponses } from '../http/schemas.ts';
import { sinceParam } from '../ingest/graph-routes.ts';
import { loadGraph } from '../ingest/graph-source.ts';
import { windowStart } from '../ingest/windows.ts';
import { appendAudit } from '../store/audit.ts';
import type { VulnsState } from './plugin.ts';

const FORMATS = ['json', 'sarif', 'cyclonedx-vex', 'openvex'] as const;
type Format = (typeof FORMATS)[number];

/** Most lockfiles in one scan (a monorepo's few, not a fleet's). */
export const MAX_LOCKFILES = 32;

/** What every scan answer says about reachability over the API. */
export const API_REACHABILITY =
  'not analysed: the API has no source tree, so every verdict is unknown (never suppressed); run `ward vulns --source DIR --server URL --service KEY` locally for verdicts with this exposure';

interface ScanBody {
  service: string;
  lockfiles: { name: string; content: string }[];
  suppressions?: string;
  failOn?: string;
}

const scanBody = {
  type: 'object',
  additionalProperties: false,
  required: ['service', 'lockfiles'],
  properties: {
    service: {
      ...nameParam,
      description:
        'The service the lockfiles belong to (`name` or `namespace/name`): a team token must own it',
    },
    lockfiles: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_LOCKFILES,
      description: 'Lockfiles and SBOMs; their packages are pooled (`ward vulns -f` repeated)',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'content'],
        properties: {
          name: {
            type: 'string',
            minLength: 1,
            maxLength: 256,
            description:
              'Its file name (`package-lock.json`, `pnpm-lock.yaml`, …): names it in errors and helps detect the format',
          },
          content: {
            type: 'string',
            description: 'Its text: npm, pnpm or yarn lockfile, CycloneDX or SPDX JSON',
          },
        },
      },
    },
    suppressions: {
      type: 'string',
      description: 'A suppressions file (YAML or JSON) as text, as `ward vulns --suppressions`',
    },
    failOn: {
      type: 'string',
      minLength: 1,
      maxLength: 1024,
      description:
        'A `--fail-on` spec (e.g. `kev,high,epss>=0.1`): the answer says in `scan.gate` (and the `x-ward-vulns-gate` header) whether it failed',
    },
  },
} as const;

const scanResponse = {
  type: 'object',
  description:
    'The report of `ward vulns -o json` (`version`, `summary`, `findings`) plus `scan`: the service, its exposure (null when the graph has no such service), the graph window, the reachability note and the gate',
  additionalProperties: true,
} as const;

/**
 * Runs `fn` on client input; whatever it refuses is a 400 naming `field` and the input's `label`
 * (the lockfile's name), never a 500.
 */
function clientInput<T>(app: FastifyInstance, field: string, fn: () => T, label = field): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof VulnsError) {
      throw new ServerError('API_VALIDATION', error.message, {
        errors: [{ field, message: error.message, code: error.code }],
      });
    }
    // A parser that throws anything else on hostile input is our bug: logged, still a 400.
    app.log.warn({ err: error }, `vulns: ${field} was refused by an unexpected error`);
    throw new ServerError('API_VALIDATION', `${label}: could not be read`, {
      errors: [{ field, message: 'could not be read' }],
    });
  }
}

function ownedService(principal: Principal, text: string): string {
  const service = canonicalServiceKey(text);
  if (service === undefined || !owns(principal, service)) {
    throw new ServerError(
      'API_FORBIDDEN',
      `token "${principal.name}" may scan only a service it owns, not "${text}"`,
      {
        errors: [
          { field: '/service', message: "not one of this token's services", code: 'API_NOT_OWNER' },
        ],
      },
    );
  }
  return service;
}

function send(
  reply: FastifyReply,
  format: Format,
  body: ScanBody,
  service: string,
  result: ScanOutcome,
  extra: Record<string, unknown>,
  now: number,
) {
  const timestamp = new Date(Math.floor(now / 1000) * 1000).toISOString().replace('.000Z', 'Z');
  const first = body.lockfiles[0]!;
  switch (format) {
    case 'sarif':
      return reply
        .type('application/sarif+json')
        .send(toSarif(result.findings, { lockfile: first.name, lockfileText: first.content }));
    case 'cyclonedx-vex':
      return reply
        .type('application/vnd.cyclonedx+json')
        .send(toCycloneDxVex(result.findings, { name: service }, { timestamp }));
    case 'openvex':
      return reply
        .type('application/json')
        .send(toOpenVex(result.findings, { name: service }, { timestamp }));
    default:
      return reply.type('application/json').send(toScanJson(result, extra));
  }
}

export function vulnsRoutes(
  app: FastifyInstance,
  options: { state: VulnsState; now: () => number; maxBodyBytes: number },
): void {
  const { state } = options;

  app.post<{ Body: ScanBody; Querystring: { format: Format; since: string } }>(
    '/v1/vulns/scan',
    {
      config: { auth: ['admin', 'team'] },
      bodyLimit: options.maxBodyBytes,
      schema: {
        tags: ['vulns'],
        summary:
          "Rank the advisories matching a service's lockfiles, with its exposure from the graph (reachability unknown)",
        security: bearer,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            format: { type: 'string', enum: [...FORMATS], default: 'json' },
            since: sinceParam,
          },
        },
        body: scanBody,
        response: {
          200: {
            description:
              'The report (JSON), or with format=sarif|cyclonedx-vex|openvex that document',
            content: {
              'application/json': { schema: scanResponse },
              'application/sarif+json': { schema: { type: 'object' } },
              'application/vnd.cyclonedx+json': { schema: { type: 'object' } },
            },
          },
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { body } = request;
      const service = ownedService(principal, body.service);
      const data = state.data();
      const now = options.now();
      const conditions: FailCondition[] | undefined =
        body.failOn !== undefined
          ? clientInput(app, '/failOn', () => parseFailOn(body.failOn!))
          : undefined;
      const inventories: Inventory[] = body.lockfiles.map((l, i) =>
        clientInput(app, `/lockfiles/${i}/content`, () => readInventory(l.content, l.name), l.name),
      );
      const suppressions =
        body.suppressions !== undefined
          ? clientInput(app, '/suppressions', () =>
              parseSuppressions(body.suppressions!, 'suppressions'),
            )
          : undefined;
      const since = windowStart(request.query.since, now);
      // The graph GET /v1/graph serves, built by the same code for the same window.
      const { graph } = await loadGraph(app, since);
      const exposure = exposureOf(graph, service);
      const result = scan({
        inventory: inventories,
        advisories: data.advisories,
        ...(data.epss ? { epss: data.epss } : {}),
        ...(data.kev ? { kev: data.kev } : {}),
        ...(exposure ? { exposure } : {}),
        ...(suppressions ? { suppressions } : {}),
        service,
        now,
      });
      const gate = conditions ? failOn(result.findings, conditions) : undefined;
      const unsuppressed = result.findings.filter((f) => !f.suppressed);
      await app.ward.store.transaction((trx) =>
        appendAudit(trx, principal, 'vulns.scan', service, {
          lockfiles: body.lockfiles.map((l) => l.name),
          naive: result.naive,
          findings: result.findings.length,
          unsuppressed: unsuppressed.length,
          kev: unsuppressed.filter((f) => f.exploit.kev).length,
          ...(gate ? { gateFailed: gate.failed } : {}),
        }),
      );
      reply.header('cache-control', 'no-store');
      if (gate) reply.header('x-ward-vulns-gate', gate.failed ? 'fail' : 'pass');
      const context = {
        service,
        exposure: exposure ?? null,
        ...(exposure
          ? {}
          : { exposureNote: `${service} is not in the graph: exposure not ranked` }),
        graphSince: new Date(since).toISOString(),
        reachability: API_REACHABILITY,
        ...(gate ? { gate } : {}),
      };
      return send(reply, request.query.format, body, service, result, { scan: context }, now);
    },
  );

  app.post(
    '/v1/vulns/reload',
    {
      config: { auth: ['admin'] },
      schema: {
        tags: ['vulns'],
        summary:
          'Load the advisory set (OSV, EPSS, KEV files) again; the old set serves until then',
        security: bearer,
        response: {
          200: {
            type: 'object',
            required: ['advisories', 'skipped', 'withdrawn'],
            properties: {
              advisories: { type: 'integer' },
              skipped: { type: 'integer', description: 'OSV records that did not parse' },
              withdrawn: { type: 'integer' },
              epss: { type: ['integer', 'null'] },
              kev: { type: ['integer', 'null'] },
            },
          },
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      let data: Awaited<ReturnType<VulnsState['reload']>>;
      try {
        data = await state.reload();
      } catch (error) {
        if (error instanceof ServerError) throw error;
        throw new ServerError(
          'SERVER_CONFIG_INVALID',
          `reloading the advisories failed; the previous set stays in use: ${(error as Error).message}`,
          { cause: error },
        );
      }
      const counts = {
        advisories: data.advisories.advisories.length,
        skipped: data.advisories.skipped.length,
        withdrawn: data.advisories.withdrawn,
        epss: data.epss?.size ?? null,
        kev: data.kev?.size ?? null,
      };
      await app.ward.store.transaction((trx) =>
        appendAudit(trx, principal, 'vulns.reload', 'advisories', counts),
      );
      return counts;
    },
  );
}
