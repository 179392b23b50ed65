import { spawn, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createServer } from 'node:http';
import autocannon from 'autocannon';
execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
const sink = createServer((req, res) => { req.resume(); req.on('end', () => { res.statusCode = 204; res.end(); }); });
await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
const sinkUrl = `http://127.0.0.1:${(sink.address() as any).port}`;
async function start(mode: string) {
  const child = spawn('taskset', ['-c', '0', process.execPath, '--no-warnings', '/work/main/bench/_tmp_srv.mts', mode, sinkUrl], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((r) => createInterface({ input: child.stdout! }).once('line', r));
  return { child, ...JSON.parse(line) };
}
const cpu = async (s: any) => Number(await (await fetch(s.statsUrl)).text());
const modes = process.argv.slice(2);
const servers = [];
for (const m of modes) servers.push(await start(m));
for (const s of servers) await autocannon({ url: `${s.url}/orders/42`, connections: 32, duration: 2, headers: { 'x-ward-source': 'frontend' } });
const best = new Map<string, number>();
for (let round = 0; round < 4; round++) {
  const out: string[] = [];
  for (const [i, s] of servers.entries()) {
    const c0 = await cpu(s);
    const r = await autocannon({ url: `${s.url}/orders/42`, connections: 32, duration: 2, headers: { 'x-ward-source': 'frontend' } });
    const us = (await cpu(s) - c0) / r.requests.total;
    best.set(modes[i]!, Math.min(best.get(modes[i]!) ?? 1e9, us));
    out.push(`${modes[i]} ${Math.round(r.requests.average)} ${us.toFixed(1)}`);
  }
  console.log(out.join(' | '));
}
console.log('best cpu-us/req', Object.fromEntries([...best].map(([k, v]) => [k, +v.toFixed(1)])));
for (const s of servers) s.child.kill();
sink.close();
