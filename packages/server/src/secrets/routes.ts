/**
 * The secrets API (docs/api.md, secrets). Admins, and `team` tokens owning a secret's owner
 * service, manage it; a secret without a `Secret` document is an admin's only, and no value may
 * be written to it. `GET …/value` is also open to a `pdp` principal (token or SVID) of a reader
 * service. No answer, audit entry or error ever carries a value except `GET …/value`'s.
 */
import type { SecretSummaryV1, SecretVersionInfoV1 } from '@ward/api-types';
import { checkSecretData, currentVersion, generateValue, isValid } from '@ward/secrets';
import { canonicalServiceKey } from '@ward/spiffe';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { owns, type Principal } from '../auth/tokens.ts';
import { ServerError } from '../errors.ts';
import { bearer, nameParam, problemResponses } from '../http/schemas.ts';
import { appendAudit } from '../store/audit.ts';
import { formatDuration, type SecretDeclaration } from './declaration.ts';
import { kekProblem, type SecretStore, type VersionRecord } from './store.ts';

/** What the routes need beyond the store. */
export interface SecretRouteDeps {
  secrets: SecretStore;
  /** Active leases of a secret (0 until the leases part is registered). */
  activeLeases: (secret: string) => Promise<number>;
  /**
   * Called before a secret's versions are destroyed: revokes its leases and those made with it
   * as their connection. A failure (502) leaves the values in place, to retry.
   */
  deleting: (secret: string) => Promise<void>;
  /** A value write succeeded (metrics). */
  wrote: (operation: string) => void;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function stateOf(
  v: VersionRecord,
  current: VersionRecord | undefined,
  now: number,
): SecretVersionInfoV1['state'] {
  if (v.destroyed) return 'destroyed';
  if (!isValid(v, now)) return 'expired';
  if (current?.version === v.version) return 'current';
  return v.notBefore > now ? 'pending' : 'previous';
}

export function versionInfos(
  versions: readonly VersionRecord[],
  now: number,
): SecretVersionInfoV1[] {
  const current = currentVersion(
    versions.filter((v) => !v.destroyed),
    now,
  );
  return versions.map((v) => ({
    version: v.version,
    createdAt: new Date(v.createdAt).toISOString(),
    createdBy: v.createdBy,
    notBefore: new Date(v.notBefore).toISOString(),
    notAfter: iso(v.notAfter),
    state: stateOf(v, current, now),
    source: v.source,
    kek: v.kek,
  }));
}

export function summaryOf(
  key: string,
  decl: SecretDeclaration | undefined,
  versions: readonly VersionRecord[],
  now: number,
  activeLeases: number,
): SecretSummaryV1 {
  const current = currentVersion(
    versions.filter((v) => !v.destroyed),
    now,
  );
  const newest = versions.reduce<VersionRecord | undefined>(
    (m, v) => (!m || v.createdAt > m.createdAt ? v : m),
    undefined,
  );
  const rotation = decl?.rotation ?? { everyMs: null, graceMs: 3_600_000, activationMs: 5_000 };
  return {
    secret: key,
    owner: decl?.owner ?? null,
    type: decl?.type ?? 'static',
    readers: decl?.readers ?? [],
    currentVersion: current?.version ?? null,
    versionCount: versions.length,
    updatedAt: newest ? new Date(newest.createdAt).toISOString() : null,
    rotation: {
      every: rotation.everyMs === null ? null : formatDuration(rotation.everyMs),
      grace: formatDuration(rotation.graceMs),
      activation: formatDuration(rotation.activationMs),
    },
    nextRotationAt:
      rotation.everyMs === null ? null : iso(newest ? newest.createdAt + rotation.everyMs : now),
    activeLeases,
  };
}

const summaryProperties = {
  secret: { type: 'string' },
  owner: { type: ['string', 'null'] },
  type: { type: 'string', enum: ['static', 'random', 'keypair', 'postgres'] },
  readers: { type: 'array', items: { type: 'string' } },
  currentVersion: { type: ['integer', 'null'] },
  versionCount: { type: 'integer' },
  updatedAt: { type: ['string', 'null'] },
  rotation: {
    type: 'object',
    properties: {
      every: { type: ['string', 'null'] },
      grace: { type: 'string' },
      activation: { type: 'string' },
    },
  },
  nextRotationAt: { type: ['string', 'null'] },
  activeLeases: { type: 'integer' },
} as const;

const versionInfoSchema = {
  type: 'object',
  properties: {
    version: { type: 'integer' },
    createdAt: { type: 'string' },
    createdBy: { type: 'string' },
    notBefore: { type: 'string' },
    notAfter: { type: ['string', 'null'] },
    state: { type: 'string', enum: ['pending', 'current', 'previous', 'expired', 'destroyed'] },
    source: { type: 'string', enum: ['put', 'rotate', 'rollback'] },
    kek: { type: 'string' },
  },
} as const;

const writeResult = {
  type: 'object',
  properties: {
    secret: { type: 'string' },
    version: { type: 'integer' },
    notBefore: { type: 'string' },
    from: { type: 'integer' },
  },
} as const;

const secretParams = {
  type: 'object',
  required: ['secret'],
  additionalProperties: false,
  properties: { secret: nameParam },
} as const;

const tags = ['secrets'];

/** The key in the path (`shop%2Fapi-key`; `default/x` is `x`); the schema checked its shape. */
function keyOf(request: FastifyRequest): string {
  const raw = (request.params as { secret: string }).secret;
  return canonicalServiceKey(raw) ?? raw;
}

export function secretRoutes(app: FastifyInstance, deps: SecretRouteDeps): void {
  const { secrets } = deps;

  /**
   * The declaration of `key` after checking that `principal` may manage it (or, with `read`,
   * read its value). 404 when the secret has neither a document nor versions.
   */
  async function authorize(
    principal: Principal,
    key: string,
    mode: 'manage' | 'write' | 'read',
  ): Promise<SecretDeclaration | undefined> {
    const decl = await secrets.declaration(key);
    if (!decl) {
      if ((await secrets.versions(key)).length === 0) {
        throw new ServerError('SECRET_NOT_FOUND', `no secret named ${key}`, {
          errors: [{ field: 'params.secret', message: 'unknown secret' }],
        });
      }
      if (mode === 'write') {
        throw new ServerError(
          'SECRET_NOT_DECLARED',
          `secret ${key} has no Secret document; apply one before writing values`,
          { errors: [{ field: 'params.secret', message: 'not declared' }] },
        );
      }
      if (principal.scope !== 'admin') {
        throw new ServerError('API_FORBIDDEN', `secret ${key} is not declared: admins only`);
      }
      return undefined;
    }
    const reader =
      mode === 'read' &&
      principal.scope === 'pdp' &&
      decl.readers.some((r) => principal.services.has(r));
    const owner = principal.scope !== 'pdp' && owns(principal, decl.owner);
    if (!owner && !reader) {
      throw new ServerError(
        'API_FORBIDDEN',
        mode === 'read'
          ? `not an owner of ${decl.owner} nor a reader of secret ${key}`
          : `secret ${key} belongs to ${decl.owner}, which this token does not own`,
      );
    }
    return decl;
  }

  async function declared(principal: Principal, key: string): Promise<SecretDeclaration> {
    const decl = await authorize(principal, key, 'write');
    if (!decl) throw new ServerError('SECRET_NOT_DECLARED', `secret ${key} is not declared`);
    return decl;
  }

  app.get(
    '/v1/secrets',
    {
      config: { auth: ['admin', 'team'] },
      schema: {
        tags,
        summary: 'The secrets the caller owns (declared ones without a value too); never a value',
        security: bearer,
        response: {
          200: {
            type: 'object',
            properties: {
              items: { type: 'array', items: { type: 'object', properties: summaryProperties } },
            },
          },
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const principal = request.principal!;
      const now = secrets.now();
      const declared = (await secrets.declarations()).map((d) => d.decl);
      const keys = new Map<string, SecretDeclaration | undefined>();
      for (const d of declared) if (owns(principal, d.owner)) keys.set(d.key, d);
      if (principal.scope === 'admin') {
        for (const k of await secrets.keysWithVersions()) if (!keys.has(k)) keys.set(k, undefined);
      }
      const items = [];
      for (const [key, decl] of [...keys].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        items.push(
          summaryOf(key, decl, await secrets.versions(key), now, await deps.activeLeases(key)),
        );
      }
      return { items };
    },
  );

  app.get(
    '/v1/secrets/:secret',
    {
      config: { auth: ['admin', 'team'] },
      schema: {
        tags,
        summary: "A secret's summary and its versions' metadata; never a value",
        security: bearer,
        params: secretParams,
        response: {
          200: {
            type: 'object',
            properties: {
              ...summaryProperties,
              versions: { type: 'array', items: versionInfoSchema },
            },
          },
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const key = keyOf(request);
      const decl = await authorize(request.principal!, key, 'manage');
      const versions = await secrets.versions(key);
      const now = secrets.now();
      return {
        ...summaryOf(key, decl, versions, now, await deps.activeLeases(key)),
        versions: versionInfos(versions, now),
      };
    },
  );

  app.get(
    '/v1/secrets/:secret/versions',
    {
      config: { auth: ['admin', 'team'] },
      schema: {
        tags,
        summary: "A secret's versions: times, state, source and KEK; never a value",
        security: bearer,
        params: secretParams,
        response: {
          200: {
            type: 'object',
            properties: { items: { type: 'array', items: versionInfoSchema } },
          },
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const key = keyOf(request);
      await authorize(request.principal!, key, 'manage');
      return { items: versionInfos(await secrets.versions(key), secrets.now()) };
    },
  );

  app.put(
    '/v1/secrets/:secret',
    {
      config: { auth: ['admin', 'team'] },
      bodyLimit: 256 * 1024,
      schema: {
        tags,
        summary:
          'Writes a new version ({ data: { field: value } }): pending for the activation delay, then current',
        description:
          '404 SECRET_NOT_DECLARED without a Secret document; 400 SECRET_VALUE_INVALID beyond the ' +
          'limits (64 fields, names [A-Za-z_][A-Za-z0-9_.-]{0,63}, 64 KiB in all).',
        security: bearer,
        params: secretParams,
        body: {
          type: 'object',
          required: ['data'],
          additionalProperties: false,
          properties: { data: { type: 'object' } },
        },
        response: { 200: writeResult, ...problemResponses },
      },
    },
    async (request) => {
      const key = keyOf(request);
      const principal = request.principal!;
      const decl = await declared(principal, key);
      if (decl.type === 'postgres') {
        throw new ServerError(
          'SECRET_VALUE_INVALID',
          `secret ${key} is a postgres secret: its credentials are leased, not stored`,
          { errors: [{ field: '/data', message: 'postgres secrets hold no value' }] },
        );
      }
      let data: Record<string, string>;
      try {
        data = checkSecretData((request.body as { data: unknown }).data);
      } catch (error) {
        throw kekProblem(error, key);
      }
      const w = await secrets.put(key, data, principal, decl);
      deps.wrote('put');
      return { secret: key, version: w.version, notBefore: new Date(w.notBefore).toISOString() };
    },
  );

  app.post(
    '/v1/secrets/:secret/rotate',
    {
      config: { auth: ['admin', 'team'] },
      schema: {
        tags,
        summary: 'Generates a new version of a random or keypair secret',
        description: '409 SECRET_NOT_GENERATED for static and postgres secrets.',
        security: bearer,
        params: secretParams,
        response: { 200: writeResult, ...problemResponses },
      },
    },
    async (request) => {
      const key = keyOf(request);
      const principal = request.principal!;
      const decl = await declared(principal, key);
      if (decl.type !== 'random' && decl.type !== 'keypair') {
        throw new ServerError(
          'SECRET_NOT_GENERATED',
          `secret ${key} is ${decl.type}: only random and keypair secrets are generated (PUT a value instead)`,
        );
      }
      const w = await secrets.rotate(key, principal, decl, () => generateValue(decl));
      deps.wrote('rotate');
      return { secret: key, version: w.version, notBefore: new Date(w.notBefore).toISOString() };
    },
  );

  app.post(
    '/v1/secrets/:secret/rollback',
    {
      config: { auth: ['admin', 'team'] },
      schema: {
        tags,
        summary: "Writes a new version holding an earlier version's value",
        security: bearer,
        params: secretParams,
        body: {
          type: 'object',
          required: ['version'],
          additionalProperties: false,
          properties: { version: { type: 'integer', minimum: 1 } },
        },
        response: { 200: writeResult, ...problemResponses },
      },
    },
    async (request) => {
      const key = keyOf(request);
      const principal = request.principal!;
      const decl = await declared(principal, key);
      const from = (request.body as { version: number }).version;
      const w = await secrets.rollback(key, from, principal, decl);
      deps.wrote('rollback');
      return {
        secret: key,
        version: w.version,
        notBefore: new Date(w.notBefore).toISOString(),
        from,
      };
    },
  );

  app.get(
    '/v1/secrets/:secret/value',
    {
      config: { auth: ['admin', 'team', 'pdp'] },
      schema: {
        tags,
        summary: 'The value of the current version (or ?version=N); audited as secret.read',
        description:
          "Owners, admins, and a pdp principal (token or SVID) of one of the secret's readers.",
        security: bearer,
        params: secretParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { version: { type: 'integer', minimum: 1 } },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              secret: { type: 'string' },
              version: { type: 'integer' },
              data: { type: 'object', additionalProperties: { type: 'string' } },
              notBefore: { type: 'string' },
              notAfter: { type: ['string', 'null'] },
            },
          },
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const key = keyOf(request);
      const principal = request.principal!;
      await authorize(principal, key, 'read');
      const version = (request.query as { version?: number }).version;
      const value = await secrets.read(key, version);
      // A workload reads what the agent would hand it: versions valid now, not the history
      // its owners keep.
      if (principal.scope === 'pdp' && value.notAfter !== null && value.notAfter <= secrets.now()) {
        throw new ServerError(
          'SECRET_VERSION_NOT_FOUND',
          `version ${value.version} of ${key} is no longer valid`,
          { errors: [{ field: 'querystring.version', message: 'expired' }] },
        );
      }
      await app.ward.store.transaction((trx) =>
        appendAudit(trx, principal, 'secret.read', key, {
          version: value.version,
          via: principal.via,
        }),
      );
      reply.header('cache-control', 'no-store');
      return {
        secret: key,
        version: value.version,
        data: value.data,
        notBefore: new Date(value.notBefore).toISOString(),
        notAfter: iso(value.notAfter),
      };
    },
  );

  app.delete(
    '/v1/secrets/:secret',
    {
      config: { auth: ['admin', 'team'] },
      schema: {
        tags,
        summary: 'Destroys every version of a secret (metadata kept) and revokes its leases',
        security: bearer,
        params: secretParams,
        response: { 204: { type: 'null' }, ...problemResponses },
      },
    },
    async (request, reply) => {
      const key = keyOf(request);
      const principal = request.principal!;
      await authorize(principal, key, 'manage');
      // Leases first, while the admin URL can still be read: a connection secret destroyed
      // before the leases made with it would leave their roles beyond revocation.
      await deps.deleting(key);
      if ((await secrets.versions(key)).length > 0) await secrets.destroy(key, principal);
      deps.wrote('delete');
      return reply.code(204).send();
    },
  );

  app.post(
    '/v1/secrets/rewrap',
    {
      config: { auth: ['admin'] },
      schema: {
        tags,
        summary: 'Re-wraps every data key not under the current KEK, online',
        description:
          'Run after putting a new KEK first in WARD_SECRETS_KEK (keeping the old one after it) ' +
          'on every replica; once it answers, the old KEK may be dropped. 503 ' +
          'SECRET_KEK_UNAVAILABLE when a data key is wrapped by a KEK the ring lacks.',
        security: bearer,
        response: {
          200: {
            type: 'object',
            properties: { rewrapped: { type: 'integer' }, kek: { type: 'string' } },
          },
          ...problemResponses,
        },
      },
    },
    async (request) => secrets.rewrap(request.principal!),
  );
}
