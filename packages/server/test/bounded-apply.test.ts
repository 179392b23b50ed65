/**
 * Bounded evaluation through the control plane (issue 9, item 4): `apply` used to accept an
 * invalid `matches()` pattern (it failed only at decision time) and any condition cost. Now the
 * stored policy is compiled with the same bounds as the PDP, so these are refused at apply with
 * their file, line and column, and nothing is stored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/index.ts';
import { cleanupDirs, http, startTestServer } from './helpers.ts';

let server: RunningServer;
let base: string;

beforeAll(async () => {
  server = await startTestServer();
  base = server.url;
});
afterAll(async () => {
  await server.close();
  cleanupDirs();
});

const intention = (when: string) => `apiVersion: ward.dev/v1
kind: Service
metadata: {name: api}
spec: {}
---
apiVersion: ward.dev/v1
kind: Intention
metadata: {name: api}
spec:
  destination: api
  rules:
    - sources: ["*"]
      action: allow
      when: '${when}'
`;

async function apply(when: string) {
  return http(base, 'POST', '/v1/apply', {
    body: { files: [{ name: 'api.yaml', content: intention(when) }] },
  });
}

describe('apply refuses unbounded conditions', () => {
  it('an invalid RE2 pattern, with its position', async () => {
    const res = await apply('request.path.matches("(a")');
    expect(res.status).toBe(422);
    expect(res.body.code).toBe('API_DOCUMENT_INVALID');
    expect(res.body.errors).toEqual([
      expect.objectContaining({
        code: 'POLICY_CEL_REGEX',
        field: '/spec/rules/0/when',
        file: 'api.yaml',
        line: 14,
        col: 13,
        message: expect.stringContaining('missing closing )'),
      }),
    ]);
    expect((await http(base, 'GET', '/v1/intentions/api')).status).toBe(404);
  });

  it('a backreference (JavaScript RegExp syntax that RE2 does not run)', async () => {
    const res = await apply('request.path.matches("(a)\\\\1")');
    expect(res.status).toBe(422);
    expect(res.body.errors[0].code).toBe('POLICY_CEL_REGEX');
  });

  it('comprehensions nested three deep', async () => {
    const res = await apply(
      'request.headers.all(a, request.headers.all(b, request.headers.all(c, a == c)))',
    );
    expect(res.status).toBe(422);
    expect(res.body.errors[0]).toEqual(
      expect.objectContaining({ code: 'POLICY_CEL_COST', line: 14, col: 13 }),
    );
  });

  it('accepts the catastrophic pattern of the attack: RE2 runs it in linear time', async () => {
    const res = await apply('request.path.matches("^/(a+)+$")');
    expect(res.status).toBe(200);
    expect(res.body.summary.created).toBe(2);
  });
});
