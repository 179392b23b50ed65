/**
 * A CheckRequest is untrusted input (any workload's Envoy, or anything that can reach the
 * socket, may send one): whatever it holds, `Check` answers a valid CheckResponse — OK with an
 * `ok_response`, or a non-OK status with a `denied_response` — and no input makes it fail
 * internally (it would still deny, fail closed, as EXT_AUTHZ_INTERNAL).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passport } from '../../sdk/test/_policy-fixture.ts';
import { type CheckResponse, extAuthzService, SERVICE_EXTENSION } from '../src/index.ts';
import { authorizationClient, envoyCheck, fixtureAuthz, id, Recorder } from './_ext-authz.ts';

const DENIAL_CODES = new Set([3, 7, 13, 16]);

/** A valid answer: OK with ok_response, or a denial with an HTTP status and a JSON problem. */
function expectValid(response: CheckResponse, httpStatus: (code: unknown) => boolean): void {
  const code = response.status?.code ?? 0;
  if (code === 0) {
    expect(response.ok_response).toBeDefined();
    expect(response.denied_response).toBeUndefined();
    return;
  }
  expect(DENIAL_CODES.has(code)).toBe(true);
  expect(response.ok_response).toBeUndefined();
  expect(httpStatus(response.denied_response?.status?.code)).toBe(true);
  const problem = JSON.parse(response.denied_response!.body) as { code?: unknown };
  expect(typeof problem.code).toBe('string');
  // `check` turns any exception into this denial: no input may cause one.
  expect(problem.code).not.toBe('EXT_AUTHZ_INTERNAL');
}

const names = fc.constantFrom('orders', 'payments', 'frontend', 'monitoring', 'ghost');
const principal = fc.oneof(
  names.map(id),
  fc.string(),
  fc.constant(''),
  fc.webUrl(),
  fc.constant('spiffe://ward.test'),
);
const headerName = fc.oneof(
  fc.constantFrom(
    ':authority',
    ':path',
    ':method',
    'host',
    'content-type',
    'x-ward-passport',
    'x-ward-source',
    '__proto__',
    'constructor',
  ),
  fc.string({ maxLength: 12 }),
);
const headerValue = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom('application/grpc', 'application/grpc+proto', passport({ sub: 'eve' })),
);
const path = fc.oneof(
  fc.constantFrom('/orders', '/orders/export', '/shop.Orders/Get', '/', '*', '', '/%2e%2e/x'),
  fc.string({ maxLength: 40 }),
  fc.webPath(),
);
const method = fc.oneof(
  fc.constantFrom('GET', 'POST', 'HEAD', 'CONNECT', 'get', ''),
  fc.string({ maxLength: 8 }),
);

/** CheckRequests in Envoy's shape with random contents (every field may also be missing). */
const checkRequest = fc.record(
  {
    attributes: fc.record(
      {
        source: fc.record({ principal }, { requiredKeys: [] }),
        destination: fc.record({ principal }, { requiredKeys: [] }),
        request: fc.record(
          {
            http: fc.record(
              {
                id: fc.string({ maxLength: 20 }),
                method,
                path,
                host: fc.string({ maxLength: 20 }),
                headers: fc.dictionary(headerName, headerValue, { maxKeys: 8 }),
                header_map: fc.record({
                  headers: fc.array(
                    fc.record(
                      {
                        key: headerName,
                        value: headerValue,
                        raw_value: fc.uint8Array({ maxLength: 16 }),
                      },
                      { requiredKeys: [] },
                    ),
                    { maxLength: 4 },
                  ),
                }),
              },
              { requiredKeys: [] },
            ),
          },
          { requiredKeys: [] },
        ),
        context_extensions: fc.dictionary(
          fc.oneof(fc.constant(SERVICE_EXTENSION), fc.string({ maxLength: 10 })),
          fc.oneof(names, fc.string({ maxLength: 20 })),
          { maxKeys: 3 },
        ),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);

describe('ext_authz Check on untrusted CheckRequests', () => {
  const authz = fixtureAuthz(new Recorder());
  const mayAsk = fc.func(fc.boolean());

  it('answers any value with a valid CheckResponse, never throwing', () => {
    fc.assert(
      fc.property(fc.oneof(checkRequest, fc.anything()), mayAsk, (request, scope) => {
        expectValid(authz.check(request, scope), (code) =>
          [400, 401, 403, 500].includes(code as number),
        );
      }),
      { numRuns: 3000 },
    );
  });

  it('denies when the scope itself fails (fail closed, a CheckResponse all the same)', () => {
    const response = authz.check(
      envoyCheck({ source: id('payments'), destination: id('orders') }),
      () => {
        throw new Error('lookup failed');
      },
    );
    expect(response.status.code).toBe(13);
    expect(JSON.parse(response.denied_response!.body)).toMatchObject({
      code: 'EXT_AUTHZ_INTERNAL',
    });
  });

  describe('over gRPC (the protos encode every answer)', () => {
    let server: grpc.Server;
    let dir: string;
    let client: ReturnType<typeof authorizationClient>;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'ward-xauthz-prop-'));
      server = new grpc.Server();
      // Every caller may ask about orders: the requests, not the scope, are under test here.
      const { definition, implementation } = extAuthzService(authz, () => (s) => s === 'orders');
      server.addService(definition, implementation);
      await new Promise<void>((resolve, reject) =>
        server.bindAsync(
          `unix://${join(dir, 'x.sock')}`,
          grpc.ServerCredentials.createInsecure(),
          (e) => (e ? reject(e) : resolve()),
        ),
      );
      client = authorizationClient(`unix://${join(dir, 'x.sock')}`);
    });
    afterAll(() => {
      client?.close();
      server?.forceShutdown();
      rmSync(dir, { recursive: true, force: true });
    });

    it('answers random Envoy-shaped requests with valid CheckResponses', async () => {
      const HTTP_STATUS = new Set([
        'BadRequest',
        'Unauthorized',
        'Forbidden',
        'InternalServerError',
      ]);
      await fc.assert(
        fc.asyncProperty(checkRequest, async (request) => {
          expectValid(await client.check(request), (code) => HTTP_STATUS.has(code as string));
        }),
        { numRuns: 200 },
      );
    });
  });
});
