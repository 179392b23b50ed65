import { createServer } from 'node:http';
import Fastify from 'fastify';
import { compile } from '@ward/policy';
import { createDecisionLogShipper, wardFastify, Enforcer } from '@ward/sdk';
import { policyDocuments } from './_middleware-fixture.ts';
process.on('SIGTERM', () => process.exit(0));
const [mode, sinkUrl] = process.argv.slice(2);
const app = Fastify({ logger: false });
const ps = compile(policyDocuments() as any);
if (mode === 'hook') { app.decorateRequest('ward', null); app.addHook('onRequest', (req, reply, done) => done()); }
if (mode === 'hook-route') { app.decorateRequest('ward', null); app.addHook('onRequest', (req, reply, done) => { (req as any).ward = req.routeOptions.url; done(); }); }
if (mode === 'decide') { app.decorateRequest('ward', null); const src = Object.freeze({ service: 'frontend' }); app.addHook('onRequest', (req, reply, done) => { (req as any).ward = ps.decide({ destination: 'orders', source: src, request: { method: req.method, path: req.url, headers: req.headers as any }, time: Date.now() }); done(); }); }
if (mode === 'nolog') await app.register(wardFastify, { decider: ps, service: 'orders', devIdentityHeader: 'x-ward-source' });
if (mode === 'ringonly') {
  const { DecisionLogRing } = await import('../packages/sdk/src/decision-log/ring.ts');
  const ring = new DecisionLogRing(10_000, 32);
  setInterval(() => { while (ring.size >= 500) ring.take(500); }, 20).unref();
  await app.register(wardFastify, { decider: ps, service: 'orders', devIdentityHeader: 'x-ward-source', log: { record: (e: any) => ring.push(e) } });
}
if (mode === 'noop') await app.register(wardFastify, { decider: ps, service: 'orders', devIdentityHeader: 'x-ward-source', log: { record: () => {} } });
if (mode === 'ward') await app.register(wardFastify, { decider: ps, service: 'orders', devIdentityHeader: 'x-ward-source', log: createDecisionLogShipper({ controlPlanes: sinkUrl!, flushIntervalMs: 200 }) });
app.get('/orders/:id', async () => 'hello world');
const url = await app.listen({ port: 0, host: '127.0.0.1' });
const stats = createServer((_q, res) => { const { user, system } = process.cpuUsage(); res.end(String(user + system)); });
await new Promise<void>((r) => stats.listen(0, '127.0.0.1', r));
process.stdout.write(JSON.stringify({ url, statsUrl: `http://127.0.0.1:${(stats.address() as any).port}` }) + '\n');
