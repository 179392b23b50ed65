/** Fixtures of the secrets tests: Secret documents applied, tokens, an attested agent. */
import { AGENT_PROOF_HEADER, createCsr, generateKeyPair, signAgentProof } from '@ward/ca';
import { expect } from 'vitest';
import type { RunningServer } from '../src/index.ts';
import { FILE, http, SseClient, svc, yamlOf } from './helpers.ts';

/** Applies a `Secret` document through `POST /v1/apply`; returns the apply's revision. */
export async function putSecretDoc(
  server: RunningServer,
  name: string,
  spec: Record<string, unknown>,
): Promise<number> {
  const doc = { apiVersion: 'ward.dev/v1', kind: 'Secret', metadata: { name }, spec };
  const r = await http(server.url, 'POST', '/v1/apply', {
    body: { files: [{ name: `${name}.json`, content: JSON.stringify(doc) }] },
  });
  expect(r.status, r.text).toBe(200);
  return r.body.revision as number;
}

/** Deletes a `Secret` document through the documents API. */
export async function deleteSecretDoc(server: RunningServer, name: string): Promise<void> {
  const r = await http(server.url, 'DELETE', `/v1/secretpolicies/${encodeURIComponent(name)}`);
  expect(r.status, r.text).toBeLessThan(300);
}

export async function applyServices(base: string, names: string[]): Promise<void> {
  const r = await http(base, 'POST', '/v1/apply', FILE(yamlOf(names.map((n) => svc(n)))));
  expect(r.status, r.text).toBe(200);
}

export async function token(
  base: string,
  scope: 'team' | 'pdp',
  services: string[],
): Promise<string> {
  const r = await http(base, 'POST', '/v1/tokens', {
    body: { name: `${scope}-${services.join('-')}`, scope, services },
  });
  expect(r.status, r.text).toBe(201);
  return r.body.token as string;
}

/** An agent attested on `node`, with registration entries for `services`' SPIFFE IDs. */
export async function attestedAgent(
  base: string,
  node: string,
  spiffeIds: string[],
): Promise<{ watch(): Promise<SseClient>; entryIds: string[] }> {
  const jt = await http(base, 'POST', '/v1/ca/join-tokens', { body: { node, ttlSeconds: 120 } });
  expect(jt.status, jt.text).toBe(201);
  const entryIds: string[] = [];
  for (const spiffeId of spiffeIds) {
    const e = await http(base, 'POST', '/v1/ca/entries', {
      body: { spiffeId, node, selectors: ['unix:uid:1000'] },
    });
    expect(e.status, e.text).toBe(201);
    entryIds.push(e.body.id);
  }
  const keys = await generateKeyPair();
  const att = await http(base, 'POST', '/v1/agent/attest', {
    token: null,
    body: { joinToken: jt.body.token, csr: await createCsr(keys) },
  });
  expect(att.status, att.text).toBe(200);
  return {
    entryIds,
    async watch() {
      const proof = await signAgentProof({
        privateKey: keys.privateKey,
        chainPem: att.body.chain,
        spiffeId: att.body.spiffeId,
        method: 'GET',
        path: '/v1/agent/watch',
      });
      const c = await SseClient.open(`${base}/v1/agent/watch`, '', { [AGENT_PROOF_HEADER]: proof });
      expect(c.status).toBe(200);
      return c;
    },
  };
}
