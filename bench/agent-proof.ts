/**
 * `agent-proof [count]`: the control plane's check of an agent's proof of possession
 * (`verifyAgentProof`, what every agent connect and request costs the server), cold against
 * cached, in the same run:
 *
 * - cold (the peer, the old path): no chain cache — parse and path-validate the agent's X.509
 *   chain (leaf, intermediate, anchor, X509-SVID leaf rules), then verify the proof's ES256
 *   signature with the leaf key;
 * - cached: `AgentChainCache` holds the chain (keyed by its SHA-256), so only the SHA-256 of the
 *   `x5c`, the expiry check and the proof's signature/claims remain.
 *
 * `count` distinct proofs (default 2,000) over 100 attested agents, every proof its own token
 * (fresh `jti`), verified one at a time, each awaited.
 */
import {
  AgentChainCache,
  type AgentSvidResult,
  CaService,
  createCsr,
  generateKeyPair,
  generateSealKey,
  MemoryCaStore,
  parseSealKey,
  signAgentProof,
  trustBundleCerts,
  verifyAgentProof,
} from '@ward/ca';
import { nowNs, percentile, progress, round } from './_stats.ts';

const PATH = '/v1/agent/watch';

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const count = Number(args[0] ?? 2000);
  const ca = new CaService({
    store: new MemoryCaStore(),
    sealKey: parseSealKey(generateSealKey()),
    trustDomain: 'bench.local',
  });
  const agents: { keys: Awaited<ReturnType<typeof generateKeyPair>>; svid: AgentSvidResult }[] = [];
  for (let i = 0; i < 100; i++) {
    const keys = await generateKeyPair();
    const { token } = await ca.createJoinToken({ node: `n${i}` });
    agents.push({
      keys,
      svid: await ca.attestAgent({ joinToken: token, csr: await createCsr(keys) }),
    });
  }
  const proofs = await Promise.all(
    Array.from({ length: count }, (_, i) => {
      const a = agents[i % agents.length]!;
      return signAgentProof({
        privateKey: a.keys.privateKey,
        chainPem: a.svid.chain,
        spiffeId: a.svid.spiffeId,
        method: 'GET',
        path: PATH,
      });
    }),
  );
  const roots = trustBundleCerts(await ca.authority());
  const measure = async (cache: AgentChainCache | undefined) => {
    const ns = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      const t = nowNs();
      await verifyAgentProof(proofs[i], {
        roots,
        trustDomain: 'bench.local',
        method: 'GET',
        path: PATH,
        ...(cache ? { cache } : {}),
      });
      ns[i] = nowNs() - t;
    }
    return ns;
  };
  await measure(undefined); // warm-up (JIT) for both paths
  const cold = await measure(undefined);
  const cache = new AgentChainCache();
  await measure(cache); // fills the cache (100 chains)
  const cached = await measure(cache);
  const figures = {
    count,
    agents: agents.length,
    cold_p50_us: round(percentile(cold, 50) / 1000, 1),
    cold_p99_us: round(percentile(cold, 99) / 1000, 1),
    cached_p50_us: round(percentile(cached, 50) / 1000, 1),
    cached_p99_us: round(percentile(cached, 99) / 1000, 1),
    speedup_p50: round(percentile(cold, 50) / percentile(cached, 50), 2),
    cache_hits: cache.hits,
  };
  progress(`agent-proof: ${JSON.stringify(figures)}`);
  return { ...figures, peer: 'cold: the same verifyAgentProof without a chain cache' };
}
