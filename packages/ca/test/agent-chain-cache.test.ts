import { describe, expect, it } from 'vitest';
import {
  AgentChainCache,
  CaService,
  createCsr,
  generateKeyPair,
  generateSealKey,
  MemoryCaStore,
  parseSealKey,
  signAgentProof,
  trustBundleCerts,
  verifyAgentProof,
} from '../src/index.ts';

const PATH = '/v1/agent/watch';

/** A CA on a settable clock and one attested agent of it, with a proof signer. */
async function setup(options: { agentChainCacheSize?: number } = {}) {
  const clock = { now: Date.now() };
  const ca = new CaService({
    store: new MemoryCaStore(),
    sealKey: parseSealKey(generateSealKey()),
    trustDomain: 'example.org',
    agentSvidTtlSeconds: 600,
    now: () => clock.now,
    ...options,
  });
  const attest = async (node: string) => {
    const keys = await generateKeyPair();
    const { token } = await ca.createJoinToken({ node });
    const svid = await ca.attestAgent({ joinToken: token, csr: await createCsr(keys) });
    const proof = (opts: { key?: CryptoKey; path?: string } = {}) =>
      signAgentProof({
        privateKey: opts.key ?? keys.privateKey,
        chainPem: svid.chain,
        spiffeId: svid.spiffeId,
        method: 'GET',
        path: opts.path ?? PATH,
        now: clock.now,
      });
    return { svid, proof };
  };
  return { clock, ca, attest };
}

describe('agent chain cache (verified agent chains, server side)', () => {
  it('accepts a valid proof from the cache, and still checks every proof signature', async () => {
    const { ca, attest } = await setup();
    const a = await attest('n1');
    const first = await ca.authenticateAgent(await a.proof(), 'GET', PATH);
    expect(first).toMatchObject({ spiffeId: 'spiffe://example.org/ward/agent/n1', node: 'n1' });
    expect(ca.agentChains).toMatchObject({ hits: 0, misses: 1, size: 1 });
    const second = await ca.authenticateAgent(await a.proof(), 'GET', PATH);
    expect(second).toEqual(first);
    expect(ca.agentChains).toMatchObject({ hits: 1, size: 1 });

    // The same (cached) chain with a proof signed by another key: the signature still decides.
    const stranger = await generateKeyPair();
    await expect(
      ca.authenticateAgent(await a.proof({ key: stranger.privateKey }), 'GET', PATH),
    ).rejects.toMatchObject({ code: 'CA_AGENT_PROOF' });
    // A cached chain's proof for another path is refused too.
    await expect(
      ca.authenticateAgent(await a.proof({ path: '/v1/agent/sync' }), 'GET', PATH),
    ).rejects.toMatchObject({ code: 'CA_AGENT_PROOF' });
    // A proof whose signature bytes were altered, over the cached chain.
    const token = await a.proof();
    const last = token.at(-2) === 'A' ? 'B' : 'A';
    const forged = `${token.slice(0, -2)}${last}${token.at(-1)}`;
    await expect(ca.authenticateAgent(forged, 'GET', PATH)).rejects.toMatchObject({
      code: 'CA_AGENT_PROOF',
    });
    expect(ca.agentChains.hits).toBeGreaterThanOrEqual(3);
  });

  it('refuses a cached chain once it has expired', async () => {
    const { clock, ca, attest } = await setup();
    const a = await attest('n2');
    await ca.authenticateAgent(await a.proof(), 'GET', PATH);
    expect(ca.agentChains.size).toBe(1);
    clock.now = a.svid.expiresAt + 1000; // the proof itself is fresh: only the chain is stale
    await expect(ca.authenticateAgent(await a.proof(), 'GET', PATH)).rejects.toMatchObject({
      code: 'CA_AGENT_PROOF',
      message: expect.stringContaining('expired'),
    });
    expect(ca.agentChains.hits).toBe(0);
  });

  it('refuses a revoked agent whose chain is cached', async () => {
    const { ca, attest } = await setup();
    const a = await attest('n3');
    await ca.authenticateAgent(await a.proof(), 'GET', PATH);
    await ca.revokeAgent('n3');
    await expect(ca.authenticateAgent(await a.proof(), 'GET', PATH)).rejects.toMatchObject({
      code: 'CA_AGENT_PROOF',
      message: expect.stringContaining('never attested'),
    });
  });

  it('never answers from a cache filled under another trust bundle', async () => {
    const { clock, ca, attest } = await setup();
    const other = await setup();
    const a = await attest('n4');
    const cache = new AgentChainCache();
    const check = async (roots: ReturnType<typeof trustBundleCerts>) =>
      verifyAgentProof(await a.proof(), {
        roots,
        trustDomain: 'example.org',
        method: 'GET',
        path: PATH,
        now: clock.now,
        cache,
      });
    await check(trustBundleCerts(await ca.authority()));
    expect(cache.size).toBe(1);
    // The bundle moved on to a root that did not sign this chain (the old one rotated out).
    await expect(check(trustBundleCerts(await other.ca.authority()))).rejects.toMatchObject({
      code: 'CA_AGENT_PROOF',
      message: expect.stringContaining('does not chain to the trust bundle'),
    });
    expect(cache).toMatchObject({ hits: 0, size: 0 });

    // Through the service: a change of the stored authority (here an intermediate rotation)
    // brings a new roots array, so the next proof re-validates its chain in full.
    await ca.authenticateAgent(await a.proof(), 'GET', PATH);
    await ca.authenticateAgent(await a.proof(), 'GET', PATH);
    expect(ca.agentChains).toMatchObject({ hits: 1, misses: 1 });
    await ca.rotateIntermediate();
    await ca.authenticateAgent(await a.proof(), 'GET', PATH);
    expect(ca.agentChains).toMatchObject({ hits: 1, misses: 2 });
  });

  it('stays within its bound, dropping the least recently used chain', async () => {
    const { ca, attest } = await setup({ agentChainCacheSize: 2 });
    const agents = [await attest('a1'), await attest('a2'), await attest('a3')];
    for (const a of agents) await ca.authenticateAgent(await a.proof(), 'GET', PATH);
    expect(ca.agentChains.size).toBe(2);
    // a1 was evicted: a miss; a3 is held: a hit.
    await ca.authenticateAgent(await agents[2]!.proof(), 'GET', PATH);
    expect(ca.agentChains).toMatchObject({ hits: 1, misses: 3 });
    await ca.authenticateAgent(await agents[0]!.proof(), 'GET', PATH);
    expect(ca.agentChains).toMatchObject({ hits: 1, misses: 4, size: 2 });
  });
});
