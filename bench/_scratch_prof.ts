import { compile } from '@ward/policy';
const conds = ['source.labels.?tier.orValue("") == "web"', 'request.method == "GET"', 'passport.present && "admin" in passport.attrs.roles', 'time.getHours("UTC") < 20', 'time.getHours() < 20', 'request.path.startsWith("/api") && source.namespace == "ns1"', 'true'];
for (const when of conds) {
  const set = compile([{ apiVersion: 'ward.dev/v1', kind: 'Service', metadata: { name: 'a', labels: { tier: 'web' } }, spec: {} }, { apiVersion: 'ward.dev/v1', kind: 'Intention', metadata: { name: 'i' }, spec: { destination: 'b', rules: [{ sources: ['a'], action: 'allow', when }] } }]);
  const input = { destination: 'b', source: { service: 'a' }, request: { method: 'GET', path: '/api/x' }, time: Date.now(), passport: { sub: 'u1', attrs: { roles: ['admin'] }, iat: 1, exp: 2, iss: 'e', kid: 'k' } };
  for (let i = 0; i < 50000; i++) set.decide(input);
  const t = performance.now();
  for (let i = 0; i < 200000; i++) set.decide(input);
  console.log(when, ((performance.now() - t) * 1e6 / 200000).toFixed(0), 'ns', set.decide(input).effect);
}
